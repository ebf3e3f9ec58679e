package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mvkv/mvkv/mvcc"
)

func ExampleOptions_readOnly() {
	dir, err := os.MkdirTemp("", "mvkv-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")
	db, err := mvcc.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	err = db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("greeting"), []byte("hello"))
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}

	// Several processes may open the file like this at once.
	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer ro.Close()
	_ = ro.View(context.Background(), func(tx *mvcc.Txn) error {
		v, err := tx.Get([]byte("greeting"))
		fmt.Println(string(v), err)
		return nil
	})
	err = ro.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("greeting"), []byte("bye"))
	})
	fmt.Println(errors.Is(err, mvcc.ErrReadOnly))
	// Output:
	// hello <nil>
	// true
}

func ExampleDB_Check() {
	db, cleanup := exampleDB()
	defer cleanup()
	err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		log.Fatal(err)
	}
	// Reads every page and record of the file, while the database serves.
	if err := db.Check(context.Background()); errors.Is(err, mvcc.ErrCorrupt) {
		fmt.Println("damaged:", err) // restore the last backup
		return
	}
	fmt.Println("sound")
	// Output: sound
}
