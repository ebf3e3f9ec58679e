package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// degree of the B-tree. Entries are held by value (see entry), so a range
// walk reads a node's entries from one contiguous array; wide nodes make
// those runs long enough for the hardware prefetcher to stream them, and
// keep the tree shallow (three levels hold ~1M keys). An insert moves at
// most a node's worth of entries (255 of 88 bytes).
const degree = 128

// Range walks collect keys under the read lock in chunks and release it to
// call back the caller between them; each chunk after the first starts
// with a descent from the root. The first chunk is small, for short scans
// that stop early; later ones are large, for long scans, and still bound
// the time the lock is held to some microseconds.
const (
	firstChunk = 64
	chunk      = 512
)

// entry is what the B-tree holds for a key, by value: the key, a copy of
// its newest version, and the chain of all its versions (see below for
// keys with one version). Most reads are at a snapshot that sees the
// newest version, and they find it in the tree node itself: a range walk
// streams through the nodes' entry arrays without a pointer dereference
// per key. The copy is kept equal to the
// chain's newest version by every change to the chain (refresh).
//
// The key's first 16 bytes are inline too (p0, p1): comparisons in a
// descent or a walk's bound checks mostly end there, without loading the
// key's bytes from wherever they were allocated.
//
// A key whose only version is top (not a tombstone) has no chain at all
// (c is nil): a key inserted since the last vacuum costs one tree entry.
type entry struct {
	p0, p1 uint64 // prefix(key)
	key    []byte
	top    Version
	c      *chain // nil: top is the only version
}

// probe returns the entry to search the tree for key.
func probe(key []byte) entry {
	p0, p1 := prefix(key)
	return entry{p0: p0, p1: p1, key: key}
}

// compare orders entries by key, as bytes.Compare orders the keys.
func compare(a, b *entry) int {
	switch {
	case a.p0 != b.p0:
		return cmpU64(a.p0, b.p0)
	case a.p1 != b.p1:
		return cmpU64(a.p1, b.p1)
	case len(a.key) > 16 || len(b.key) > 16:
		return bytes.Compare(a.key, b.key)
	}
	// Equal zero-padded prefixes of keys of at most 16 bytes: the shorter
	// key is a prefix of the longer, so it sorts first.
	return cmpU64(uint64(len(a.key)), uint64(len(b.key)))
}

// visible returns the version visible at ts, from the copy when it is.
func (e *entry) visible(ts uint64) (Version, bool) {
	if e.top.TS <= ts {
		return e.top, true
	}
	if e.c == nil {
		return Version{}, false
	}
	return e.c.visible(ts)
}

// newer returns the timestamps of the versions above ts (see chain.newer).
func (e *entry) newer(ts uint64) []uint64 {
	if e.top.TS <= ts {
		return nil
	}
	if e.c == nil {
		return []uint64{e.top.TS}
	}
	return e.c.newer(ts)
}

// chain returns e's chain, making one for a key that has none.
func (e *entry) chain() *chain {
	if e.c == nil {
		return &chain{key: e.key, versions: []Version{e.top}}
	}
	return e.c
}

// Index maps keys to their version chains. It is safe for concurrent use:
// mu guards tree and every chain in it. Callbacks never run under mu, so
// they may call back into the Index.
type Index struct {
	mu       rwLock
	tree     *btree.BTreeG[entry]
	versions atomic.Int64  // versions held, tombstones included; written under mu
	maxTS    atomic.Uint64 // the highest TS of any version added (see MaxTS); written under mu
	garbage  int64         // versions superseded or deleted, see Garbage; guarded by mu
	reclaim  reclaimQueue
	applied  atomic.Uint64 // see SetApplied
	bytes    atomic.Int64  // heap the held versions cost, see memory.go; written under mu
	// queueBytes is the reclaim queue's heap (reclaim.go); written under mu.
	queueBytes atomic.Int64
	// spillAt is where the next Spill resumes its walk (nil: the first
	// key). Guarded by mu.
	spillAt []byte
}

func less(a, b entry) bool { return compare(&a, &b) < 0 }

// lookup returns key's entry. Called with ix.mu held.
func (ix *Index) lookup(key []byte) (entry, bool) {
	return ix.tree.Get(probe(key))
}

