package mvcc

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guard turns only damage into ErrCorrupt: a panic of mvkv's own code,
// a nil pointer and a runtime error outside bbolt go on as panics.
func TestGuardRepanicsBugs(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "db"), &Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	assert.PanicsWithValue(t, "a bug", func() {
		_ = db.guard(func() error { panic("a bug") })
	})
	// bbolt's message, raised by mvkv's code: not bbolt's page check.
	assert.Panics(t, func() {
		_ = db.guard(func() error { panic("assertion failed: Page expected to be: 3, but self identifies as 4") })
	})
	assert.Panics(t, func() {
		_ = db.guard(func() error {
			var p *[8]byte
			p[0]++
			return nil
		})
	})
	assert.Panics(t, func() {
		_ = db.guard(func() error {
			var s []int
			i := 3
			s[i]++
			return nil
		})
	})
	require.NoError(t, db.guard(func() error { return nil }))
}

// A fault in bbolt's mapping is damage: a file cut short under an open
// DB makes reads of its lost pages fault, and they fail with ErrCorrupt.
func TestGuardMappingFaultIsCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	big := make([]byte, 2000)
	for i := range 200 {
		require.NoError(t, db.Update(context.Background(), Snapshot, func(tx *Txn) error {
			return tx.Put([]byte{byte(i), 'k'}, big)
		}))
	}
	_, err = db.Vacuum(context.Background()) // into the data bucket
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, 4*4096))
	err = db.View(context.Background(), func(tx *Txn) error {
		for range tx.Scan(nil, nil) {
		}
		return tx.Err()
	})
	require.ErrorIs(t, err, ErrCorrupt)
}
