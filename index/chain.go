package index

import "sort"

// Version is one committed version of a key. TS is the commit timestamp of
// the transaction that wrote it; Seq orders the writes inside that
// transaction, so (TS, Seq) is unique.
//
// InFile marks a version whose value the index does not hold: it is the
// key's newest committed version, and the file holds it (with its TS).
// Only a chain's newest version can be InFile: a commit that supersedes it
// turns it into a before-image with its value (see Writer.Install).
type Version struct {
	TS        uint64
	Seq       uint32
	Tombstone bool
	InFile    bool
	Value     []byte
}

// chain holds a key's versions in ascending TS order: the newest is last, so
// a commit appends and a visibility lookup scans from the end (the common
// case, a recent snapshot, finds its version in the first step).
//
// spilled says that the key's versions older than those held were moved
// to the version store on disk (Spill): a snapshot older than every
// version held finds its version there. A prune that removes anything
// clears it: every snapshot it serves then has its version in memory, or
// none (see Prune).
type chain struct {
	key      []byte
	versions []Version
	spilled  bool
}

// visible returns the newest version with TS <= ts.
func (c *chain) visible(ts uint64) (Version, bool) {
	for i := len(c.versions) - 1; i >= 0; i-- {
		if c.versions[i].TS <= ts {
			return c.versions[i], true
		}
	}
	return Version{}, false
}

// newer returns the timestamps of the versions above ts, oldest first.
func (c *chain) newer(ts uint64) []uint64 {
	n := len(c.versions)
	if n == 0 || c.versions[n-1].TS <= ts {
		return nil
	}
	i := n
	for i > 0 && c.versions[i-1].TS > ts {
		i--
	}
	out := make([]uint64, 0, n-i)
	for _, v := range c.versions[i:] {
		out = append(out, v.TS)
	}
	return out
}

// add inserts v keeping TS order. Commits arrive in TS order, so this is an
// append in all but test-driven cases; a version that already exists (same
// TS and Seq) is replaced, and returned.
func (c *chain) add(v Version) (old Version, replaced bool) {
	n := len(c.versions)
	if n == 0 || c.versions[n-1].TS < v.TS || (c.versions[n-1].TS == v.TS && c.versions[n-1].Seq < v.Seq) {
		c.versions = append(c.versions, v)
		return old, false
	}
	i := n
	for i > 0 && (c.versions[i-1].TS > v.TS || (c.versions[i-1].TS == v.TS && c.versions[i-1].Seq > v.Seq)) {
		i--
	}
	if i > 0 && c.versions[i-1].TS == v.TS && c.versions[i-1].Seq == v.Seq {
		old = c.versions[i-1]
		c.versions[i-1] = v
		return old, true
	}
	c.versions = append(c.versions, Version{})
	copy(c.versions[i+1:], c.versions[i:])
	c.versions[i] = v
	return old, false
}

// removable returns how many versions, from the oldest, no snapshot at or
// above horizon needs from memory:
//
//   - all of them when the newest has TS <= horizon: every such snapshot
//     sees the newest version, and the file holds it (or, for a
//     tombstone, holds nothing, which reads the same);
//   - otherwise all but the newest version with TS <= horizon, and that
//     one too when it is a tombstone (with nothing older left, the key
//     reads as absent at those snapshots either way).
func (c *chain) removable(horizon uint64) int {
	n := len(c.versions)
	if n == 0 {
		return 0
	}
	if c.versions[n-1].TS <= horizon {
		return n
	}
	keep := sort.Search(n, func(i int) bool { return c.versions[i].TS > horizon }) - 1
	if keep < 0 {
		return 0
	}
	if c.versions[keep].Tombstone {
		return keep + 1
	}
	return keep
}

// prune removes up to limit of the removable versions, oldest first, and
// returns how many it removed; complete reports that nothing removable is
// left. Removing the oldest first keeps every intermediate state a valid
// chain: the newest version is the last to go, so a partial prune never
// turns a deleted key back into a live one. The chain may become empty.
func (c *chain) prune(horizon uint64, limit int) (removed int, complete bool) {
	n := c.removable(horizon)
	if n == 0 {
		return 0, true
	}
	cut := min(n, max(limit, 1))
	// Drop the references so the removed values can be freed, and give the
	// survivors a fresh array once the dead prefix dominates the old one.
	clear(c.versions[:cut])
	c.versions = c.versions[cut:]
	if cap(c.versions) > 2*len(c.versions)+8 {
		c.versions = append([]Version(nil), c.versions...)
	}
	return cut, cut == n
}

// garbage counts the versions that are superseded or deleted: all but the
// newest, and the newest too when it is a tombstone. The one it leaves
// out, a live newest version, is the one the file holds.
func (c *chain) garbage() int64 {
	n := len(c.versions)
	if n == 0 {
		return 0
	}
	g := int64(n - 1)
	if c.versions[n-1].Tombstone {
		g++
	}
	return g
}
