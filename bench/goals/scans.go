package goals

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// The scan measurements' two sides: mvkv's ways of scanning, and bbolt's
// cursor walks they are held against.

// mvkvScan scans scanLen keys from a random start in a View, the way
// named: "Scan" and "ScanFunc" read every value (its length), "ScanKeys"
// reads keys only.
func mvkvScan(db *mvcc.DB, starts [][]byte, pick func([][]byte, int, int) []byte, scanLen int, way string) func(g, i int) error {
	return func(g, i int) error {
		n, sum := 0, 0
		err := db.View(context.Background(), func(tx *mvcc.Txn) error {
			start := pick(starts, g, i)
			switch way {
			case "Scan":
				for _, v := range tx.Scan(start, nil) {
					sum += len(v)
					if n++; n == scanLen {
						break
					}
				}
			case "ScanFunc":
				return tx.ScanFunc(start, nil, func(_, v []byte) bool {
					sum += len(v)
					n++
					return n < scanLen
				})
			default:
				for range tx.ScanKeys(start, nil) {
					if n++; n == scanLen {
						break
					}
				}
			}
			return tx.Err()
		})
		if err == nil && n < scanLen {
			err = fmt.Errorf("%s saw %d keys, want %d", way, n, scanLen)
		}
		if err == nil && way != "ScanKeys" && sum == 0 {
			err = fmt.Errorf("%s read no value", way)
		}
		return err
	}
}

// boltWalk walks scanLen keys from a random start with a bbolt cursor;
// with values, it reads each value in place (its length: bbolt's slices
// are valid until the transaction ends, so a bbolt caller copies nothing).
func boltWalk(bdb *bolt.DB, starts [][]byte, pick func([][]byte, int, int) []byte, scanLen int, values bool) func(g, i int) error {
	return func(g, i int) error {
		return bdb.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(boltBucket).Cursor()
			n, sum := 0, 0
			for k, v := c.Seek(pick(starts, g, i)); k != nil; k, v = c.Next() {
				if values {
					sum += len(v)
				}
				if n++; n == scanLen {
					if values && sum == 0 {
						return fmt.Errorf("walk read no value")
					}
					return nil
				}
			}
			return fmt.Errorf("scan saw fewer than %d keys", scanLen)
		})
	}
}
