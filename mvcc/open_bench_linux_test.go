//go:build linux

package mvcc_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// BenchmarkOpen measures Open and Close of a closed database of 20k keys
// (and 1M keys with MVKV_BENCH_BIG=1), warm (the file in the page cache)
// and cold (dropped from it with posix_fadvise(DONTNEED) before each
// Open; on a file system without a page cache of its own, such as tmpfs,
// cold equals warm: set TMPDIR to a disk). It reports the bytes read from
// the disk per Open (/proc/self/io read_bytes: cold only) and the bytes
// read through read calls (rchar).
//
//	go test -run '^$' -bench BenchmarkOpen -benchtime 20x ./mvcc
func BenchmarkOpen(b *testing.B) {
	sizes := []int{20_000}
	if os.Getenv("MVKV_BENCH_BIG") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		path := filepath.Join(b.TempDir(), "db")
		buildKeys(b, path, n)
		for _, cold := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/cold=%v", n, cold), func(b *testing.B) {
				var disk, rchar int64
				for b.Loop() {
					if cold {
						b.StopTimer()
						dropCache(b, path)
						b.StartTimer()
					}
					d0, r0 := procIO(b)
					db, err := mvcc.Open(path, &mvcc.Options{NoAutovacuum: true})
					require.NoError(b, err)
					d1, r1 := procIO(b)
					disk += d1 - d0
					rchar += r1 - r0
					b.StopTimer()
					require.NoError(b, db.Close())
					b.StartTimer()
				}
				b.ReportMetric(float64(disk)/float64(b.N), "disk-B/op")
				b.ReportMetric(float64(rchar)/float64(b.N), "read-B/op")
			})
		}
	}
}

func buildKeys(b *testing.B, path string, n int) {
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(b, err)
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		require.NoError(b, db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
			for i := lo; i < min(lo+batch, n); i++ {
				if err := tx.Put([]byte(fmt.Sprintf("key/%08d", i)), []byte("a value of about forty bytes, 0123456789")); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(b, db.Close())
}

// dropCache drops the file's pages from the page cache.
func dropCache(b *testing.B, path string) {
	f, err := os.Open(path)
	require.NoError(b, err)
	defer f.Close()
	require.NoError(b, f.Sync())
	const fadvDontneed = 4
	_, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontneed, 0, 0)
	if e != 0 {
		b.Fatalf("fadvise: %v", e)
	}
}

// procIO returns this process's read_bytes and rchar.
func procIO(b *testing.B) (disk, rchar int64) {
	f, err := os.Open("/proc/self/io")
	require.NoError(b, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "read_bytes":
			disk = n
		case "rchar":
			rchar = n
		}
	}
	return disk, rchar
}
