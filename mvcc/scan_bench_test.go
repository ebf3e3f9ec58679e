package mvcc_test

// BenchmarkScanParts: 1000-key scans from a random start over 50,000 keys
// of 100-byte values (the data in memory), each mvkv way of scanning side
// by side with bbolt's cursor walks, and with bbolt walks that add one
// part of mvkv's work each, in the same run:
//
//	go test -run '^$' -bench ScanParts -benchtime 2s ./mvcc
//	go test -run '^$' -bench 'ScanParts/vacuumed/mvkv-scan$' -cpuprofile cpu.out ./mvcc
//
// Sides, each reporting ns/key:
//
//   - bbolt-walk: View, cursor from Seek, reads every value in place
//     (sums len(v)): the goal's baseline.
//   - bbolt-keys: the bare walk, keys only.
//   - bbolt-walk+crc: the walk that also computes each record's CRC-32C
//     (key and value) in place: what verifying costs at the least.
//   - bbolt-walk+copy: the walk that also copies each key and value for
//     the caller, neighbours sharing 4 KiB blocks as Scan's copies do:
//     what caller-owned copies cost at the least (garbage collection
//     included).
//   - mvkv-scan (View + Scan: copies the caller owns), mvkv-scanfunc
//     (View + ScanFunc: slices valid for one step), mvkv-keys (View +
//     ScanKeys). These also report allocs/op, and vs-bbolt-walk: the
//     in-place walk's time over theirs, from walks interleaved with their
//     scans (one in eight, over the same range), which a busy machine
//     disturbs less than two runs apart (at least 0.5 is the goal for
//     mvkv-scanfunc, the way to read at the speed of the walk).
//
// Three states of the database: "loaded", just after the load, autovacuum
// off (memory holds every key's version as well as the file, all of them
// applied: no chunk has anything to merge, see Index.MaxTS); "vacuumed",
// after Vacuum (memory holds nothing: the data is the file's alone), and
// "snapshot": vacuumed, then one key in a hundred updated after a
// snapshot that every scan reads in (memory holds those keys' new and old
// versions: each chunk walks memory's keys over its span and merges the
// few newer than the snapshot).

