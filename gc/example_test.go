package gc_test

import (
	"context"
	"fmt"

	"github.com/mvkv/mvkv/gc"
	"github.com/mvkv/mvkv/index"
)

type horizon uint64

func (h horizon) Horizon() uint64 { return uint64(h) }

type discard struct{}

func (discard) Delete([]index.Removed) error { return nil }

// A key written three times and another written then deleted: with the
// horizon past every commit, vacuum keeps only the newest live version.
func Example() {
	ix := index.New()
	ix.Add([]byte("a"), index.Version{TS: 1, Value: []byte("a1")})
	ix.Add([]byte("a"), index.Version{TS: 2, Value: []byte("a2")})
	ix.Add([]byte("b"), index.Version{TS: 3, Value: []byte("b1")})
	ix.Add([]byte("a"), index.Version{TS: 4, Value: []byte("a3")})
	ix.Add([]byte("b"), index.Version{TS: 5, Tombstone: true})

	c := gc.New(ix, horizon(5), discard{}, gc.Config{})
	st, _ := c.Vacuum(context.Background())
	fmt.Printf("removed %d versions, %d keys; %d versions left\n", st.VersionsRemoved, st.KeysRemoved, ix.Versions())
	// Output: removed 4 versions, 1 keys; 1 versions left
}
