package gc_test

import (
	"context"
	"fmt"

	"github.com/mvkv/mvkv/gc"
	"github.com/mvkv/mvkv/index"
)

type horizon uint64

func (h horizon) Horizon() uint64 { return uint64(h) }

// A key written three times and another written then deleted: with the
// horizon past every commit, vacuum lets every version go from memory (the
// file holds a's newest), four of them dead for good.
func Example() {
	ix := index.New()
	ix.Write(func(w index.Writer) {
		_ = w.Install([]byte("a"), nil, index.Version{TS: 1, Value: []byte("a1")})
		_ = w.Install([]byte("a"), nil, index.Version{TS: 2, Value: []byte("a2")})
		_ = w.Install([]byte("b"), nil, index.Version{TS: 3, Value: []byte("b1")})
		_ = w.Install([]byte("a"), nil, index.Version{TS: 4, Value: []byte("a3")})
		_ = w.Install([]byte("b"), nil, index.Version{TS: 5, Tombstone: true})
	})

	c := gc.New(ix, horizon(5), gc.Config{})
	st, _ := c.Vacuum(context.Background())
	fmt.Printf("removed %d dead versions, %d keys; released %d; %d versions left\n",
		st.VersionsRemoved, st.KeysRemoved, st.VersionsReleased, ix.Versions())
	// Output: removed 4 dead versions, 1 keys; released 5; 0 versions left
}