// refresh makes the tree's entry for c match the chain after a change:
// gone when the chain is empty, else carrying its newest version, and
// without the chain when that is the only version left (and not a
// tombstone). Called with ix.mu held for writing.
func (ix *Index) refresh(c *chain) {
	n := len(c.versions)
	if n == 0 {
		if _, found := ix.tree.Delete(probe(c.key)); found {
			ix.bytes.Add(-entryCost(c.key))
		}
		return
	}
	e := probe(c.key)
	e.top = c.versions[n-1]
	if n > 1 || e.top.Tombstone || c.spilled {
		e.c = c
	}
	if _, replaced := ix.tree.ReplaceOrInsert(e); !replaced {
		ix.bytes.Add(entryCost(c.key))
	}
}

// New returns an empty Index.
func New() *Index {
	ix := &Index{tree: btree.NewG(degree, less)}
	ix.applied.Store(^uint64(0))
	return ix
}

// SetApplied tells the index that the file's data holds every commit up
// to ts and none after it: Prune never lets a key go whose newest version
// is after ts, since no reader could find it in the file. Until it is
// called, the file is taken to hold every commit.
func (ix *Index) SetApplied(ts uint64) { ix.applied.Store(ts) }

// Find returns the version of key visible at ts: the newest with TS <= ts.
// held reports whether the index holds key at all; when it does, its
// answer is the whole truth for ts (visible false: the key is absent at
// ts), and when it does not, the file's newest version is what every
// snapshot at or above the horizon sees, or, for a key spilled out whole
// (see spill.go), what the snapshots at or above it see. A visible version may be InFile:
// its value is then the file's.
func (ix *Index) Find(key []byte, ts uint64) (v Version, visible, held bool) {
	rs := ix.mu.RLock()
	e, held := ix.lookup(key)
	if held {
		v, visible = e.visible(ts)
	}
	ix.mu.RUnlock(rs)
	return v, visible, held
}

// LatestTS returns the commit timestamp of key's newest version held, 0 if
// the index holds none (then every version of key is at or below the
// horizon it was pruned at).
func (ix *Index) LatestTS(key []byte) uint64 {
	rs := ix.mu.RLock()
	e, found := ix.lookup(key)
	ix.mu.RUnlock(rs)
	if !found {
		return 0
	}
	return e.top.TS
}

// Entry is one write to apply: a key and its new version.
type Entry struct {
	Key     []byte
	Version Version
}

// errBeforeImage reports a before-image that does not match the version
// the index holds as the file's.
var errBeforeImage = errors.New("index: the file's version of the key is not the one the index holds")

// addLocked adds v to key's chain. before is the key's newest version in
// the file, with its value (nil: absent there), when the caller read it: a
// key the index does not hold starts its chain with it, and a newest
// version held as InFile takes its value, so that snapshots older than v
// keep reading it. Called with ix.mu held for writing.
func (ix *Index) addLocked(key []byte, before *Version, v Version) error {
	if v.TS > ix.maxTS.Load() {
		// Before the version is in the tree: a reader that finds it there
		// finds the mark too.
		ix.maxTS.Store(v.TS)
	}
	e, found := ix.lookup(key)
	if !found && before == nil && !v.Tombstone {
		// A new key: one version, no chain.
		e = probe(key)
		e.top = v
		ix.tree.ReplaceOrInsert(e)
		ix.bytes.Add(entryCost(key) + versionCost(v))
		ix.versions.Add(1)
		ix.reclaim.push(e.key, v.TS, 1)
		ix.compactReclaim(compactPerPush)
		return nil
	}
	var c *chain
	added := int64(1)
	switch {
	case found:
		c = e.chain()
		if top := &c.versions[len(c.versions)-1]; top.InFile && (v.TS > top.TS || v.TS == top.TS && v.Seq > top.Seq) {
			if before == nil || before.TS != top.TS || before.Tombstone {
				return fmt.Errorf("%w (key %q at ts %d)", errBeforeImage, key, top.TS)
			}
			*top = Version{TS: top.TS, Seq: top.Seq, Value: before.Value}
			ix.bytes.Add(int64(len(before.Value)))
		}
	default:
		c = &chain{key: key}
		if before != nil {
			b := *before
			b.InFile = false
			c.versions = append(c.versions, b)
			ix.bytes.Add(versionCost(b))
			added++
			// The key may have left memory with its older versions on
			// disk (Spill): a reader older than the before-image looks
			// there. Otherwise every reader is at or above it (the horizon
			// passed it when the key left), or the before-image is the
			// key's first version, which its writer never put in memory
			// (mvcc leaves a bulk load's new keys out): a reader older
			// than it finds nothing on disk, as it should, for the cost
			// of that look.
			c.spilled = true
		}
	}
	before0, g := len(c.versions), c.garbage()
	if old, replaced := c.add(v); replaced {
		ix.bytes.Add(-versionCost(old))
	}
	ix.bytes.Add(versionCost(v))
	ix.versions.Add(int64(len(c.versions)-before0) + added - 1)
	ix.garbage += c.garbage() - g
	ix.reclaim.push(c.key, c.versions[len(c.versions)-1].TS, added)
	ix.refresh(c)
	ix.compactReclaim(compactPerPush)
	return nil
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
	// Older reports, when no version is Visible, that versions older than
	// those held went to the version store on disk (Spill): the one
	// visible at ts, if any, is there. Without it, nothing visible means
	// the key is absent at ts.
	Older bool
}

