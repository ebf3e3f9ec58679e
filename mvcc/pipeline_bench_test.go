package mvcc_test

// Microbenchmarks of the commit pipeline, range scans and restart (the
// cost of serializable's bookkeeping is in ssi_bench_test.go). Compare runs
// with benchstat:
//
//	go test -run '^$' -bench 'Pipeline|Scan1000|Restart' -count 6 ./mvcc > new.txt
//	benchstat old.txt new.txt
//
// The side-by-side comparisons with bbolt are in `mvkv-bench -goals`.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvkv/mvkv/mvcc"
)

func pbKey(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

// pbOpen opens a database in a temporary directory with n keys of
// 100-byte values.
func pbOpen(b *testing.B, opts *mvcc.Options, n int) *mvcc.DB {
	b.Helper()
	db, err := mvcc.Open(filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	pbLoad(b, db, n)
	return db
}

// pbLoad writes keys 0..n-1 in a shuffled order, as data arrives in
// practice: the file's revision order is then not the key order.
func pbLoad(b *testing.B, db *mvcc.DB, n int) {
	b.Helper()
	pbWrite(b, db, rand.New(rand.NewPCG(7, 8)).Perm(n))
}

// pbWrite writes the keys numbered in order, in that order, 10,000 per
// transaction, with 100-byte values.
func pbWrite(b testing.TB, db *mvcc.DB, order []int) {
	b.Helper()
	pbWriteIn(b, db, order, 10_000)
}

// pbWriteIn is pbWrite with per writes per transaction.
func pbWriteIn(b testing.TB, db *mvcc.DB, order []int, per int) {
	b.Helper()
	val := make([]byte, 100)
	n := len(order)
	for lo := 0; lo < n; lo += per {
		err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for _, i := range order[lo:min(n, lo+per)] {
				if err := tx.Put(pbKey(i), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipeline: one-put transactions from many goroutines through the
// group-commit pipeline, without fsync so that the pipeline's own cost
// shows. Reports commits/s and the average group size.
func BenchmarkPipeline(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db := pbOpen(b, &mvcc.Options{NoSync: true}, 0)
			val := make([]byte, 100)
			var next atomic.Int64
			b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
			before := db.Stats()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := pbKey(int(next.Add(1)))
					if err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Put(k, val) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			el := time.Since(start)
			after := db.Stats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "commits/s")
			if n := after.CommitBatches - before.CommitBatches; n > 0 {
				b.ReportMetric(float64(after.Commits-before.Commits)/float64(n), "txns/batch")
			}
		})
	}
}

// BenchmarkScan1000: a read-only transaction walking 1000 keys from a
// random start, at each level (serializable records the range), over keys
// written in a shuffled order and in key order (the B-tree's nodes then
// lie in memory as they are walked).
func BenchmarkScan1000(b *testing.B) {
	const keys, scan = 100_000, 1000
	for _, order := range []string{"shuffled", "ordered"} {
		var db *mvcc.DB
		if order == "shuffled" {
			db = pbOpen(b, &mvcc.Options{NoSync: true}, keys)
		} else {
			db = pbOpen(b, &mvcc.Options{NoSync: true}, 0)
			inOrder := make([]int, keys)
			for i := range inOrder {
				inOrder[i] = i
			}
			pbWrite(b, db, inOrder)
		}
		for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
			b.Run(order+"/"+level.String(), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				b.ReportAllocs()
				for b.Loop() {
					tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true})
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for range tx.Scan(pbKey(r.IntN(keys-scan)), nil) {
						if n++; n == scan {
							break
						}
					}
					_ = tx.Rollback()
					if n != scan {
						b.Fatalf("scanned %d keys", n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*scan), "ns/key")
			})
		}
	}
}

// BenchmarkRestart: Open of a database of 100,000 or (without -short)
// 1,000,000 keys. Open reads a few meta values and rebuilds nothing, so
// ns/key falls as the database grows: the figure to watch is ns/op, which
// should not grow with the keys.
func BenchmarkRestart(b *testing.B) {
	sizes := []int{100_000, 1_000_000}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "restart.db")
			opts := &mvcc.Options{NoSync: true, InitialMmapSize: 1 << 30}
			db, err := mvcc.Open(path, opts)
			if err != nil {
				b.Fatal(err)
			}
			pbLoad(b, db, n)
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				db, err := mvcc.Open(path, opts)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				_ = db.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
		})
	}
}
