package crossengine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/bench/internal/pgserver"
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
// every store is a table of its own, kv_N (k text COLLATE "C" PRIMARY
// KEY, v text), and every transaction a connection of its own.
type Postgres struct {
	dsn   string
	admin *pgxpool.Pool // creates, loads, dumps and drops the tables
	next  atomic.Int64
}

// NewPostgres connects to the server at dsn.
func NewPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &Postgres{dsn: dsn, admin: pool}, nil
}

// Close closes the administrative connections.
func (p *Postgres) Close() { p.admin.Close() }

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
	s := &pgStore{p: p, iso: iso, table: fmt.Sprintf("kv_%d", p.next.Add(1))}
	_, err := p.admin.Exec(context.Background(),
		"DROP TABLE IF EXISTS "+s.table+"; CREATE TABLE "+s.table+` (k text COLLATE "C" PRIMARY KEY, v text NOT NULL)`)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// pgStore is one table at one isolation level.
type pgStore struct {
	p     *Postgres
	iso   pgx.TxIsoLevel
	table string
}

func (s *pgStore) Load(kvs []anomalies.KV) error {
	return pgx.BeginFunc(context.Background(), s.p.admin, func(tx pgx.Tx) error {
		for _, kv := range kvs {
			if _, err := tx.Exec(context.Background(), s.upsert(), kv.Key, kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *pgStore) upsert() string {
	return "INSERT INTO " + s.table + " (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
}

func (s *pgStore) Dump() ([]anomalies.KV, error) {
	rows, err := s.p.admin.Query(context.Background(), "SELECT k, v FROM "+s.table+" ORDER BY k")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (anomalies.KV, error) {
		var kv anomalies.KV
		err := r.Scan(&kv.Key, &kv.Value)
		return kv, err
	})
}

func (s *pgStore) Close() error {
	_, err := s.p.admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+s.table)
	return err
}

func (s *pgStore) Begin(ctx context.Context, readOnly bool) (anomalies.Tx, error) {
	conn, err := pgx.Connect(ctx, s.p.dsn)
	if err != nil {
		return nil, err
	}
	mode := pgx.ReadWrite
	if readOnly {
		mode = pgx.ReadOnly
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: s.iso, AccessMode: mode})
	if err != nil {
		conn.Close(context.Background()) //nolint:errcheck // giving up on a failed connection
		return nil, err
	}
	return &pgTx{ctx: ctx, conn: conn, tx: tx, s: s}, nil
}

// pgTx is a transaction on its own connection. The first error ends it:
// PostgreSQL refuses every later statement of a failed transaction, so
// it is rolled back and the connection closed at once.
type pgTx struct {
	ctx  context.Context
	conn *pgx.Conn
	tx   pgx.Tx
	s    *pgStore
	err  error // what ended the transaction, nil if it is open or ended normally
	done bool
}

func (t *pgTx) end(err error) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	t.done = true
	bg := context.Background()
	_ = t.tx.Rollback(bg) // no-op after a commit
	_ = t.conn.Close(bg)
	if err != nil {
		t.err = pgserver.MapError(err)
	}
	return t.err
}

func (t *pgTx) get(query string, key []byte) ([]byte, error) {
	if t.done {
		return nil, mvcc.ErrTxnDone
	}
	var v string
	err := t.tx.QueryRow(t.ctx, query, string(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, mvcc.ErrNotFound
	}
	if err != nil {
		return nil, t.end(err)
	}
	return []byte(v), nil
}

func (t *pgTx) Get(key []byte) ([]byte, error) {
	return t.get("SELECT v FROM "+t.s.table+" WHERE k = $1", key)
}

// GetForUpdate is SELECT ... FOR UPDATE: it locks the row, if there is
// one (an absent key locks nothing).
func (t *pgTx) GetForUpdate(key []byte) ([]byte, error) {
	return t.get("SELECT v FROM "+t.s.table+" WHERE k = $1 FOR UPDATE", key)
}

func (t *pgTx) exec(query string, args ...any) error {
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
// silently undo the delete.
func (t *pgTx) Put(key, value []byte) error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	tag, err := t.tx.Exec(t.ctx, "UPDATE "+t.s.table+" SET v = $2 WHERE k = $1", string(key), string(value))
	if err != nil {
		return t.end(err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	return t.exec(t.s.upsert(), string(key), string(value))
}

func (t *pgTx) Delete(key []byte) error {
	return t.exec("DELETE FROM "+t.s.table+" WHERE k = $1", string(key))
}

// Scan is one SELECT over the key range, read in full before yielding.
func (t *pgTx) Scan(start, end []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		if t.done {
			return
		}
		q, args := "SELECT k, v FROM "+t.s.table+" WHERE k >= $1", []any{string(start)}
		if end != nil {
			q, args = q+" AND k < $2", append(args, string(end))
		}
		rows, err := t.tx.Query(t.ctx, q+" ORDER BY k", args...)
		var kvs [][2]string
		if err == nil {
			kvs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
				var kv [2]string
				err := r.Scan(&kv[0], &kv[1])
				return kv, err
			})
		}
		if err != nil {
			t.end(err) //nolint:errcheck // err is what the caller learns; end records it
			return
		}
		for _, kv := range kvs {
			if !yield([]byte(kv[0]), []byte(kv[1])) {
				return
			}
		}
	}
}

func (t *pgTx) Err() error { return t.err }

func (t *pgTx) Commit() error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	return t.end(t.tx.Commit(t.ctx))
}

func (t *pgTx) Rollback() error {
	if t.done {
		return mvcc.ErrTxnDone
	}
	return t.end(nil)
}