// itemBufs holds the chunk buffers of Walk: allocating one per scan would
// cost more than the scan of a short range.
var itemBufs = sync.Pool{New: func() any { b := make([]Item, 0, chunk); return &b }}

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
	ix.walk(start, end, ts, newer, false, fn)
}

// WalkDesc is Walk in descending order: the keys of [start, end) from the
// last down.
func (ix *Index) WalkDesc(start, end []byte, ts uint64, newer bool, fn func(Item) bool) {
	ix.walk(start, end, ts, newer, true, fn)
}

// WalkUnsettled is Walk (WalkDesc when desc) that leaves out the keys
// whose newest version has TS <= settled: a caller that knows what those
// read as elsewhere (mvcc's scans pass settled at or below both their
// snapshot and the mark the file they read holds every commit up to, so
// that such a key reads as the file's record) meets only the keys it must
// merge, and pays a comparison, not a callback, for each other key.
// settled 0 leaves nothing out.
func (ix *Index) WalkUnsettled(start, end []byte, ts, settled uint64, newer, desc bool, fn func(Item) bool) {
	ix.walkSettled(start, end, ts, settled, newer, desc, fn)
}

func (ix *Index) walk(start, end []byte, ts uint64, newer, desc bool, fn func(Item) bool) {
	ix.walkSettled(start, end, ts, 0, newer, desc, fn)
}

// skipPerChunk bounds the keys a walk leaves out (WalkUnsettled) under one
// hold of the read lock, as limit bounds those it collects.
const skipPerChunk = 4 * chunk

func (ix *Index) walkSettled(start, end []byte, ts, settled uint64, newer, desc bool, fn func(Item) bool) {
	bp := itemBufs.Get().(*[]Item)
	buf := (*bp)[:0]
	used := 0 // items of buf written so far
	defer func() {
		clear(buf[:used]) // drop the references to keys and values
		*bp = buf[:0]
		itemBufs.Put(bp)
	}()
	// A chunk resumes at from: ascending, at start (included), then after
	// the last key passed on; descending, below end, then below the last
	// key passed on (from is always excluded).
	from, inclusive, bound := start, true, end
	if desc {
		from, inclusive, bound = end, false, start
	}
	limit := firstChunk
	var boundProbe entry
	if bound != nil {
		boundProbe = probe(bound)
	}
	for {
		buf = buf[:0]
		more := false
		first := true
		skips := 0
		var last []byte // the last key the chunk took or left out
		visit := func(e entry) bool {
			// Resuming at from: only the first key met can be from
			// itself (it may also be gone, then the first is past it).
			if first {
				first = false
				if !inclusive && bytes.Equal(e.key, from) {
					return true
				}
			}
			if bound != nil {
				if c := compare(&e, &boundProbe); !desc && c >= 0 || desc && c < 0 {
					return false
				}
			}
			if len(buf) == limit || skips == skipPerChunk {
				more = true
				return false
			}
			last = e.key
			if e.top.TS <= settled {
				skips++
				return true
			}
			// entry.visible and entry.newer, spelled out for the common
			// case: as calls they cost as much as the rest of the walk.
			if e.top.TS <= ts {
				buf = append(buf, Item{Key: e.key, Version: e.top, Visible: true})
				return true
			}
			it := Item{Key: e.key}
			if e.c != nil {
				it.Version, it.Visible = e.c.visible(ts)
				it.Older = !it.Visible && e.c.spilled
			}
			if newer {
				it.Newer = e.newer(ts)
			}
			buf = append(buf, it)
			return true
		}
		rs := ix.mu.RLock()
		switch {
		case from == nil && !desc:
			ix.tree.Ascend(visit)
		case from == nil:
			ix.tree.Descend(visit)
		case !desc:
			ix.tree.AscendGreaterOrEqual(probe(from), visit)
		default:
			ix.tree.DescendLessOrEqual(probe(from), visit)
		}
		ix.mu.RUnlock(rs)
		used = max(used, len(buf))
		for _, it := range buf {
			if !fn(it) {
				return
			}
		}
		if !more || last == nil {
			return
		}
		from, inclusive = last, false
		limit = chunk
	}
}

