package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mvkv/mvkv/bench/internal/pgserver"
	"github.com/mvkv/mvkv/mvcc"
)

// pgEngine runs transactions on a throwaway PostgreSQL server started for
// the run (package pgserver): one table kv (k bytea PRIMARY KEY, v bytea),
// a pool of connections over a Unix socket, each transaction at the
// PostgreSQL level named like the mvkv one.
type pgEngine struct {
	srv  *pgserver.Server
	pool *pgxpool.Pool
}

var pgIso = map[mvcc.Level]pgx.TxIsoLevel{
	mvcc.ReadCommitted: pgx.ReadCommitted,
	mvcc.Snapshot:      pgx.RepeatableRead,
	mvcc.Serializable:  pgx.Serializable,
}

func openPostgres(opts Options) (*pgEngine, error) {
	srv, err := pgserver.Start(pgserver.Options{Durable: opts.Durable, MaxConnections: 150})
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.DSN()+" pool_max_conns=128")
	if err == nil {
		_, err = pool.Exec(ctx, "CREATE TABLE kv (k bytea PRIMARY KEY, v bytea NOT NULL)")
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, errors.Join(err, srv.Stop())
	}
	return &pgEngine{srv: srv, pool: pool}, nil
}

func (e *pgEngine) Name() string         { return "postgres" }
func (e *pgEngine) Levels() []mvcc.Level { return engineInfo["postgres"].levels }
func (e *pgEngine) Note() string         { return engineInfo["postgres"].note }

func (e *pgEngine) Txn(level mvcc.Level, readOnly bool, fn func(Tx) error) error {
	ctx := context.Background()
	mode := pgx.ReadWrite
	if readOnly {
		mode = pgx.ReadOnly
	}
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgIso[level], AccessMode: mode})
	if err != nil {
		return err
	}
	if err := fn(pgBenchTx{ctx, tx}); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

func (e *pgEngine) Abort(err error) string { return pgserver.AbortCause(err) }

func (e *pgEngine) Close() error {
	e.pool.Close()
	return e.srv.Stop()
}

type pgBenchTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t pgBenchTx) Get(key []byte) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRow(t.ctx, "SELECT v FROM kv WHERE k = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return v, err
}

func (t pgBenchTx) Put(key, value []byte) error {
	_, err := t.tx.Exec(t.ctx, "INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v", key, value)
	return err
}

func (t pgBenchTx) Delete(key []byte) error {
	_, err := t.tx.Exec(t.ctx, "DELETE FROM kv WHERE k = $1", key)
	return err
}

func (t pgBenchTx) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	q, args := "SELECT k, v FROM kv WHERE k >= $1", []any{start}
	if start == nil {
		args[0] = []byte{}
	}
	if end != nil {
		q, args = q+" AND k < $2", append(args, end)
	}
	q += " ORDER BY k"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := t.tx.Query(t.ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if !fn(k, v) {
			break
		}
	}
	return rows.Err()
}
