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
	ww := &pgconnError{"40001", "could not serialize access due to concurrent update"}
	assert.ErrorIs(t, pgserver.MapError(ww.err()), mvcc.ErrConflict)
	assert.Equal(t, "write-write", pgserver.AbortCause(ww.err()))
	ssi := &pgconnError{"40001", "could not serialize access due to read/write dependencies among transactions"}
	assert.Equal(t, "serialization", pgserver.AbortCause(ssi.err()))
	dl := &pgconnError{"40P01", "deadlock detected"}
	assert.ErrorIs(t, pgserver.MapError(dl.err()), mvcc.ErrDeadlock)
	assert.ErrorIs(t, pgserver.MapError(dl.err()), mvcc.ErrConflict)
	assert.Equal(t, "deadlock", pgserver.AbortCause(dl.err()))
	other := errors.New("boom")
	assert.Equal(t, other, pgserver.MapError(other))
	assert.Empty(t, pgserver.AbortCause(other))
}
