package mvcc_test

// Benchmarks of the two figures the engine is held to, each side by side
// with raw bbolt in the same run:
//
//	go test -run '^$' -bench 'CommitDurable|PointRead' -benchtime 5s -count 3 ./mvcc
//
// BenchmarkCommitDurable: durable (fsync) one-put transactions from 1 and
// from 64 concurrent goroutines; mvkv's group commit against bbolt doing one
// Update per put, with bbolt's default options and with the options mvkv
// opens bbolt with. Metric commits/s; the mvkv runs also report vs-bbolt
// (the ratio to bbolt-tuned, measured interleaved with the mvkv run) and
// txns/batch (average group size), and every run bytes/commit (what
// reached the disk per commit, as the device counts it: commit_bench_test.go). The databases live in b.TempDir(), on the real disk, so every
// fsync is real.
//
// BenchmarkPointRead: a read-only transaction reading one random key of
// 100k (mvkv View+Get against bbolt View+Bucket.Get), from one goroutine
// (ns/op; serial/mvkv also reports bbolt-ns/op and vs-bbolt, measured
// interleaved with it) and from GOMAXPROCS goroutines.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

var benchBucket = []byte("bench")

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key-%012d", i)) }

var benchValue = make([]byte, 100)

// runWriters performs commits [from, to) from writers goroutines and
// returns the elapsed time. commit(i) performs commit number i.
func runWriters(b *testing.B, writers, from, to int, commit func(i int) error) time.Duration {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to || failed.Load() != nil {
					return
				}
				if err := commit(i); err != nil {
					failed.Store(&err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	return elapsed
}

// runWritersFor commits from writers goroutines for about d and returns
// how many commits were made and the time they took. Keys come from next.
func runWritersFor(b *testing.B, writers int, d time.Duration, next *atomic.Int64, commit func(i int) error) (int, time.Duration) {
	var done atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && failed.Load() == nil {
				if err := commit(int(next.Add(1))); err != nil {
					failed.Store(&err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	return int(done.Load()), elapsed
}

// boltTuned are the bbolt options mvkv itself opens its file with (see
// Open), so that the "bbolt-tuned" baseline differs from mvkv only in how
// commits reach bbolt. The "bbolt" baseline uses bbolt's defaults.
var boltTuned = &bolt.Options{
	NoFreelistSync:  true,
	FreelistType:    bolt.FreelistMapType,
	InitialMmapSize: 256 << 20,
}

func openBenchBolt(b *testing.B, opts *bolt.Options) (*bolt.DB, func(i int) error) {
	bdb, err := bolt.Open(filepath.Join(b.TempDir(), "bolt.db"), 0o600, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bdb.Close() })
	if err := bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(benchBucket); return err }); err != nil {
		b.Fatal(err)
	}
	return bdb, func(i int) error {
		return bdb.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(benchBucket).Put(benchKey(i), benchValue)
		})
	}
}

// pairSlices is how many alternating slices the mvkv run is cut into, each
// followed by a bbolt run of the same length (see BenchmarkCommitDurable).
const pairSlices = 4

func BenchmarkCommitDurable(b *testing.B) {
	for _, writers := range []int{1, 64} {
		for _, base := range []struct {
			name string
			opts *bolt.Options
		}{{"bbolt", nil}, {"bbolt-tuned", boltTuned}} {
			b.Run(fmt.Sprintf("writers=%d/%s", writers, base.name), func(b *testing.B) {
				_, commit := openBenchBolt(b, base.opts)
				wrote := writeBytes()
				b.ResetTimer()
				elapsed := runWriters(b, writers, 0, b.N, commit)
				reportCommits(b, b.N, elapsed, wrote)
			})
		}
		// The mvkv run reports its own commits/s, and vs-bbolt: its ratio
		// to bbolt-tuned measured in the same run, interleaved. The run is
		// cut into pairSlices slices, each followed (timer stopped) by
		// bbolt-tuned committing for as long as the slice took, so both
		// sides meet the same disk: on a shared machine, fsync latency
		// drifts far more between benchmarks than within one.
		b.Run(fmt.Sprintf("writers=%d/mvkv", writers), func(b *testing.B) {
			db, err := mvcc.Open(filepath.Join(b.TempDir(), "mvkv.db"), nil) // durable
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			_, boltCommit := openBenchBolt(b, boltTuned)
			ctx := context.Background()
			commit := func(i int) error {
				return db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
					return tx.Put(benchKey(i), benchValue)
				})
			}
			var mvkvTime, boltTime time.Duration
			var boltCommits int
			var boltKeys atomic.Int64
			var wrote int64 // by the mvkv slices
			b.ResetTimer()
			for s := 0; s < pairSlices; s++ {
				from, to := b.N*s/pairSlices, b.N*(s+1)/pairSlices
				w0 := writeBytes()
				b.StartTimer()
				el := runWriters(b, writers, from, to, commit)
				b.StopTimer()
				wrote += writeBytes() - w0
				mvkvTime += el
				n, bel := runWritersFor(b, writers, max(el, 10*time.Millisecond), &boltKeys, boltCommit)
				boltCommits += n
				boltTime += bel
			}
			rate := float64(b.N) / mvkvTime.Seconds()
			b.ReportMetric(rate, "commits/s")
			if writeBytes() >= 0 {
				b.ReportMetric(float64(wrote)/float64(b.N), "bytes/commit")
			}
			if boltCommits > 0 {
				b.ReportMetric(rate/(float64(boltCommits)/boltTime.Seconds()), "vs-bbolt")
			}
			st := db.Stats()
			if st.CommitBatches > 0 {
				b.ReportMetric(float64(st.Commits)/float64(st.CommitBatches), "txns/batch")
			}
		})
	}
}

