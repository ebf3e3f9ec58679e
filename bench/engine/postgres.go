package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mvkv/mvkv/bench/internal/pgserver"
	"github.com/mvkv/mvkv/mvcc"
)

// PostgreSQL is adapted once, here: the benchmark's engine "postgres" and
// the cross-engine suites (bench/crossengine) run the same statements on
// the same table shape through PGTable and PGTx.

// PGLevel is the PostgreSQL level named like each mvkv level: read
// committed, repeatable read (PostgreSQL's snapshot isolation) and
// serializable (its SSI).
func PGLevel(level mvcc.Level) pgx.TxIsoLevel {
	switch level {
	case mvcc.ReadCommitted:
		return pgx.ReadCommitted
	case mvcc.Snapshot:
		return pgx.RepeatableRead
	}
	return pgx.Serializable
}

// PGTable is one key-value table on a PostgreSQL server, (k bytea PRIMARY
// KEY, v bytea NOT NULL): keys and values are byte strings ordered as
// mvkv orders them (bytea compares bytewise), whatever their encoding.
type PGTable struct {
	pool *pgxpool.Pool
	name string
}

// NewPGTable creates table name (replacing any table of that name) on the
// server pool connects to; its transactions use pool's connections.
func NewPGTable(ctx context.Context, pool *pgxpool.Pool, name string) (*PGTable, error) {
	_, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+name+"; CREATE TABLE "+name+" (k bytea PRIMARY KEY, v bytea NOT NULL)")
	if err != nil {
		return nil, err
	}
	return &PGTable{pool: pool, name: name}, nil
}

// Drop removes the table.
func (t *PGTable) Drop(ctx context.Context) error {
	_, err := t.pool.Exec(ctx, "DROP TABLE IF EXISTS "+t.name)
	return err
}

// Load writes the pairs in one transaction.
func (t *PGTable) Load(ctx context.Context, kvs [][2][]byte) error {
	return pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		for _, kv := range kvs {
			if _, err := tx.Exec(ctx, t.upsert(), kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Dump returns the committed pairs in key order.
func (t *PGTable) Dump(ctx context.Context) ([][2][]byte, error) {
	rows, err := t.pool.Query(ctx, "SELECT k, v FROM "+t.name+" ORDER BY k")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanKV)
}

func scanKV(r pgx.CollectableRow) ([2][]byte, error) {
	var kv [2][]byte
	err := r.Scan(&kv[0], &kv[1])
	return kv, err
}

func (t *PGTable) upsert() string {
	return "INSERT INTO " + t.name + " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
}

// Begin starts a transaction at iso on a connection of the pool, which
// it holds until it ends. ctx bounds every statement of it.
func (t *PGTable) Begin(ctx context.Context, iso pgx.TxIsoLevel, readOnly bool) (*PGTx, error) {
	mode := pgx.ReadWrite
	if readOnly {
		mode = pgx.ReadOnly
	}
	tx, err := t.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: iso, AccessMode: mode})
	if err != nil {
		return nil, pgserver.MapError(err)
	}
	return &PGTx{ctx: ctx, tx: tx, t: t}, nil
}

// PGTx is a transaction on a PGTable, with mvcc's error conventions:
// ErrNotFound for an absent key, ErrConflict for a serialization failure
// and ErrDeadlock (also ErrConflict) for a deadlock (pgserver.MapError;
// the server's error stays in the chain), ErrTxnDone after the end. The
// first error ends it: PostgreSQL refuses every later statement of a
// failed transaction, so it is rolled back at once. It is used by one
// goroutine at a time.
type PGTx struct {
	ctx  context.Context
	tx   pgx.Tx
	t    *PGTable
	err  error // what ended the transaction, nil if it is open or ended normally
	done bool
}

func (t *PGTx) end(err error) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	t.done = true
	_ = t.tx.Rollback(context.Background()) // no-op after a commit; returns the connection
	if err != nil {
		t.err = pgserver.MapError(err)
	}
	return t.err
}

func (t *PGTx) get(query string, key []byte) ([]byte, error) {
	if t.done {
		return nil, mvcc.ErrTxnDone
	}
	var v []byte
	err := t.tx.QueryRow(t.ctx, query, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mvcc.ErrNotFound
	}
	if err != nil {
		return nil, t.end(err)
	}
	return v, nil
}

// Get is SELECT v FROM table WHERE k = $1.
func (t *PGTx) Get(key []byte) ([]byte, error) {
	return t.get("SELECT v FROM "+t.t.name+" WHERE k = $1", key)
}

