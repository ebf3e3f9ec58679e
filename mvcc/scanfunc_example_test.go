package mvcc_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mvkv/mvkv/mvcc"
)

// ScanFunc lends each key and value for one call: sum or parse them in
// place, and copy what must outlive the call.
func ExampleTxn_ScanFunc() {
	dir, _ := os.MkdirTemp("", "mvkv-example-")
	defer os.RemoveAll(dir)
	db, err := mvcc.Open(filepath.Join(dir, "example.db"), &mvcc.Options{NoSync: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	_ = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, k := range []string{"apple", "banana", "cherry"} {
			if err := tx.Put([]byte("fruit/"+k), []byte(k+" pie")); err != nil {
				return err
			}
		}
		return nil
	})
	err = db.View(ctx, func(tx *mvcc.Txn) error {
		total := 0
		var longest []byte
		err := tx.ScanFunc([]byte("fruit/"), []byte("fruit0"), func(key, value []byte) bool {
			total += len(value)
			if len(value) > len(longest) {
				longest = bytes.Clone(value) // kept past the call: copied
			}
			return true
		})
		fmt.Println(total, string(longest))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: 29 banana pie
}

// ScanKeys walks keys without reading their values.
func ExampleTxn_ScanKeys() {
	dir, _ := os.MkdirTemp("", "mvkv-example-")
	defer os.RemoveAll(dir)
	db, err := mvcc.Open(filepath.Join(dir, "example.db"), &mvcc.Options{NoSync: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	_ = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.Put([]byte(k), make([]byte, 1<<20)); err != nil {
				return err
			}
		}
		return nil
	})
	_ = db.View(ctx, func(tx *mvcc.Txn) error {
		for k := range tx.ScanKeys(nil, nil) {
			fmt.Println(string(k))
		}
		return tx.Err()
	})
	// Output:
	// a
	// b
	// c
}
