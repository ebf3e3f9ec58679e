package mvcc_test

// BenchmarkScaling measures how transactions scale with cores: every
// sub-benchmark runs b.RunParallel, one goroutine per GOMAXPROCS, so a
// -cpu sweep draws the curve; each reports ops/s. Run it as
//
//	go test -run '^$' -bench Scaling -cpu 1,2,4,8,16 -benchtime 2s ./mvcc
//
// or, to keep one binary for several machines,
//
//	go test -c -o mvcc.test ./mvcc
//	./mvcc.test -test.run '^$' -test.bench Scaling -test.cpu 1,2,4,8,16 -test.benchtime 2s
//
// The rows (100,000 keys of 100 bytes, vacuumed, so reads go to the file):
//
//   - empty: the loop alone, the harness's ceiling;
//   - bbolt-view-get: bbolt View + Bucket.Get, the anchor;
//   - view-get: mvkv View + Get;
//   - bbolt-view-walk, view-scanfunc: 100 keys walked from a random
//     start, each value read, bbolt's cursor against mvkv's ScanFunc;
//   - read-only/<level>: BeginTx{ReadOnly} + Get + Rollback at each level;
//   - begin-end/<level>: a read-write transaction begun and rolled back;
//   - read-mostly/<level>: YCSB-B's mix, 95% one-key read-only
//     transactions and 5% read-modify-write of one key, without fsync, at
//     snapshot and serializable (the SSI-scaling ratio: serializable over
//     snapshot).
//
// With -mutexprofile the same run shows which locks the read path waits
// on (none is the goal):
//
//	go test -run '^$' -bench 'Scaling/(view-get|read-only)' -cpu 1,2 -mutexprofile mutex.out ./mvcc
//	go tool pprof -top mutex.out

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

func BenchmarkScaling(b *testing.B) {
	db, bdb := loadReadDBs(b)
	ctx := context.Background()
	if _, err := db.Vacuum(ctx); err != nil { // the index lets go: reads go to the file
		b.Fatal(err)
	}
	keys := make([][]byte, readKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	get := func(tx *mvcc.Txn, k []byte) error {
		v, err := tx.Get(k)
		if err == nil && len(v) != len(benchValue) {
			err = fmt.Errorf("bad value for %s", k)
		}
		return err
	}
	// parallel runs op from every goroutine with its own random stream
	// and reports ops/s; nothing is shared on the loop's path.
	var seed atomic.Uint64
	parallel := func(b *testing.B, op func(rng *rand.Rand) error) {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(seed.Add(1), 7))
			for pb.Next() {
				if err := op(rng); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	}
	var sink atomic.Int64
	b.Run("empty", func(b *testing.B) {
		parallel(b, func(rng *rand.Rand) error {
			if rng.IntN(readKeys) < 0 {
				sink.Add(1)
			}
			return nil
		})
	})
	b.Run("bbolt-view-get", func(b *testing.B) {
		parallel(b, func(rng *rand.Rand) error {
			k := keys[rng.IntN(readKeys)]
			return bdb.View(func(tx *bolt.Tx) error {
				if v := tx.Bucket(benchBucket).Get(k); len(v) != len(benchValue) {
					return fmt.Errorf("bad value for %s", k)
				}
				return nil
			})
		})
	})
	b.Run("view-get", func(b *testing.B) {
		parallel(b, func(rng *rand.Rand) error {
			k := keys[rng.IntN(readKeys)]
			return db.View(ctx, func(tx *mvcc.Txn) error { return get(tx, k) })
		})
	})
	// Scans of 100 keys from a random start, each key and value lent
	// (ScanFunc), against bbolt's cursor walk reading each value in place.
	const scanKeys = 100
	b.Run("bbolt-view-walk", func(b *testing.B) {
		parallel(b, func(rng *rand.Rand) error {
			k := keys[rng.IntN(readKeys-scanKeys)]
			return bdb.View(func(tx *bolt.Tx) error {
				c, n, sum := tx.Bucket(benchBucket).Cursor(), 0, 0
				for ck, v := c.Seek(k); ck != nil && n < scanKeys; ck, v = c.Next() {
					n, sum = n+1, sum+len(v)
				}
				if n != scanKeys || sum != n*len(benchValue) {
					return fmt.Errorf("walk from %s: %d keys, %d bytes", k, n, sum)
				}
				return nil
			})
		})
	})
	b.Run("view-scanfunc", func(b *testing.B) {
		parallel(b, func(rng *rand.Rand) error {
			k := keys[rng.IntN(readKeys-scanKeys)]
			return db.View(ctx, func(tx *mvcc.Txn) error {
				n, sum := 0, 0
				err := tx.ScanFunc(k, nil, func(_, v []byte) bool {
					n, sum = n+1, sum+len(v)
					return n < scanKeys
				})
				if err == nil && (n != scanKeys || sum != n*len(benchValue)) {
					err = fmt.Errorf("scan from %s: %d keys, %d bytes", k, n, sum)
				}
				return err
			})
		})
	})
	levels := []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}
	for _, level := range levels {
		b.Run("read-only/"+level.String(), func(b *testing.B) {
			parallel(b, func(rng *rand.Rand) error {
				tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, ReadOnly: true})
				if err != nil {
					return err
				}
				err = get(tx, keys[rng.IntN(readKeys)])
				_ = tx.Rollback()
				return err
			})
		})
	}
	for _, level := range levels {
		b.Run("begin-end/"+level.String(), func(b *testing.B) {
			parallel(b, func(*rand.Rand) error {
				tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level})
				if err != nil {
					return err
				}
				return tx.Rollback()
			})
		})
	}
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		b.Run("read-mostly/"+level.String(), func(b *testing.B) {
			parallel(b, func(rng *rand.Rand) error {
				k := keys[rng.IntN(readKeys)]
				if rng.IntN(100) >= 5 {
					tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, ReadOnly: true})
					if err != nil {
						return err
					}
					err = get(tx, k)
					if err == nil {
						err = tx.Commit()
					} else {
						_ = tx.Rollback()
					}
					if errors.Is(err, mvcc.ErrConflict) {
						return nil // a serializable reader may abort: counted as done
					}
					return err
				}
				return db.Update(ctx, level, func(tx *mvcc.Txn) error {
					if err := get(tx, k); err != nil {
						return err
					}
					return tx.Put(k, benchValue)
				})
			})
		})
	}
}
