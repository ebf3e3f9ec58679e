package mvcc_test

// Benchmarks of what a commit costs, side by side with bbolt on the same
// disk, and of the heap a database keeps once vacuumed. Compare runs with
// benchstat:
//
//	go test -run '^$' -bench 'CommitDurable|CommitNoSync|BulkLoad|HeapAfterVacuum' -count 3 ./mvcc
//
// CommitDurable (bench_test.go) is the group-commit goal and the
// single-writer one; its bytes/commit, like CommitNoSync's, is what
// reached the disk per commit, as the device counts its written sectors
// (/proc/diskstats, Linux only: the journal included, and any other
// process's writes to that disk meanwhile). BulkLoad loads MVKV_BULK_KEYS
// keys (default 100,000; the goal is stated at 1,000,000) of 1 KB in
// 1,000-key transactions. CommitTail is the stall goal: p99.9 over p50
// of 16 durable writers. HeapAfterVacuum measures 20,000 and 200,000
// keys, and 1,000,000 without -short.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/diskstat"
	"github.com/mvkv/mvkv/mvcc"
)

// diskWrites counts what reaches the disk that holds the benchmarks'
// databases (b.TempDir, under os.TempDir), as the device counts it.
var diskWrites = diskstat.For(os.TempDir())

// writeBytes returns the bytes written so far to the disk that holds the
// benchmarks' databases (its file system's journal included, and any
// other process's writes to it), or -1 where the device's writes are not
// counted (not Linux, or a file system without a device).
func writeBytes() int64 {
	n, ok := diskWrites.Read()
	if !ok {
		return -1
	}
	return n
}

// reportCommits reports commits/s, and bytes written per commit when the
// platform says.
func reportCommits(b *testing.B, n int, el time.Duration, wrote0 int64) {
	b.ReportMetric(float64(n)/el.Seconds(), "commits/s")
	if w := writeBytes(); wrote0 >= 0 && w >= 0 && n > 0 {
		b.ReportMetric(float64(w-wrote0)/float64(n), "bytes/commit")
	}
}

func cbOpenBolt(b *testing.B, noSync bool) *bolt.DB {
	b.Helper()
	bdb, err := bolt.Open(filepath.Join(b.TempDir(), "bbolt.db"), 0o600, &bolt.Options{NoSync: noSync, FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bdb.Close() })
	if err := bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		b.Fatal(err)
	}
	return bdb
}

