package goals

import (
	"context"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// BenchmarkEnginePath holds each read the goals measure through package
// engine against the same read made on mvcc and bbolt directly, in
// alternating rounds: what going through the Engine interface costs the
// goals' figures (go test -run '^$' -bench EnginePath ./bench/goals).
func BenchmarkEnginePath(b *testing.B) {
	cfg := Config{Keys: 100_000}.withDefaults()
	mv, bb, closeBoth, err := openLoaded(context.Background(), cfg, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer closeBoth()
	db := mvkvDB(mv)
	bdb := bb.(interface{ DB() *bolt.DB }).DB()
	key := func(i int) []byte { return goalKey((i * 7919) % cfg.Keys) }
	const scanLen = 1000
	start := func(i int) []byte { return goalKey((i * 7919) % (cfg.Keys - scanLen)) }
	via := func(e engine.Engine, way string) func(int) error {
		fn, err := scan(e, way, func(_, i int) []byte { return start(i) }, scanLen)
		if err != nil {
			b.Fatal(err)
		}
		return func(i int) error { return fn(0, i) }
	}
	get := func(e engine.Engine) func(int) error {
		fn, err := pointRead(e, mvcc.Snapshot, func(_, i int) []byte { return key(i) }, nil, 1)
		if err != nil {
			b.Fatal(err)
		}
		return func(i int) error { return fn(0, i) }
	}
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(i int) error
	}{
		{"mvkv-get/direct", func(i int) error {
			return db.View(ctx, func(tx *mvcc.Txn) error { _, err := tx.Get(key(i)); return err })
		}},
		{"mvkv-get/engine", get(mv)},
		{"bbolt-get/direct", func(i int) error {
			return bdb.View(func(tx *bolt.Tx) error {
				if tx.Bucket([]byte("kv")).Get(key(i)) == nil {
					return engine.ErrNotFound
				}
				return nil
			})
		}},
		{"bbolt-get/engine", get(bb)},
		{"mvkv-scan/direct", func(i int) error {
			return db.View(ctx, func(tx *mvcc.Txn) error {
				n, sum := 0, 0
				for _, v := range tx.Scan(start(i), nil) {
					sum += len(v)
					if n++; n == scanLen {
						break
					}
				}
				return check(n, sum)
			})
		}},
		{"mvkv-scan/engine", via(mv, "Scan")},
		{"mvkv-scanfunc/direct", func(i int) error {
			return db.View(ctx, func(tx *mvcc.Txn) error {
				n, sum := 0, 0
				err := tx.ScanFunc(start(i), nil, func(_, v []byte) bool {
					sum += len(v)
					n++
					return n < scanLen
				})
				if err != nil {
					return err
				}
				return check(n, sum)
			})
		}},
		{"mvkv-scanfunc/engine", via(mv, "ScanFunc")},
		{"bbolt-walk/direct", func(i int) error {
			return bdb.View(func(tx *bolt.Tx) error {
				c := tx.Bucket([]byte("kv")).Cursor()
				n, sum := 0, 0
				for k, v := c.Seek(start(i)); k != nil && n < scanLen; k, v = c.Next() {
					sum += len(v)
					n++
				}
				return check(n, sum)
			})
		}},
		{"bbolt-walk/engine", via(bb, "ScanFunc")},
	}
	for range 5 {
		for _, c := range cases {
			b.Run(c.name, func(b *testing.B) {
				for i := range b.N {
					if err := c.fn(i); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func check(n, sum int) error {
	if n < 1000 || sum == 0 {
		return fmt.Errorf("saw %d keys, %d bytes", n, sum)
	}
	return nil
}
