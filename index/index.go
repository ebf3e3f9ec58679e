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
// when fn returns false. See Walk for the locking rules.
func (ix *Index) Ascend(start, end []byte, ts uint64, fn func(key []byte, v Version) bool) {
	ix.Walk(start, end, ts, false, func(it Item) bool {
		if !it.Visible {
			return true
		}
		return fn(it.Key, it.Version)
	})
}

// Item is one key met by Walk.
type Item struct {
	Key     []byte
	Version Version // the version visible at the walk's ts, if Visible
	Visible bool
	// Newer lists the commit timestamps of the key's versions above the
	// walk's ts, oldest first (nil when there are none). A serializable
	// reader learns from it which transactions wrote what it did not see.
	Newer []uint64
}

// Walk calls fn for every key in [start, end) in ascending order, whether
// or not a version is visible at ts (a key created after ts shows up with
// Visible false and Newer set: the phantom a serializable scan must know
// about). Newer is filled in only when newer is true. Iteration stops
// when fn returns false.
//
// The walk takes the read lock in chunks and never while fn runs, so fn
// may use the Index. A key added or removed during the walk may or may not
// be seen, but versions at or below ts are stable as long as the caller's
// snapshot keeps them from being pruned.
func (ix *Index) Walk(start, end []byte, ts uint64, newer bool, fn func(Item) bool) {
	buf := make([]Item, 0, scanChunk)
	from := start
	inclusive := true
	for {
		buf = buf[:0]
		more := false
		first := true
		visit := func(c *chain) bool {
			// Resuming after from: only the first key met can be from
			// itself (it may also be gone, then the first is past it).
			if first {
				first = false
				if !inclusive && bytes.Equal(c.key, from) {
					return true
				}
			}
			if end != nil && bytes.Compare(c.key, end) >= 0 {
				return false
			}
			if len(buf) == scanChunk {
				more = true
				return false
			}
			it := Item{Key: c.key}
			it.Version, it.Visible = c.visible(ts)
			if newer {
				it.Newer = c.newer(ts)
			}
			buf = append(buf, it)
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
			if !fn(it) {
				return
			}
		}
		if !more || len(buf) == 0 {
			return
		}
		from, inclusive = buf[len(buf)-1].Key, false
	}
}

// Lookup returns the version of key visible at ts (like Get) and the
// commit timestamps of the versions newer than ts (nil when none).
func (ix *Index) Lookup(key []byte, ts uint64) (v Version, ok bool, newer []uint64) {
	probe := chain{key: key}
	ix.mu.RLock()
	c, found := ix.tree.Get(&probe)
	if found {
		v, ok = c.visible(ts)
		newer = c.newer(ts)
	}
	ix.mu.RUnlock()
	return v, ok, newer
}

// Writer adds versions under the Index's write lock (see Write).
type Writer struct{ ix *Index }

// Add adds one version.
func (w Writer) Add(key []byte, v Version) { w.ix.addLocked(key, v) }

// LatestTS returns the commit timestamp of key's newest version, 0 if none,
// including versions added earlier in the same Write.
func (w Writer) LatestTS(key []byte) uint64 {
	probe := chain{key: key}
	if c, ok := w.ix.tree.Get(&probe); ok {
		v, _ := c.latest()
		return v.TS
	}
	return 0
}

// Write runs fn under the write lock. Readers see all of fn's additions or
// none, and a reader's lookup happens entirely before or entirely after
// fn: whatever fn decides from other state is atomic with its additions
// as far as readers of the Index can tell. fn must not call other Index
// methods.
func (ix *Index) Write(fn func(w Writer)) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	fn(Writer{ix})
}

// Remove takes out the named versions (key, TS, Seq), dropping chains left
// empty. It undoes an Apply whose versions could not be persisted.
func (ix *Index) Remove(entries []Entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, e := range entries {
		probe := chain{key: e.Key}
		c, found := ix.tree.Get(&probe)
		if !found {
			continue
		}
		g := c.garbage()
		for i, v := range c.versions {
			if v.TS == e.Version.TS && v.Seq == e.Version.Seq {
				c.versions = append(c.versions[:i:i], c.versions[i+1:]...)
				ix.versions--
				break
			}
		}
		// The reclaim queue keeps its entry for the removed version: a
		// stale entry costs a skipped step in Prune, nothing more.
		ix.garbage += c.garbage() - g
		if len(c.versions) == 0 {
			ix.tree.Delete(c)
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