// Lookup is Find that also returns the commit timestamps of the versions
// newer than ts (nil when none): what a serializable reader must know of
// the writes it did not see.
func (ix *Index) Lookup(key []byte, ts uint64) (v Version, visible, held bool, newer []uint64) {
	if ix.versions.Load() == 0 {
		// Nothing held (the common case for data at rest): no lock. A
		// version added meanwhile is one a caller must be ready to meet
		// after the call anyway.
		return v, false, false, nil
	}
	rs := ix.mu.RLock()
	e, held := ix.lookup(key)
	if held {
		v, visible = e.visible(ts)
		newer = e.newer(ts)
	}
	ix.mu.RUnlock(rs)
	return v, visible, held, newer
}

// LookupItem is Lookup that also says, when nothing is visible, whether
// older versions of key are on disk (Item.Older).
func (ix *Index) LookupItem(key []byte, ts uint64) (it Item, held bool) {
	if ix.versions.Load() == 0 {
		return it, false
	}
	rs := ix.mu.RLock()
	e, held := ix.lookup(key)
	if held {
		it.Version, it.Visible = e.visible(ts)
		it.Newer = e.newer(ts)
		it.Older = !it.Visible && e.c != nil && e.c.spilled
	}
	ix.mu.RUnlock(rs)
	return it, held
}

// Writer adds versions under the Index's write lock (see Write).
type Writer struct{ ix *Index }

// Install adds v, a new committed version of key, and records before, the
// key's newest version in the file with its value (nil when the file does
// not hold the key), as the version snapshots older than v still read. It
// fails, changing nothing, when before does not match the version the
// index holds as the file's.
func (w Writer) Install(key []byte, before *Version, v Version) error {
	return w.ix.addLocked(key, before, v)
}

// Newest returns key's newest version held, and whether the index holds
// key, including versions added earlier in the same Write.
func (w Writer) Newest(key []byte) (Version, bool) {
	e, ok := w.ix.lookup(key)
	return e.top, ok
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
// empty. It undoes an Install whose versions could not be persisted; a
// before-image it recorded stays, as the key's newest version, with its
// value: it is what the file still holds.
func (ix *Index) Remove(entries []Entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, en := range entries {
		e, found := ix.lookup(en.Key)
		if !found {
			continue
		}
		c := e.chain()
		g := c.garbage()
		for i, v := range c.versions {
			if v.TS == en.Version.TS && v.Seq == en.Version.Seq {
				c.versions = append(c.versions[:i:i], c.versions[i+1:]...)
				ix.versions.Add(-1)
				ix.bytes.Add(-versionCost(v))
				break
			}
		}
		// The reclaim queue keeps its entry for the removed version: a
		// stale entry costs a skipped step in Prune, nothing more.
		ix.garbage += c.garbage() - g
		ix.refresh(c)
	}
}

// Len returns the number of keys held.
func (ix *Index) Len() int {
	rs := ix.mu.RLock()
	defer ix.mu.RUnlock(rs)
	return ix.tree.Len()
}

// Versions returns the number of versions held, tombstones included. It
// takes no lock.
func (ix *Index) Versions() int64 { return ix.versions.Load() }

// MaxTS returns the highest commit timestamp of any version ever added
// (0 when none was): every key the index holds has its newest version at
// or below it, so a WalkUnsettled whose settled is at or above it would
// leave out every key, and need not run. It takes no lock.
func (ix *Index) MaxTS() uint64 { return ix.maxTS.Load() }

// prefix returns the first 16 bytes of key, zero-padded, as two integers
// whose order is the bytes' order.
func prefix(key []byte) (p0, p1 uint64) {
	if len(key) >= 16 {
		return binary.BigEndian.Uint64(key), binary.BigEndian.Uint64(key[8:])
	}
	var b [16]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
