package mvcc_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mvkv/mvkv/mvcc"
)

// Undo a mistaken delete: read the key as it was before the mistake
// (TxOptions.AsOf) and write it back. With Options.HistoryRetention every
// version stays readable that long, after a reopen too; a time before it
// fails with ErrHistoryGone.
func ExampleTxOptions_asOf() {
	dir, err := os.MkdirTemp("", "mvkv-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := mvcc.Open(filepath.Join(dir, "app.db"), &mvcc.Options{HistoryRetention: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	key := []byte("invoice/42")

	err = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Put(key, []byte("paid")) })
	if err != nil {
		log.Fatal(err)
	}
	beforeMistake := time.Now() // in real life: "a minute ago", time.Now().Add(-time.Minute)
	err = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Delete(key) })
	if err != nil {
		log.Fatal(err)
	}

	// Read the key as of before the delete...
	past, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: beforeMistake})
	if err != nil {
		log.Fatal(err)
	}
	old, err := past.Get(key)
	_ = past.Rollback()
	if err != nil {
		log.Fatal(err)
	}
	// ...and put it back.
	err = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error { return tx.Put(key, old) })
	if err != nil {
		log.Fatal(err)
	}
	err = db.View(ctx, func(tx *mvcc.Txn) error {
		v, err := tx.Get(key)
		fmt.Printf("%s = %s\n", key, v)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: invoice/42 = paid
}
