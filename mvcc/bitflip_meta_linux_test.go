//go:build linux

package mvcc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/boltfile"
	"github.com/mvkv/mvkv/mvcc"
)

// The bit-flip campaign, meta values: every bit of every value mvkv keeps
// outside records (the meta bucket's format, last commit timestamp,
// applied mark and key count) flipped in a closed database, one at a
// time. Each trial opens the damaged copy, and when Open accepts it,
// commits read-modify-write increments, vacuums, closes, reopens and
// reads everything back: each trial must be refused with ErrCorrupt or
// end with exactly the data written. A flipped applied mark that Open
// accepted would let vacuum drop versions only the log holds: stale
// reads and lost increments. Two files: one closed cleanly (empty log)
// and a backup taken with commits still in the log.

var metaNames = []string{"format", "ts", "applied", "keys"}

// metaImage writes a database of counters ctr/00..ctr/19, each counted
// up to its index, and returns its bytes and contents.
func metaImage(t *testing.T) ([]byte, map[string]string) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	want := map[string]string{}
	for round := range 20 {
		kv := []string{}
		for i := round; i < 20; i++ {
			k := fmt.Sprintf("ctr/%02d", i)
			want[k] = strconv.Itoa(round + 1)
			kv = append(kv, k, want[k])
		}
		ctPut(t, db, kv...)
		if round == 10 {
			_, err := db.Vacuum(context.Background()) // applies the log
			require.NoError(t, err)
		}
	}
	ctPut(t, db, "gone", "x")
	ctDelete(t, db, "gone")
	require.NoError(t, db.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b[:usedSize(t, b)], want // bbolt grows files ahead of use
}

// metaOffsets returns where each meta value lies in the file: in the
// root bucket's page (a leaf holding the three buckets, the meta bucket
// inline), right after its name.
func metaOffsets(t *testing.T, b []byte) map[string][2]int {
	m, ok := boltfile.ReadMeta(bytes.NewReader(b))
	require.True(t, ok)
	ps := int(m.PageSize)
	page := b[int(m.Root)*ps : int(m.Root+1)*ps]
	require.Equal(t, uint16(boltfile.LeafFlag), binary.NativeEndian.Uint16(page[8:]), "the root bucket is one leaf page")
	path := filepath.Join(t.TempDir(), "probe")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	offs := map[string][2]int{}
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("mvkv"))
		for _, n := range metaNames {
			v := meta.Get([]byte(n))
			require.NotNil(t, v, n)
			kv := append([]byte(n), v...)
			at := bytes.Index(page, kv)
			require.GreaterOrEqual(t, at, 0, n)
			require.Equal(t, -1, bytes.Index(page[at+1:], kv), "one copy of %s", n)
			offs[n] = [2]int{int(m.Root)*ps + at + len(n), len(v)}
		}
		return nil
	}))
	return offs
}

// metaTrial runs one trial on the damaged file at path, whose data is
// want; it returns "refused", "correct", or what went wrong.
func metaTrial(path string, want map[string]string) string {
	opts := &mvcc.Options{NoSync: true, NoAutovacuum: true, InitialMmapSize: 1 << 20}
	db, err := mvcc.Open(path, opts)
	if errors.Is(err, mvcc.ErrCorrupt) {
		return "refused"
	}
	if err != nil {
		return "open: " + err.Error()
	}
	want = maps.Clone(want)
	ctx := context.Background()
	// Read-modify-write increments of every counter, one commit each,
	// and a vacuum in the middle and at the end.
	for i, k := range slices.Sorted(maps.Keys(want)) {
		err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			v, err := tx.Get([]byte(k))
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("counter %s holds %q", k, v)
			}
			return tx.Put([]byte(k), []byte(strconv.Itoa(n+1)))
		})
		if err != nil {
			_ = db.Close()
			return "update: " + err.Error()
		}
		n, _ := strconv.Atoi(want[k])
		want[k] = strconv.Itoa(n + 1)
		if i == 10 {
			if _, err := db.Vacuum(ctx); err != nil {
				_ = db.Close()
				return "vacuum: " + err.Error()
			}
		}
	}
	if _, err := db.Vacuum(ctx); err != nil {
		_ = db.Close()
		return "vacuum: " + err.Error()
	}
	if err := db.Close(); err != nil {
		return "close: " + err.Error()
	}
	db, err = mvcc.Open(path, opts)
	if err != nil {
		return "reopen: " + err.Error()
	}
	defer db.Close()
	got := map[string]string{}
	err = db.View(ctx, func(tx *mvcc.Txn) error {
		for k, v := range tx.Scan(nil, nil) {
			got[string(k)] = string(v)
		}
		for k := range want {
			if _, err := tx.Get([]byte(k)); err != nil {
				return fmt.Errorf("get %s: %w", k, err)
			}
		}
		return tx.Err()
	})
	switch {
	case err != nil:
		return "read: " + err.Error()
	case !maps.Equal(got, want):
		return fmt.Sprintf("WRONG data: %v, want %v", got, want)
	}
	if err := db.Check(ctx); err != nil {
		return "check: " + err.Error()
	}
	if err := mvcc.Check(db); err != nil {
		return "memory check: " + err.Error()
	}
	return "correct"
}

func TestBitFlipMetaValues(t *testing.T) {
	b, want := metaImage(t)
	dir := t.TempDir()
	// The undamaged file passes the same trial.
	path := filepath.Join(dir, "control")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	require.Equal(t, "correct", metaTrial(path, want))

	counts := map[string]int{}
	for _, name := range metaNames {
		where := metaOffsets(t, b)[name]
		for bit := range where[1] * 8 {
			d := bytes.Clone(b)
			d[where[0]+bit/8] ^= 1 << (bit % 8)
			path := filepath.Join(dir, fmt.Sprintf("%s-%d", name, bit))
			require.NoError(t, os.WriteFile(path, d, 0o600))
			r := metaTrial(path, want)
			kind, _, _ := strings.Cut(r, ":")
			counts[kind]++
			if r != "refused" && r != "correct" {
				t.Errorf("%s, bit %d: %s", name, bit, r)
			}
			require.NoError(t, os.Remove(path))
		}
	}
	t.Logf("trials: %v", counts)
	// The checksums catch every single flip of a value.
	require.Equal(t, map[string]int{"refused": (6 + 3*12) * 8}, counts)
}