// commitBench runs one-put transactions of 100-byte values from writers
// goroutines, each on keys of its own, against mvkv or bbolt.
func commitBench(b *testing.B, engine string, writers int, noSync bool) {
	val := make([]byte, 100)
	var put func(k []byte) error
	var stats func() mvcc.Stats
	switch engine {
	case "mvkv":
		db := pbOpen(b, &mvcc.Options{NoSync: noSync}, 0)
		put = func(k []byte) error {
			return db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Put(k, val) })
		}
		stats = db.Stats
	case "bbolt":
		bdb := cbOpenBolt(b, noSync)
		put = func(k []byte) error {
			return bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(k, val) })
		}
	}
	var next atomic.Int64
	var before mvcc.Stats
	if stats != nil {
		before = stats()
	}
	wrote := writeBytes()
	start := time.Now()
	b.ResetTimer()
	if writers == 1 {
		for i := 0; b.Loop(); i++ {
			if err := put(pbKey(i)); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := put(pbKey(int(next.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	reportCommits(b, b.N, time.Since(start), wrote)
	if stats != nil {
		after := stats()
		if n := after.CommitBatches - before.CommitBatches; n > 0 {
			b.ReportMetric(float64(after.Commits-before.Commits)/float64(n), "txns/batch")
		}
	}
}

// BenchmarkCommitNoSync: one writer, one put per transaction, without
// fsync: what a commit costs the CPU (ns/op), mvkv against bbolt.
func BenchmarkCommitNoSync(b *testing.B) {
	for _, engine := range []string{"mvkv", "bbolt"} {
		b.Run(engine, func(b *testing.B) { commitBench(b, engine, 1, true) })
	}
}

// BenchmarkBulkLoad: MVKV_BULK_KEYS keys (default 100,000) of 1 KB in key
// order, 1,000 per transaction, durable, mvkv against bbolt. One op is
// the whole load; keys/s is the figure to compare.
func BenchmarkBulkLoad(b *testing.B) {
	n := 100_000
	if s := os.Getenv("MVKV_BULK_KEYS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("MVKV_BULK_KEYS=%q: want a positive number", s)
		}
		n = v
	}
	const perTxn = 1000
	val := make([]byte, 1000)
	for _, engine := range []string{"mvkv", "bbolt"} {
		b.Run(fmt.Sprintf("keys=%d/%s", n, engine), func(b *testing.B) {
			var wrote int64
			for range b.N {
				b.StopTimer()
				var load func(lo, hi int) error
				var done func() error
				dir := b.TempDir()
				switch engine {
				case "mvkv":
					db, err := mvcc.Open(filepath.Join(dir, "m.db"), &mvcc.Options{InitialMmapSize: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					load = func(lo, hi int) error {
						return db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
							for i := lo; i < hi; i++ {
								if err := tx.Put(pbKey(i), val); err != nil {
									return err
								}
							}
							return nil
						})
					}
					done = db.Close
				case "bbolt":
					bdb, err := bolt.Open(filepath.Join(dir, "b.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, InitialMmapSize: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					if err := bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
						b.Fatal(err)
					}
					load = func(lo, hi int) error {
						return bdb.Update(func(tx *bolt.Tx) error {
							bk := tx.Bucket([]byte("b"))
							for i := lo; i < hi; i++ {
								if err := bk.Put(pbKey(i), val); err != nil {
									return err
								}
							}
							return nil
						})
					}
					done = bdb.Close
				}
				w0 := writeBytes()
				b.StartTimer()
				for lo := 0; lo < n; lo += perTxn {
					if err := load(lo, min(n, lo+perTxn)); err != nil {
						b.Fatal(err)
					}
				}
				// Close applies what the log still holds: part of the load.
				if err := done(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				wrote += writeBytes() - w0
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "keys/s")
			b.ReportMetric(float64(wrote)/float64(n*b.N), "bytes/key")
		})
	}
}

// BenchmarkHeapAfterVacuum: the live heap a database keeps once loaded
// (100-byte values, shuffled) and vacuumed, with nothing open: what memory
// holds beyond the data, which lives in the file. It should not grow with
// the keys. per=10000 loads in transactions large enough to go straight
// to the data bucket; per=1000 goes through the log and the checkpointer.
func BenchmarkHeapAfterVacuum(b *testing.B) {
	sizes := []int{20_000, 200_000, 1_000_000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, per := range []int{10_000, 1000} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("per=%d/keys=%d", per, n), func(b *testing.B) {
				var heap float64
				for range b.N {
					b.StopTimer()
					base := liveHeap()
					db, err := mvcc.Open(filepath.Join(b.TempDir(), "h.db"), &mvcc.Options{NoSync: true, InitialMmapSize: 1 << 30})
					if err != nil {
						b.Fatal(err)
					}
					order := rand.New(rand.NewPCG(7, 8)).Perm(n)
					val := make([]byte, 100)
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
					b.StartTimer()
					if _, err := db.Vacuum(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					heap = float64(liveHeap()) - float64(base)
					if err := db.Close(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(heap/(1<<20), "heap-MiB")
			})
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCommitTail: 16 writers commit durable one-key overwrites of
// random keys among 100,000 (the put workload of mvkv-bench) and report
// the commit latency's p50, p99 and p99.9, and p99.9 over p50, the stall
// figure (goal: at most 3). Two starts: keys loaded in transactions of
// 10,000 (large groups go to the data bucket itself, the log starts
// empty), and in transactions of 1,000, as mvkv-bench loads them (the log
// starts full, and the run's commits alternate with the checkpoint
// steps that drain it). Run it long, as the goal says:
//
//	go test -run '^$' -bench CommitTail -benchtime 30s ./mvcc
func BenchmarkCommitTail(b *testing.B) {
	const writers, keys = 16, 100_000
	val := make([]byte, 100)
	for _, load := range []string{"direct-load", "logged-load"} {
		b.Run(load, func(b *testing.B) {
			var db *mvcc.DB
			if load == "direct-load" {
				db = pbOpen(b, nil, keys) // durable
			} else {
				db = pbOpen(b, nil, 0)
				order := make([]int, keys)
				for i := range order {
					order[i] = i
				}
				pbWriteIn(b, db, order, 1000) // in key order, 1,000 per transaction
			}
			commitTail(b, db, writers, keys, val)
		})
	}
}

func commitTail(b *testing.B, db *mvcc.DB, writers, keys int, val []byte) {
	var next atomic.Int64
	lat := make([][]time.Duration, writers)
	done := make(chan struct{})
	b.ResetTimer()
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for next.Add(1) <= int64(b.N) {
				k := pbKey(r.IntN(keys))
				t := time.Now()
				err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Put(k, val) })
				if err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	for range writers {
		<-done
	}
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	q := func(p float64) time.Duration { return all[int(float64(len(all)-1)*p)] }
	b.ReportMetric(float64(q(0.5))/1e6, "p50-ms")
	b.ReportMetric(float64(q(0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(q(0.999))/1e6, "p99.9-ms")
	b.ReportMetric(float64(q(0.999))/float64(q(0.5)), "p99.9/p50")
}
