package index

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// degree of the B-tree: 32 keeps nodes around a cache-friendly size and the
// tree shallow (four levels hold ~1M keys).
const degree = 32

// scanChunk is how many keys a range walk collects under the read lock
// before releasing it to call back the caller.
const scanChunk = 64

// Index maps keys to their version chains. It is safe for concurrent use:
// mu guards tree and every chain in it. Callbacks never run under mu, so
// they may call back into the Index.
type Index struct {
	mu       sync.RWMutex
	tree     *btree.BTreeG[*chain]
	versions int64 // total versions held, tombstones included; guarded by mu
	garbage  int64 // versions superseded or deleted, see Garbage; guarded by mu
	reclaim  reclaimQueue
}

func less(a, b *chain) bool { return bytes.Compare(a.key, b.key) < 0 }

// New returns an empty Index.
func New() *Index {
	return &Index{tree: btree.NewG(degree, less)}
}

// Get returns the version of key visible at ts: the newest with TS <= ts.
// ok is false when there is none (the caller treats a tombstone as absent).
func (ix *Index) Get(key []byte, ts uint64) (v Version, ok bool) {
	probe := chain{key: key}
	ix.mu.RLock()
	c, found := ix.tree.Get(&probe)
	if found {
		v, ok = c.visible(ts)
	}
	ix.mu.RUnlock()
	return v, ok
}

// Latest returns the newest committed version of key, whatever its TS.
func (ix *Index) Latest(key []byte) (v Version, ok bool) {
	probe := chain{key: key}
	ix.mu.RLock()
	c, found := ix.tree.Get(&probe)
	if found {
		v, ok = c.latest()
	}
	ix.mu.RUnlock()
	return v, ok
}

// LatestTS returns the commit timestamp of key's newest version, 0 if none.
func (ix *Index) LatestTS(key []byte) uint64 {
	v, _ := ix.Latest(key)
	return v.TS
}

// Entry is one write to apply: a key and its new version.
type Entry struct {
	Key     []byte
	Version Version
}

// Apply adds versions atomically with respect to readers: a reader sees
// all of them or none. The Index keeps the key and value slices; callers
// must not modify them afterwards.
func (ix *Index) Apply(entries []Entry) {
	ix.mu.Lock()
	for i := range entries {
		ix.addLocked(entries[i].Key, entries[i].Version)
	}
	ix.mu.Unlock()
}

// Add adds one version (see Apply).
func (ix *Index) Add(key []byte, v Version) {
	ix.mu.Lock()
	ix.addLocked(key, v)
	ix.mu.Unlock()
}

func (ix *Index) addLocked(key []byte, v Version) {
	probe := chain{key: key}
	c, found := ix.tree.Get(&probe)
	if !found {
		c = &chain{key: key}
		ix.tree.ReplaceOrInsert(c)
	}
	before, g := len(c.versions), c.garbage()
	c.add(v)
	ix.versions += int64(len(c.versions) - before)
	ix.noteGarbage(c, c.garbage()-g)
}

// Ascend calls fn for each key in [start, end) in ascending order with its
// version visible at ts, skipping keys with none (but not tombstones: fn
// sees them and decides). nil start or end is unbounded. Iteration stops
// when fn returns false. The walk takes the read lock in chunks, never
// while fn runs, so fn may use the Index; a key added or removed during
// the walk may or may not be seen, but versions at or below ts are stable
// as long as the caller's snapshot keeps them from being pruned.
func (ix *Index) Ascend(start, end []byte, ts uint64, fn func(key []byte, v Version) bool) {
	type item struct {
		key []byte
		v   Version
	}
	buf := make([]item, 0, scanChunk)
	from := start
	inclusive := true
	for {
		buf = buf[:0]
		more := false
		visit := func(c *chain) bool {
			if !inclusive && bytes.Equal(c.key, from) {
				return true
			}
			if end != nil && bytes.Compare(c.key, end) >= 0 {
				return false
			}
			if len(buf) == scanChunk {
				more = true
				return false
			}
			if v, ok := c.visible(ts); ok {
				buf = append(buf, item{c.key, v})
			}
			return true
		}
		ix.mu.RLock()
		if from == nil {
			ix.tree.Ascend(visit)
		} else {
			ix.tree.AscendGreaterOrEqual(&chain{key: from}, visit)
		}
		ix.mu.RUnlock()
		for _, it := range buf {
			if !fn(it.key, it.v) {
				return
			}
		}
		if !more {
			return
		}
		from, inclusive = buf[len(buf)-1].key, false
		if len(buf) == 0 {
			return
		}
	}
}

// Len returns the number of keys (chains) held.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.tree.Len()
}

// Versions returns the number of versions held, tombstones included.
func (ix *Index) Versions() int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.versions
}
