package mvcc_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mvkv/mvkv/mvcc"
)

// BenchmarkReadMostly measures what serializability costs over snapshot
// isolation on a read-mostly mix: 8 goroutines run transactions of 4 point
// reads over 50k keys, 5% of which also write one key. Commits skip fsync
// so that the figure is the concurrency control's, not the disk's. Compare
// the two sub-benchmarks' txn/s (the bar: serializable >= 0.85x
// snapshot):
//
//	go test ./mvcc -run '^$' -bench ReadMostly -benchtime 3s -count 3
func BenchmarkReadMostly(b *testing.B) {
	const keys, readers, reads = 50_000, 8, 4
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		b.Run(level.String(), func(b *testing.B) {
			db := openTestDB(b)
			ctx := context.Background()
			key := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte("k"), uint32(i)) }
			for lo := 0; lo < keys; lo += 1000 {
				if err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
					for i := lo; i < lo+1000; i++ {
						if err := tx.Put(key(i), []byte("value-0000")); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			var next, conflicts atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for g := 0; g < readers; g++ {
				wg.Add(1)
				go func(seed uint64) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, 1))
					for next.Add(1) <= int64(b.N) {
						write := rng.IntN(100) < 5
						err := db.Update(ctx, level, func(tx *mvcc.Txn) error {
							for r := 0; r < reads; r++ {
								if _, err := tx.Get(key(rng.IntN(keys))); err != nil {
									return err
								}
							}
							if write {
								return tx.Put(key(rng.IntN(keys)), []byte("value-0001"))
							}
							return nil
						})
						if err != nil {
							conflicts.Add(1)
						}
					}
				}(uint64(g))
			}
			wg.Wait()
			el := time.Since(start)
			b.ReportMetric(float64(b.N)/el.Seconds(), "txn/s")
			b.ReportMetric(float64(db.Stats().Conflicts)/float64(b.N), "conflicts/txn")
			if conflicts.Load() > 0 {
				b.Logf("%d transactions gave up after retries", conflicts.Load())
			}
		})
	}
}

// BenchmarkSSIBookkeeping isolates the cost SSI adds to one serializable
// read-write transaction against others in flight: a transaction reads
// 4 keys and scans a short range, then commits one write.
func BenchmarkSSIBookkeeping(b *testing.B) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		b.Run(level.String(), func(b *testing.B) {
			db := openTestDB(b)
			ctx := context.Background()
			// Some open serializable readers for the commit check to visit.
			for i := 0; i < 8; i++ {
				tx, _ := db.Begin(mvcc.Serializable)
				_, _ = tx.Get([]byte(fmt.Sprintf("other%d", i)))
				defer tx.Rollback()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := []byte(fmt.Sprintf("k%d", i%1000))
				_ = db.Update(ctx, level, func(tx *mvcc.Txn) error {
					for r := 0; r < 4; r++ {
						_, _ = tx.Get([]byte(fmt.Sprintf("k%d", (i+r*7)%1000)))
					}
					for range tx.Scan([]byte("k1"), []byte("k11")) {
					}
					return tx.Put(k, []byte("v"))
				})
			}
		})
	}
}
