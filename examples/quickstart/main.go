// Command quickstart opens a temporary mvkv database, writes and reads a few
// keys at each isolation level, and prints what it saw.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mvkv/mvkv/mvcc"
)

func main() {
	dir, err := os.MkdirTemp("", "mvkv-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := mvcc.Open(filepath.Join(dir, "quickstart.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable} {
		err := db.Update(ctx, level, func(tx *mvcc.Txn) error {
			return tx.Put([]byte("level/"+level.String()), []byte("written at "+level.String()))
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	err = db.View(ctx, func(tx *mvcc.Txn) error {
		for k, v := range tx.Scan([]byte("level/"), nil) {
			fmt.Printf("%s = %s\n", k, v)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", db.Stats())
}
