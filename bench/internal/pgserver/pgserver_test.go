package pgserver_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/internal/pgserver"
	"github.com/mvkv/mvkv/mvcc"
)

func TestStartQueryStop(t *testing.T) {
	srv, err := pgserver.Start(pgserver.Options{})
	if errors.Is(err, pgserver.ErrUnavailable) {
		t.Skip(err)
	}
	require.NoError(t, err)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN())
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, srv.Stop())
}

func TestMapError(t *testing.T) {
	ww := &pgconnError{"40001", "could not serialize access due to concurrent update", "nodeModifyTable.c"}
	assert.ErrorIs(t, pgserver.MapError(ww.err()), mvcc.ErrConflict)
	assert.Equal(t, "write-write", pgserver.AbortCause(ww.err()))
	ssi := &pgconnError{"40001", "could not serialize access due to read/write dependencies among transactions", "predicate.c"}
	assert.Equal(t, "serialization", pgserver.AbortCause(ssi.err()))
	dl := &pgconnError{"40P01", "deadlock detected", "deadlock.c"}
	assert.ErrorIs(t, pgserver.MapError(dl.err()), mvcc.ErrDeadlock)
	assert.ErrorIs(t, pgserver.MapError(dl.err()), mvcc.ErrConflict)
	assert.Equal(t, "deadlock", pgserver.AbortCause(dl.err()))
	other := errors.New("boom")
	assert.Equal(t, other, pgserver.MapError(other))
	assert.Empty(t, pgserver.AbortCause(other))
}

// AbortCause on the server's own errors: a lost first-updater-wins race
// at repeatable read is "write-write", a write skew SSI refuses at
// serializable "serialization".
func TestAbortCauseOnServerErrors(t *testing.T) {
	srv, err := pgserver.Start(pgserver.Options{})
	if errors.Is(err, pgserver.ErrUnavailable) {
		t.Skip(err)
	}
	require.NoError(t, err)
	defer srv.Stop()
	ctx := context.Background()
	conns := make([]*pgx.Conn, 2)
	for i := range conns {
		conns[i], err = pgx.Connect(ctx, srv.DSN())
		require.NoError(t, err)
		defer conns[i].Close(ctx)
	}
	_, err = conns[0].Exec(ctx, "CREATE TABLE t (k int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 0), (2, 0)")
	require.NoError(t, err)
	begin := func(iso pgx.TxIsoLevel) (pgx.Tx, pgx.Tx) {
		t.Helper()
		var txs [2]pgx.Tx
		for i, c := range conns {
			txs[i], err = c.BeginTx(ctx, pgx.TxOptions{IsoLevel: iso})
			require.NoError(t, err)
			_, err = txs[i].Exec(ctx, "SELECT sum(v) FROM t") // the snapshot, and SSI's read of both rows
			require.NoError(t, err)
		}
		return txs[0], txs[1]
	}

	first, second := begin(pgx.RepeatableRead)
	_, err = first.Exec(ctx, "UPDATE t SET v = 1 WHERE k = 1")
	require.NoError(t, err)
	require.NoError(t, first.Commit(ctx))
	_, err = second.Exec(ctx, "UPDATE t SET v = 2 WHERE k = 1")
	assert.ErrorIs(t, pgserver.MapError(err), mvcc.ErrConflict)
	assert.Equal(t, "write-write", pgserver.AbortCause(err))
	require.NoError(t, second.Rollback(ctx))

	first, second = begin(pgx.Serializable)
	_, err = first.Exec(ctx, "UPDATE t SET v = v + 1 WHERE k = 1")
	require.NoError(t, err)
	_, err = second.Exec(ctx, "UPDATE t SET v = v + 1 WHERE k = 2")
	require.NoError(t, err)
	require.NoError(t, first.Commit(ctx))
	err = second.Commit(ctx)
	assert.ErrorIs(t, pgserver.MapError(err), mvcc.ErrConflict)
	assert.Equal(t, "serialization", pgserver.AbortCause(err))
}
