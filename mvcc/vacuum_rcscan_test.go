package mvcc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// A read-committed scan is one statement: one snapshot, even when the loop
// body runs other statements of the same transaction (which take newer
// snapshots) and vacuum runs in between.
func TestVacuumDuringReadCommittedScan(t *testing.T) {
	db, _ := openVac(t, nil)
	const n = 200 // several of the index's scan chunks
	kv := make([]string, 0, 2*n)
	for i := range n {
		kv = append(kv, fmt.Sprintf("k%03d", i), "v1")
	}
	vput(t, db, kv...)

	tx, err := db.Begin(mvcc.ReadCommitted)
	require.NoError(t, err)
	defer tx.Rollback()
	seen := 0
	for k, v := range tx.Scan(nil, nil) {
		if seen == 0 {
			for i := range kv {
				if i%2 == 1 {
					kv[i] = "v2"
				}
			}
			vput(t, db, kv...)
			_, err := tx.Get([]byte("k000")) // a new statement, a new snapshot
			require.NoError(t, err)
			_, err = db.Vacuum(context.Background())
			require.NoError(t, err)
		}
		assert.Equal(t, "v1", string(v), "key %s", k)
		seen++
	}
	assert.Equal(t, n, seen)
}
