package mvcc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

func TestCompact(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	db, err := mvcc.Open(src, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	big := strings.Repeat("x", 1000)
	for r := range 5 {
		kv := make([]string, 0, 4000)
		for k := range 2000 {
			kv = append(kv, fmt.Sprintf("k%04d", k), fmt.Sprint(r, big))
		}
		vput(t, db, kv...)
	}
	keys := make([]string, 0, 1000)
	for k := 0; k < 2000; k += 2 {
		keys = append(keys, fmt.Sprintf("k%04d", k))
	}
	vdel(t, db, keys...)
	want := vcontents(t, db)
	require.Len(t, want, 1000)
	require.NoError(t, db.Close())

	dst := filepath.Join(dir, "dst.db")
	st, err := mvcc.Compact(dst, src, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	// Old versions never reach the file, and none survives the restart
	// that Compact's open is: nothing to vacuum.
	assert.Zero(t, st.Vacuum.VersionsRemoved)
	assert.Less(t, st.DstSize, st.SrcSize/4, "the copy holds a fifth of the versions: %+v", st)
	t.Logf("compact: %+v", st)

	out, err := mvcc.Open(dst, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	assert.Equal(t, want, vcontents(t, out))
	assert.Equal(t, int64(1000), out.Stats().Versions)
	assert.Zero(t, out.Stats().DeadVersions)
	// Commit timestamps carry on from the source.
	srcTS := st.Vacuum.Horizon
	assert.Equal(t, srcTS, out.Stats().LastCommitTS)
	vput(t, out, "new", "v")
	assert.Equal(t, srcTS+1, out.Stats().LastCommitTS)
	require.NoError(t, out.Close())

	// dst must not exist; src must not be open elsewhere.
	_, err = mvcc.Compact(dst, src, nil)
	assert.Error(t, err)
	held, err := mvcc.Open(src, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer held.Close()
	_, err = mvcc.Compact(filepath.Join(dir, "other.db"), src, &mvcc.Options{LockTimeout: -1})
	assert.ErrorIs(t, err, mvcc.ErrLocked)
}

func ExampleCompact() {
	dir, _ := os.MkdirTemp("", "mvkv-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	db, _ := mvcc.Open(path, &mvcc.Options{NoSync: true})
	for i := range 100 {
		_ = db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
			return tx.Put([]byte("counter"), []byte(fmt.Sprint(i)))
		})
	}
	_ = db.Close()

	// Offline: copy what is live to a new, packed file, then put it in
	// place of the old one.
	st, err := mvcc.Compact(path+".compact", path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = os.Rename(path+".compact", path)
	fmt.Println("not larger:", st.DstSize <= st.SrcSize)
	db, _ = mvcc.Open(path, nil)
	defer db.Close()
	fmt.Println("keys:", db.Stats().Keys)
	// Output:
	// not larger: true
	// keys: 1
}
