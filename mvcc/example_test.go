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

// exampleDB opens a database in a fresh temporary directory; cleanup
// closes it and removes the directory.
func exampleDB() (db *mvcc.DB, cleanup func()) {
	dir, err := os.MkdirTemp("", "mvkv-example-")
	if err != nil {
		log.Fatal(err)
	}
	db, err = mvcc.Open(filepath.Join(dir, "example.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { _ = db.Close(); _ = os.RemoveAll(dir) }
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "mvkv-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.db")

	// nil options: every commit is fsynced before Commit returns.
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

	// Reopening rebuilds everything committed.
	db, err = mvcc.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx *mvcc.Txn) error {
		v, err := tx.Get([]byte("greeting"))
		fmt.Printf("%s\n", v)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: hello
}

func ExampleDB_Update() {
	db, cleanup := exampleDB()
	defer cleanup()
	ctx := context.Background()

	// Move 30 from alice to bob. Under Snapshot, a concurrent transfer
	// touching the same accounts makes one of the two conflict; Update
	// then runs the function again on a fresh snapshot.
	transfer := func(tx *mvcc.Txn) error {
		var alice, bob int
		for key, dst := range map[string]*int{"alice": &alice, "bob": &bob} {
			v, err := tx.Get([]byte(key))
			if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
				return err
			}
			fmt.Sscan(string(v), dst)
		}
		if alice < 30 {
			return errors.New("insufficient funds")
		}
		if err := tx.Put([]byte("alice"), []byte(fmt.Sprint(alice-30))); err != nil {
			return err
		}
		return tx.Put([]byte("bob"), []byte(fmt.Sprint(bob+30)))
	}
	err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("alice"), []byte("50"))
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(db.Update(ctx, mvcc.Snapshot, transfer))
	// An error from the function rolls the transaction back and comes back
	// unchanged.
	fmt.Println(db.Update(ctx, mvcc.Snapshot, transfer))

	_ = db.View(ctx, func(tx *mvcc.Txn) error {
		for k, v := range tx.Scan(nil, nil) {
			fmt.Printf("%s=%s\n", k, v)
		}
		return nil
	})
	// Output:
	// <nil>
	// insufficient funds
	// alice=20
	// bob=30
}

func ExampleDB_View() {
	db, cleanup := exampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("color"), []byte("blue"))
	})

	// View reads one snapshot: a commit made while it runs is not seen.
	err := db.View(ctx, func(tx *mvcc.Txn) error {
		_ = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			return tx.Put([]byte("color"), []byte("green"))
		})
		v, err := tx.Get([]byte("color"))
		if err != nil {
			return err
		}
		fmt.Printf("inside View: %s\n", v)
		// Writes are rejected.
		fmt.Println(tx.Put([]byte("color"), []byte("red")))
		_, err = tx.Get([]byte("size"))
		fmt.Println(errors.Is(err, mvcc.ErrNotFound))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = db.View(ctx, func(tx *mvcc.Txn) error {
		v, _ := tx.Get([]byte("color"))
		fmt.Printf("after: %s\n", v)
		return nil
	})
	// Output:
	// inside View: blue
	// mvkv: transaction is read-only
	// true
	// after: green
}

func ExampleTxn_Scan() {
	db, cleanup := exampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, fruit := range []string{"apple", "banana", "cherry", "date", "elderberry"} {
			if err := tx.Put([]byte("fruit/"+fruit), []byte(fmt.Sprint(len(fruit)))); err != nil {
				return err
			}
		}
		return tx.Put([]byte("veg/leek"), []byte("4"))
	})

	tx, err := db.Begin(mvcc.Snapshot)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	// The transaction's own uncommitted writes are part of its scans.
	_ = tx.Delete([]byte("fruit/banana"))
	_ = tx.Put([]byte("fruit/blueberry"), []byte("9"))

	// [start, end): start inclusive, end exclusive, keys in byte order.
	for k, v := range tx.Scan([]byte("fruit/"), []byte("fruit/d")) {
		fmt.Printf("%s=%s\n", k, v)
	}
	// Breaking out early is fine; nil bounds are unbounded.
	for k := range tx.Scan([]byte("fruit/c"), nil) {
		fmt.Printf("first from c: %s\n", k)
		break
	}
	// Output:
	// fruit/apple=5
	// fruit/blueberry=9
	// fruit/cherry=6
	// first from c: fruit/cherry
}

// Serializable by two-phase locking, run by UpdateTx: the read takes a
// shared lock that another writer of the key waits for, so the check and
// the write it guards cannot be overtaken; conflicts are waits, and at
// worst a deadlock victim, which UpdateTx retries like any conflict.
func ExampleDB_UpdateTx() {
	db, cleanup := exampleDB()
	defer cleanup()
	ctx := context.Background()
	if err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("seats"), []byte("1"))
	}); err != nil {
		log.Fatal(err)
	}

	book := func(tx *mvcc.Txn) error {
		seats, err := tx.Get([]byte("seats")) // shared lock until the end
		if err != nil {
			return err
		}
		if string(seats) == "0" {
			return errors.New("sold out")
		}
		return tx.Put([]byte("seats"), []byte("0")) // upgraded to exclusive
	}
	locking := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	fmt.Println(db.UpdateTx(ctx, locking, book))
	fmt.Println(db.UpdateTx(ctx, locking, book))

	// Locking is serializable's alternative to SSI; with any other level
	// it is refused.
	err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, Locking: true}, book)
	fmt.Println(errors.Is(err, mvcc.ErrInvalidLevel))
	// Output:
	// <nil>
	// sold out
	// true
}

// A serializable read-only transaction, run by ViewTx: unlike View
// (Snapshot), it never observes a state that no serial order of the
// serializable writers produces; when SSI finds it would, ViewTx runs the
// function again on a newer snapshot.
func ExampleDB_ViewTx() {
	db, cleanup := exampleDB()
	defer cleanup()
	ctx := context.Background()
	if err := db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		if err := tx.Put([]byte("checking"), []byte("70")); err != nil {
			return err
		}
		return tx.Put([]byte("savings"), []byte("30"))
	}); err != nil {
		log.Fatal(err)
	}

	var total int
	err := db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, func(tx *mvcc.Txn) error {
		total = 0
		for _, v := range tx.Scan(nil, nil) {
			var n int
			fmt.Sscan(string(v), &n)
			total += n
		}
		return tx.Err()
	})
	fmt.Println(total, err)
	// Output: 100 <nil>
}
