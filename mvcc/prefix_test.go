package mvcc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/mvcc"
)

func TestPrefixEnd(t *testing.T) {
	for prefix, want := range map[string][]byte{
		"":              nil,
		"a":             []byte("b"),
		"user/":         []byte("user0"),
		"a\xff":         []byte("b"),
		"\xff\xff":      nil,
		"k\x00":         []byte("k\x01"),
		"x\xfe\xff\xff": []byte("x\xff"),
	} {
		assert.Equal(t, want, mvcc.PrefixEnd([]byte(prefix)), "%q", prefix)
	}
	p := []byte("ab")
	_ = mvcc.PrefixEnd(p)
	assert.Equal(t, []byte("ab"), p, "the prefix is not modified")
}

// A descending scan of the keys with a prefix: ScanReverse up to
// PrefixEnd.
func ExamplePrefixEnd() {
	db, cleanup := exampleDB()
	defer cleanup()
	ctx := context.Background()
	_ = db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, k := range []string{"log/1", "log/2", "log/3", "logz"} {
			if err := tx.Put([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	_ = db.View(ctx, func(tx *mvcc.Txn) error {
		prefix := []byte("log/")
		for k := range tx.ScanReverse(prefix, mvcc.PrefixEnd(prefix)) {
			fmt.Println(string(k))
		}
		return tx.Err()
	})
	// Output:
	// log/3
	// log/2
	// log/1
}
