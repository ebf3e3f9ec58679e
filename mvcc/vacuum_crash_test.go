package mvcc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/gc"
	"github.com/mvkv/mvkv/index"
)

var errCrash = errors.New("simulated crash")

// crashAfter lets n batches reach the file, then fails every later one,
// as if the process had died after its n-th vacuum batch.
type crashAfter struct {
	n     *int
	inner gc.Store
}

func (c crashAfter) Delete(rm []index.Removed) error {
	if *c.n == 0 {
		return errCrash
	}
	*c.n--
	return c.inner.Delete(rm)
}

// TestVacuumCrashBetweenBatches: whatever batch a vacuum dies after, the
// file reopens to exactly the committed data. In particular a deleted key
// never comes back, even the one whose versions span several batches.
func TestVacuumCrashBetweenBatches(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T) (*DB, string) {
		path := filepath.Join(t.TempDir(), "crash.db")
		db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
		require.NoError(t, err)
		up := func(f func(tx *Txn) error) { require.NoError(t, db.Update(ctx, Snapshot, f)) }
		for i := range 2500 { // one key with more dead versions than a batch
			up(func(tx *Txn) error { return tx.Put([]byte("hot"), []byte(fmt.Sprint(i))) })
		}
		for r := range 2 {
			up(func(tx *Txn) error {
				for k := range 300 {
					_ = tx.Put([]byte(fmt.Sprintf("d%03d", k)), []byte(fmt.Sprint(r)))
					_ = tx.Put([]byte(fmt.Sprintf("l%03d", k)), []byte(fmt.Sprint(r)))
				}
				return nil
			})
		}
		up(func(tx *Txn) error {
			_ = tx.Delete([]byte("hot"))
			for k := range 300 {
				_ = tx.Delete([]byte(fmt.Sprintf("d%03d", k)))
			}
			return nil
		})
		return db, path
	}
	want := map[string]string{}
	for k := range 300 {
		want[fmt.Sprintf("l%03d", k)] = "1"
	}
	read := func(db *DB) map[string]string {
		got := map[string]string{}
		require.NoError(t, db.View(ctx, func(tx *Txn) error {
			for k, v := range tx.Scan(nil, nil) {
				got[string(k)] = string(v)
			}
			return nil
		}))
		return got
	}

	// 2500 hot + 900 d + 300 l = 3700 removable: 4 batches of 1000 or less.
	for n := 0; n <= 4; n++ {
		t.Run(fmt.Sprintf("after %d batches", n), func(t *testing.T) {
			db, path := build(t)
			left := n
			db.vac.gc = gc.New(db.index, db.oracle, crashAfter{&left, gcStore{db}}, gc.Config{BatchSize: 1000, Pause: -1})
			st, err := db.Vacuum(ctx)
			if n < 4 {
				require.ErrorIs(t, err, errCrash)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, int64(min(n, 4)), st.Batches)
			require.NoError(t, db.Close())

			db, err = Open(path, &Options{NoSync: true, NoAutovacuum: true})
			require.NoError(t, err)
			defer db.Close()
			assert.Equal(t, want, read(db))
			// What the crash left behind is ordinary garbage: a pass removes it.
			_, err = db.Vacuum(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(300), db.Stats().Versions)
			assert.Equal(t, want, read(db))
		})
	}
}
