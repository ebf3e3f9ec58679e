package crossengine

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// PostgresLevels are PostgreSQL's isolation levels, weakest first, with
// the mvkv level each is compared with. READ UNCOMMITTED is left out:
// PostgreSQL runs it as READ COMMITTED.
var PostgresLevels = []struct {
	Name string
	Iso  pgx.TxIsoLevel
	Like mvcc.Level
}{
	{"read committed", pgx.ReadCommitted, mvcc.ReadCommitted},
	{"repeatable read", pgx.RepeatableRead, mvcc.Snapshot},
	{"serializable", pgx.Serializable, mvcc.Serializable},
}

// Postgres is a PostgreSQL server the anomalies and the checkers run on:
// every store is a table of its own (engine.PGTable, the benchmark's
// adapter), and every transaction holds a connection of its own.
type Postgres struct {
	pool *pgxpool.Pool
	next atomic.Int64
}

// NewPostgres connects to the server at dsn. Its pool holds up to
// maxConns connections, one per open transaction: a scenario or checker
// with more transactions open at once waits for one to end.
func NewPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	pool, err := pgxpool.New(ctx, dsn+fmt.Sprintf(" pool_max_conns=%d", maxConns))
	if err != nil {
		return nil, err
	}
	return &Postgres{pool: pool}, nil
}

// maxConns stays under pgserver's default max_connections (100).
const maxConns = 64

// Close closes the connections.
func (p *Postgres) Close() { p.pool.Close() }

// Targets are the server's levels, weakest first.
func (p *Postgres) Targets() []anomalies.Target {
	var ts []anomalies.Target
	for _, l := range PostgresLevels {
		ts = append(ts, anomalies.Target{
			Engine: "postgres", Level: l.Name, Like: l.Like,
			// Row locks: an UPDATE or INSERT waits for another
			// transaction's uncommitted write of the row.
			WritesWait: true,
			Open:       func() (anomalies.Store, error) { return p.open(l.Iso) },
		})
	}
	return ts
}

func (p *Postgres) open(iso pgx.TxIsoLevel) (*pgStore, error) {
	t, err := engine.NewPGTable(context.Background(), p.pool, fmt.Sprintf("kv_%d", p.next.Add(1)))
	if err != nil {
		return nil, err
	}
	return &pgStore{t: t, pool: p.pool, iso: iso}, nil
}

// pgStore is one table at one isolation level.
type pgStore struct {
	t    *engine.PGTable
	pool *pgxpool.Pool
	iso  pgx.TxIsoLevel
}

func (s *pgStore) Load(kvs []anomalies.KV) error { return s.t.Load(context.Background(), toPairs(kvs)) }

func (s *pgStore) Dump() ([]anomalies.KV, error) {
	pairs, err := s.t.Dump(context.Background())
	return fromPairs(pairs), err
}

func (s *pgStore) Close() error { return s.t.Drop(context.Background()) }

func (s *pgStore) Begin(ctx context.Context, readOnly bool) (anomalies.Tx, error) {
	tx, err := s.t.Begin(ctx, s.iso, readOnly)
	if err != nil {
		return nil, err
	}
	return &pgTx{PGTx: tx, pool: s.pool, pid: tx.BackendPID()}, nil
}

// pgTx is a transaction that can tell the anomaly runner whether it waits
// for a lock (anomalies.LockWaiter), so that a statement slow on a loaded
// machine is not taken for a blocked one.
type pgTx struct {
	*engine.PGTx
	pool *pgxpool.Pool
	pid  uint32 // the transaction's backend, fixed while it holds its connection
}

// WaitsForLock asks the server, over another connection, whether the
// transaction's backend waits for a heavyweight lock (a row's, which is
// its writer's transaction id lock, a tuple's, a table's) held or
// awaited ahead of it by another backend. pg_blocking_pids reads the wait
// from the lock manager's shared state, which the holder's commit or
// rollback updates, granting the lock, before it returns: once the
// holder has ended, a waiter whose lock is granted does not count as
// waiting even if its backend has not run yet. (pg_stat_activity's
// wait_event, which the waiting backend itself clears when it wakes up,
// would still say Lock then.)
func (t *pgTx) WaitsForLock(ctx context.Context) (bool, error) {
	var waits bool
	err := t.pool.QueryRow(ctx, "SELECT cardinality(pg_blocking_pids($1)) > 0", int32(t.pid)).Scan(&waits)
	return waits, err
}

func toPairs(kvs []anomalies.KV) [][2][]byte {
	pairs := make([][2][]byte, len(kvs))
	for i, kv := range kvs {
		pairs[i] = [2][]byte{[]byte(kv.Key), []byte(kv.Value)}
	}
	return pairs
}

func fromPairs(pairs [][2][]byte) []anomalies.KV {
	var kvs []anomalies.KV
	for _, p := range pairs {
		kvs = append(kvs, anomalies.KV{Key: string(p[0]), Value: string(p[1])})
	}
	return kvs
}