import (
	"context"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

const (
	scanBenchKeys = 50_000
	scanBenchLen  = 1000
)

func BenchmarkScanParts(b *testing.B) {
	dir := b.TempDir()
	bdb, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bdb.Close() })
	val := make([]byte, 100)
	err = bdb.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket(benchBucket)
		if err != nil {
			return err
		}
		for i := range scanBenchKeys {
			if err := bk.Put(pbKey(i), val); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	starts := make([][]byte, 1<<10)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range starts {
		starts[i] = pbKey(r.IntN(scanBenchKeys - scanBenchLen))
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	var block []byte // bbolt-walk+copy's copies are cut from it
	boltWalk := func(start []byte, side string) int {
		n, sum := 0, 0
		var crc uint32
		_ = bdb.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(benchBucket).Cursor()
			for k, v := c.Seek(start); k != nil; k, v = c.Next() {
				switch side {
				case "bbolt-walk":
					sum += len(v)
				case "bbolt-walk+crc":
					crc ^= crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, v)
					sum += len(v)
				case "bbolt-walk+copy":
					if cap(block)-len(block) < len(k)+len(v) {
						block = make([]byte, 0, max(4096, len(k)+len(v)))
					}
					s := len(block)
					block = append(append(block, k...), v...)
					sum += len(block[s+len(k):])
				}
				if n++; n == scanBenchLen {
					break
				}
			}
			return nil
		})
		if side != "bbolt-keys" && sum != n*len(val) || crc == 1 {
			return -1
		}
		return n
	}
	for _, state := range []string{"loaded", "vacuumed", "snapshot"} {
		// Loaded: no autovacuum, so that memory keeps every key's
		// version for the whole run (the merge's worst case).
		db, err := mvcc.Open(filepath.Join(dir, state+".db"), &mvcc.Options{NoSync: true, NoAutovacuum: state == "loaded"})
		if err != nil {
			b.Fatal(err)
		}
		order := make([]int, scanBenchKeys)
		for i := range order {
			order[i] = i
		}
		pbWrite(b, db, order)
		if state != "loaded" {
			if _, err := db.Vacuum(ctx); err != nil {
				b.Fatal(err)
			}
		}
		view := func(fn func(tx *mvcc.Txn) error) error { return db.View(ctx, fn) }
		var held *mvcc.Txn // the snapshot's transaction
		if state == "snapshot" {
			old, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := old.Get(pbKey(0)); err != nil { // takes its snapshot
				b.Fatal(err)
			}
			err = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
				for i := 0; i < scanBenchKeys; i += 100 {
					if err := tx.Put(pbKey(i), val); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			view, held = func(fn func(tx *mvcc.Txn) error) error { return fn(old) }, old
		}
		mvkvSides := []struct {
			name string
			scan func(tx *mvcc.Txn, start []byte) int
		}{
			{"mvkv-scan", func(tx *mvcc.Txn, start []byte) int {
				n, sum := 0, 0
				for _, v := range tx.Scan(start, nil) {
					sum += len(v)
					if n++; n == scanBenchLen {
						break
					}
				}
				if sum != n*len(val) {
					return -1
				}
				return n
			}},
			{"mvkv-scanfunc", func(tx *mvcc.Txn, start []byte) int {
				n, sum := 0, 0
				_ = tx.ScanFunc(start, nil, func(_, v []byte) bool {
					sum += len(v)
					n++
					return n < scanBenchLen
				})
				if sum != n*len(val) {
					return -1
				}
				return n
			}},
			{"mvkv-keys", func(tx *mvcc.Txn, start []byte) int {
				n := 0
				for range tx.ScanKeys(start, nil) {
					if n++; n == scanBenchLen {
						break
					}
				}
				return n
			}},
		}
		for _, side := range []string{"bbolt-walk", "bbolt-keys", "bbolt-walk+crc", "bbolt-walk+copy"} {
			b.Run(state+"/"+side, func(b *testing.B) {
				i := 0
				cpu0 := processCPU()
				for b.Loop() {
					if n := boltWalk(starts[i%len(starts)], side); n != scanBenchLen {
						b.Fatalf("walked %d keys", n)
					}
					i++
				}
				reportPerKey(b, b.Elapsed(), processCPU()-cpu0, b.N)
			})
		}
		for _, side := range mvkvSides {
			b.Run(state+"/"+side.name, func(b *testing.B) {
				b.ReportAllocs()
				var ours, theirs time.Duration
				scans, walks := 0, 0
				var cpu time.Duration
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					start := starts[i%len(starts)]
					t0, cpu0 := time.Now(), processCPU()
					var n int
					err := view(func(tx *mvcc.Txn) error {
						n = side.scan(tx, start)
						return nil
					})
					ours += time.Since(t0)
					cpu += processCPU() - cpu0
					if err != nil || n != scanBenchLen {
						b.Fatalf("scanned %d keys: %v", n, err)
					}
					scans++
					if i%8 == 0 {
						// Interleaved bbolt walks (one in eight, timer
						// stopped) for the ratio.
						b.StopTimer()
						t0 = time.Now()
						boltWalk(start, "bbolt-walk")
						theirs += time.Since(t0)
						walks++
						b.StartTimer()
					}
				}
				reportPerKey(b, ours, cpu, scans)
				if ours > 0 && walks > 0 {
					b.ReportMetric(theirs.Seconds()/float64(walks)/(ours.Seconds()/float64(scans)), "vs-bbolt-walk")
				}
			})
		}
		// Closed before the next state's runs: its index would add to
		// what every garbage collection scans.
		if held != nil {
			_ = held.Rollback()
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// reportPerKey reports the wall-clock and processor time per key of scans
// 1000-key scans (cpu-ns/key: the whole process's, garbage collection
// included, which other work on the machine does not inflate).
func reportPerKey(b *testing.B, wall, cpu time.Duration, scans int) {
	b.ReportMetric(float64(wall.Nanoseconds())/float64(scans*scanBenchLen), "ns/key")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(scans*scanBenchLen), "cpu-ns/key")
	}
}