// GetForUpdate is SELECT ... FOR UPDATE: it locks the row, if there is
// one (an absent key locks nothing).
func (t *PGTx) GetForUpdate(key []byte) ([]byte, error) {
	return t.get("SELECT v FROM "+t.t.name+" WHERE k = $1 FOR UPDATE", key)
}

func (t *PGTx) exec(query string, args ...any) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	if _, err := t.tx.Exec(t.ctx, query, args...); err != nil {
		return t.end(err)
	}
	return nil
}

// Put updates the row, or inserts it when the transaction sees none. The
// UPDATE comes first because only it conflicts with a concurrent DELETE
// at repeatable read and serializable: an INSERT over a row that a
// concurrent transaction deleted succeeds, and a read-modify-write would
// silently undo the delete. The INSERT is an upsert so that a row
// inserted by a transaction committed in between (read committed) is
// overwritten, not a unique-key error.
func (t *PGTx) Put(key, value []byte) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	tag, err := t.tx.Exec(t.ctx, "UPDATE "+t.t.name+" SET v = $2 WHERE k = $1", key, value)
	if err != nil {
		return t.end(err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	return t.exec(t.t.upsert(), key, value)
}

// Delete is DELETE FROM table WHERE k = $1.
func (t *PGTx) Delete(key []byte) error {
	return t.exec("DELETE FROM "+t.t.name+" WHERE k = $1", key)
}

// Scan yields the keys of [start, end) in order (nil: unbounded).
func (t *PGTx) Scan(start, end []byte) iter.Seq2[[]byte, []byte] { return t.ScanN(start, end, 0) }

// ScanN is Scan of at most limit keys (limit <= 0: no limit): one SELECT
// over the range, read in full before yielding, so that the loop's body
// may run statements of its own. A failure ends the transaction; Err
// reports it.
func (t *PGTx) ScanN(start, end []byte, limit int) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		if t.done {
			return
		}
		if start == nil {
			start = []byte{} // nil is NULL, which compares with nothing
		}
		q, args := "SELECT k, v FROM "+t.t.name+" WHERE k >= $1", []any{start}
		if end != nil {
			q, args = q+" AND k < $2", append(args, end)
		}
		q += " ORDER BY k"
		if limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", limit)
		}
		rows, err := t.tx.Query(t.ctx, q, args...)
		var kvs [][2][]byte
		if err == nil {
			kvs, err = pgx.CollectRows(rows, scanKV)
		}
		if err != nil {
			t.end(err) //nolint:errcheck // err is what the caller learns, from Err
			return
		}
		for _, kv := range kvs {
			if !yield(kv[0], kv[1]) {
				return
			}
		}
	}
}

// BackendPID is the process id of the server backend that runs the
// transaction: the connection's, which the transaction holds until it
// ends. Other connections find it under that id in the server's views
// (pg_stat_activity, pg_locks).
func (t *PGTx) BackendPID() uint32 { return t.tx.Conn().PgConn().PID() }

// Err is what ended the transaction during a Scan, if anything.
func (t *PGTx) Err() error { return t.err }

// Commit commits; a serialization failure at commit is ErrConflict.
func (t *PGTx) Commit() error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	return t.end(t.tx.Commit(t.ctx))
}

// Rollback ends the transaction without effect.
func (t *PGTx) Rollback() error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	return t.end(nil)
}

// pgEngine is the engine "postgres": a throwaway server started for the
// run (package pgserver), one PGTable, a pool of connections over a Unix
// socket, each transaction at the PostgreSQL level named like the mvkv one.
type pgEngine struct {
	srv   *pgserver.Server
	pool  *pgxpool.Pool
	table *PGTable
}

func openPostgres(opts Options) (*pgEngine, error) {
	srv, err := pgserver.Start(pgserver.Options{Durable: opts.Durable, MaxConnections: 150})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.DSN()+" pool_max_conns=128")
	var table *PGTable
	if err == nil {
		table, err = NewPGTable(ctx, pool, "kv")
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, errors.Join(err, srv.Stop())
	}
	return &pgEngine{srv: srv, pool: pool, table: table}, nil
}

func (e *pgEngine) Name() string         { return "postgres" }
func (e *pgEngine) Levels() []mvcc.Level { return engineInfo["postgres"].levels }
func (e *pgEngine) Note() string         { return engineInfo["postgres"].note }

func (e *pgEngine) Txn(level mvcc.Level, readOnly bool, fn func(Tx) error) error {
	tx, err := e.table.Begin(context.Background(), PGLevel(level), readOnly)
	if err != nil {
		return err
	}
	return runTxn(tx, fn)
}

func (e *pgEngine) Abort(err error) string { return pgserver.AbortCause(err) }

func (e *pgEngine) Close() error {
	e.pool.Close()
	return e.srv.Stop()
}