const readKeys = 100_000

// loadReadDBs fills an mvkv and a bbolt database with the same readKeys
// keys, without fsync (loading is not what is measured).
func loadReadDBs(b *testing.B) (*mvcc.DB, *bolt.DB) {
	dir := b.TempDir()
	db, err := mvcc.Open(filepath.Join(dir, "mvkv.db"), &mvcc.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	bdb, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for lo := 0; lo < readKeys; lo += 1000 {
		err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < lo+1000; i++ {
				if err := tx.Put(benchKey(i), benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		err = bdb.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(benchBucket)
			if err != nil {
				return err
			}
			for i := lo; i < lo+1000; i++ {
				if err := bk.Put(benchKey(i), benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { _ = db.Close(); _ = bdb.Close() })
	return db, bdb
}

func BenchmarkPointRead(b *testing.B) {
	// The parent of sub-benchmarks runs once: load here, for all of them.
	db, bdb := loadReadDBs(b)
	keys := make([][]byte, readKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	rand.New(rand.NewPCG(1, 1)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	ctx := context.Background()
	mvkvRead := func(k []byte) error {
		return db.View(ctx, func(tx *mvcc.Txn) error {
			v, err := tx.Get(k)
			if err == nil && len(v) != len(benchValue) {
				err = fmt.Errorf("bad value for %s", k)
			}
			return err
		})
	}
	boltRead := func(k []byte) error {
		return bdb.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(benchBucket).Get(k); len(v) != len(benchValue) {
				return fmt.Errorf("bad value for %s", k)
			}
			return nil
		})
	}
	sides := []struct {
		name string
		read func(k []byte) error
	}{{"bbolt", boltRead}, {"mvkv", mvkvRead}}
	// Serial pairs first, then parallel pairs: each pair runs back to back,
	// so that both sides meet the same machine. serial/mvkv also reports
	// vs-bbolt, bbolt's time over mvkv's for the same reads measured
	// interleaved (slices of mvkv reads, each followed, timer stopped, by
	// the same reads on bbolt): at least 1 means mvkv is as fast.
	for _, side := range sides {
		b.Run("serial/"+side.name, func(b *testing.B) {
			b.ReportAllocs()
			var mvkvTime, boltTime time.Duration
			b.ResetTimer()
			for s := 0; s < pairSlices; s++ {
				from, to := b.N*s/pairSlices, b.N*(s+1)/pairSlices
				b.StartTimer()
				start := time.Now()
				for i := from; i < to; i++ {
					if err := side.read(keys[i%readKeys]); err != nil {
						b.Fatal(err)
					}
				}
				mvkvTime += time.Since(start)
				b.StopTimer()
				if side.name != "mvkv" {
					continue
				}
				start = time.Now()
				for i := from; i < to; i++ {
					if err := boltRead(keys[i%readKeys]); err != nil {
						b.Fatal(err)
					}
				}
				boltTime += time.Since(start)
			}
			if boltTime > 0 {
				b.ReportMetric(float64(boltTime.Nanoseconds())/float64(b.N), "bbolt-ns/op")
				b.ReportMetric(boltTime.Seconds()/mvkvTime.Seconds(), "vs-bbolt")
			}
		})
	}
	for _, side := range sides {
		b.Run("parallel/"+side.name, func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7919))
				for pb.Next() {
					i++
					if err := side.read(keys[i%readKeys]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
