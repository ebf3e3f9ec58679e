package mvcc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// boltHighWater is the size of the used part of the file: bbolt's high
// water mark page times the page size. The file itself grows in steps
// (16 MiB once past the initial mapping) and is never truncated, so the
// high water mark is what shows reuse page by page.
func boltHighWater(t testing.TB, db *DB) int64 {
	var n int64
	require.NoError(t, db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	}))
	return n
}

// overwriteAll writes every key once more, in transactions of 200 keys.
func overwriteAll(t testing.TB, db *DB, keys, valueSize, round int) {
	t.Helper()
	value := make([]byte, valueSize)
	for k := 0; k < keys; k += 200 {
		require.NoError(t, db.Update(context.Background(), Snapshot, func(tx *Txn) error {
			for i := k; i < min(k+200, keys); i++ {
				copy(value, fmt.Sprintf("round %d key %d", round, i))
				if err := tx.Put([]byte(fmt.Sprintf("key%06d", i)), value); err != nil {
					return err
				}
			}
			return nil
		}))
	}
}

// TestOverwritesReusePages: rounds of overwriting every key keep the
// file's used size flat, with or without vacuum: the file holds each
// key's newest version only, a commit replaces it in place, and bbolt
// reuses the pages that frees. Vacuum gives back memory (the before-images
// of the overwritten versions), never file pages. MVKV_DISK_ROUNDS and
// MVKV_DISK_KEYS make it bigger (the figures are logged).
func TestOverwritesReusePages(t *testing.T) {
	rounds, keys := 8, 2000
	if s := os.Getenv("MVKV_DISK_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("MVKV_DISK_KEYS"); s != "" {
		keys, _ = strconv.Atoi(s)
	}
	const valueSize = 512
	for _, vacuum := range []bool{true, false} {
		t.Run(fmt.Sprintf("vacuum=%v", vacuum), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk.db")
			db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
			require.NoError(t, err)
			defer db.Close()
			var used []int64
			for r := range rounds {
				overwriteAll(t, db, keys, valueSize, r)
				// The commits are in the log until a checkpoint applies
				// them (vacuum has one done first).
				require.NoError(t, db.requestCheckpoint())
				if vacuum {
					_, err := db.Vacuum(context.Background())
					require.NoError(t, err)
				}
				used = append(used, boltHighWater(t, db))
				t.Logf("round %d: used %d KiB, file %d KiB, versions %d", r, used[r]>>10, fileSize(path)>>10, db.Stats().Versions)
			}
			first := used[1]
			last := used[rounds-1]
			assert.LessOrEqual(t, last, first+first/5, "overwrites must reuse freed pages: %v", used)
			if vacuum {
				assert.Equal(t, int64(keys), db.Stats().Versions)
				assert.Zero(t, db.Stats().MemVersions, "vacuum with no snapshot open leaves nothing in memory")
			} else {
				assert.Equal(t, int64(keys)*int64(rounds), db.Stats().Versions, "every overwritten version is held for snapshots until a vacuum")
			}
		})
	}
}
