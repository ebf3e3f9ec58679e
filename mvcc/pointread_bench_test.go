package mvcc_test

// BenchmarkPointReadLarge: random point reads over a dataset of 1,000-byte
// values far larger than any cache mvkv keeps (mvkv keeps none: the OS
// page cache is the only one), side by side with bbolt reading the same
// file, each from a fresh Open (as mvkv-bench -goals does):
//
//	go test -run '^$' -bench PointReadLarge -benchtime 200000x ./mvcc
// "warm" reads files in the page cache (through fresh mappings: each
// first touch of a page is a minor fault), "cold" first asks the kernel
// to drop the three files from the page cache (Linux). Each side also
// reports its page faults per read (process-wide, so roughly).
//
//	MVKV_BENCH_LARGE_KEYS=1000000 go test -run '^$' -bench PointReadLarge -benchtime 1000000x -timeout 30m ./mvcc
//
// The default is 200,000 keys (a 270 MiB file, loaded in about 20 s on
// the 2-core machine); MVKV_BENCH_LARGE_KEYS sets another size. Sides,
// interleaved in slices of reads, each on a copy of the file of its own:
// mvkv (View+Get: the value verified and copied for the caller), bbolt
// (View+Get, the value not touched), bbolt-copy (View+Get copying the
// value out, as a caller that uses it past the transaction must). Reported: ns per read of each,
// and bbolt's time over mvkv's (vs-bbolt, vs-bbolt-copy: at least 1 means
// mvkv is as fast).

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

var pointReadSink []byte

func BenchmarkPointReadLarge(b *testing.B) {
	n := 200_000
	if s := os.Getenv("MVKV_BENCH_LARGE_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "large.db")
	opts := &mvcc.Options{NoSync: true, InitialMmapSize: 1 << 30}
	db, err := mvcc.Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 1000)
	ctx := context.Background()
	for lo := 0; lo < n; lo += 10_000 {
		err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := lo; i < min(n, lo+10_000); i++ {
				binary.BigEndian.PutUint64(val, uint64(i))
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
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 10))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = pbKey(r.IntN(n))
	}
	// bbolt reads a copy of the file: mvkv holds its file's lock. Both
	// are in the page cache after the copy.
	bpath := path + ".bolt"
	for _, p := range []string{bpath, bpath + "-copy"} {
		if err := copyFile(p, path); err != nil {
			b.Fatal(err)
		}
	}
	for _, cache := range []string{"warm", "cold"} {
		b.Run(cache, func(b *testing.B) { pointReadLarge(b, cache == "cold", path, bpath, keys, len(val)) })
	}
}

// pointReadLarge runs the interleaved reads; cold drops both files from
// the page cache first (Linux only: elsewhere it runs warm).
func pointReadLarge(b *testing.B, cold bool, path, bpath string, keys [][]byte, size int) {
	if cold && (!uncache(path) || !uncache(bpath) || !uncache(bpath+"-copy")) {
		b.Skip("cannot drop the files from the page cache here")
	}
	ctx := context.Background()
	data := []byte("data")
	opts := &mvcc.Options{NoSync: true, InitialMmapSize: 1 << 30}
	{
		db, err := mvcc.Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		bdb, err := bolt.Open(bpath, 0o600, &bolt.Options{ReadOnly: true, InitialMmapSize: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		defer bdb.Close()
		cdb, err := bolt.Open(bpath+"-copy", 0o600, &bolt.Options{ReadOnly: true, InitialMmapSize: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		defer cdb.Close()
		sides := []func(k []byte) error{
			func(k []byte) error {
				return db.View(ctx, func(tx *mvcc.Txn) error {
					v, err := tx.Get(k)
					if err == nil && len(v) != size {
						b.Fatalf("bad value of %s", k)
					}
					return err
				})
			},
			func(k []byte) error {
				return bdb.View(func(tx *bolt.Tx) error {
					if tx.Bucket(data).Get(k) == nil {
						return mvcc.ErrNotFound
					}
					return nil
				})
			},
			func(k []byte) error {
				return cdb.View(func(tx *bolt.Tx) error {
					v := tx.Bucket(data).Get(k)
					if v == nil {
						return mvcc.ErrNotFound
					}
					pointReadSink = bytes.Clone(v)
					return nil
				})
			},
		}
		var took [3]time.Duration
		var flt [3][2]int64
		b.ReportAllocs()
		b.ResetTimer()
		// Slices of 256 reads, each side in turn on the same keys, so
		// that all three meet the same machine (and the first to touch
		// a page pays its fault: the order turns with each slice).
		for i := 0; i < b.N; i += 256 {
			for j := range sides {
				side := (i/256 + j) % len(sides)
				start := time.Now()
				f0 := faults()
				for x := i; x < min(b.N, i+256); x++ {
					if err := sides[side](keys[x&(len(keys)-1)]); err != nil {
						b.Fatal(err)
					}
				}
				took[side] += time.Since(start)
				fl := faults()
				flt[side][0] += fl[0] - f0[0]
				flt[side][1] += fl[1] - f0[1]
			}
		}
		ns := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
		b.ReportMetric(ns(took[0]), "mvkv-ns/read")
		b.ReportMetric(ns(took[1]), "bbolt-ns/read")
		b.ReportMetric(ns(took[2]), "bbolt-copy-ns/read")
		b.ReportMetric(took[1].Seconds()/took[0].Seconds(), "vs-bbolt")
		b.ReportMetric(took[2].Seconds()/took[0].Seconds(), "vs-bbolt-copy")
		for j, name := range []string{"mvkv", "bbolt", "bbolt-copy"} {
			b.ReportMetric(float64(flt[j][0])/float64(b.N), name+"-minflt/read")
			b.ReportMetric(float64(flt[j][1])/float64(b.N), name+"-majflt/read")
		}
	}
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
