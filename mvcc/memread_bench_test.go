package mvcc_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mvkv/mvkv/mvcc"
)

// BenchmarkMemoryRead measures point reads that memory answers: every key
// has a version written since the oldest open snapshot (held open here),
// so the index holds its chain and value. With the version store under
// its limit nothing spills, and a read must cost what it cost before
// there was a version store on disk. Compare with benchstat across
// commits: go test -run '^$' -bench BenchmarkMemoryRead -count 10 ./mvcc
func BenchmarkMemoryRead(b *testing.B) {
	const keys = 10000
	db, err := mvcc.Open(filepath.Join(b.TempDir(), "m.db"), &mvcc.Options{NoSync: true, NoAutovacuum: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	key := func(i int) []byte { return fmt.Appendf(nil, "key%08d", i) }
	write := func(round int) {
		if err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := range keys {
				if err := tx.Put(key(i), fmt.Appendf(nil, "value %d of round %d, about a hundred bytes long ........................................", i, round)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	write(0)
	old, err := db.Begin(mvcc.Snapshot) // keeps round 1 in memory
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = old.Rollback() }()
	write(1)
	ks := make([][]byte, keys)
	for i := range ks {
		ks[i] = key((i * 7919) % keys)
	}
	for _, at := range []string{"newest", "old-snapshot"} {
		b.Run(at, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if at == "old-snapshot" {
					if _, err := old.Get(ks[i%keys]); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if err := db.View(ctx, func(tx *mvcc.Txn) error {
					_, err := tx.Get(ks[i%keys])
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
