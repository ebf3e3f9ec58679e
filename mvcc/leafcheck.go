package mvcc

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/boltfile"
)

// leafCheck is boltfile.LeafCheck (a leaf page yields all its records:
// see there) with its findings reported as ErrCorrupt.
type leafCheck struct{ c boltfile.LeafCheck }

// newLeafCheck returns a check for cursors of b, in a transaction of bdb
// (which must be open: the mapping does not move while it is).
func newLeafCheck(bdb *bolt.DB, b *bolt.Bucket) leafCheck {
	return leafCheck{boltfile.NewLeafCheck(bdb, b)}
}

func addr(b []byte) uintptr { return boltfile.Addr(b) }

func corruptLeaf(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

func (lc *leafCheck) start(c *bolt.Cursor, k, v []byte) { lc.c.Start(c, k, v) }
func (lc *leafCheck) next(k, v []byte) error            { return corruptLeaf(lc.c.Next(k, v)) }
func (lc *leafCheck) pageDone() error                   { return corruptLeaf(lc.c.PageDone()) }
func (lc *leafCheck) startDesc()                        { lc.c.StartDesc() }
func (lc *leafCheck) prev(k, v []byte) error            { return corruptLeaf(lc.c.Prev(k, v)) }
func (lc *leafCheck) gap(key, before, after []byte) error {
	return corruptLeaf(lc.c.Gap(key, before, after))
}
func (lc *leafCheck) edge(k []byte, desc bool) error    { return corruptLeaf(lc.c.Edge(k, desc)) }
func (lc *leafCheck) step(k, v []byte, desc bool) error { return corruptLeaf(lc.c.Step(k, v, desc)) }
