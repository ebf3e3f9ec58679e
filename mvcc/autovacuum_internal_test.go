package mvcc

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloseStopsAutovacuum(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "auto.db"), &Options{NoSync: true, AutovacuumInterval: time.Millisecond})
	require.NoError(t, err)
	require.NotNil(t, db.vac.autoDone, "autovacuum runs by default")
	require.NoError(t, db.Close())
	select {
	case <-db.vac.autoDone:
	default:
		t.Fatal("Close returned while autovacuum was still running")
	}

	db, err = Open(filepath.Join(t.TempDir(), "off.db"), &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	assert.Nil(t, db.vac.autoDone, "NoAutovacuum starts no goroutine")
	require.NoError(t, db.Close())
}
