package index

// Version is one committed version of a key. TS is the commit timestamp of
// the transaction that wrote it; Seq orders the writes inside that
// transaction, so (TS, Seq) is unique and names the version on disk.
type Version struct {
	TS        uint64
	Seq       uint32
	Tombstone bool
	Value     []byte
}

// chain holds a key's versions in ascending TS order: the newest is last, so
// a commit appends and a visibility lookup scans from the end (the common
// case, a recent snapshot, finds its version in the first step).
type chain struct {
	key      []byte
	versions []Version
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

func (c *chain) latest() (Version, bool) {
	if len(c.versions) == 0 {
		return Version{}, false
	}
	return c.versions[len(c.versions)-1], true
}

// add inserts v keeping TS order. Commits arrive in TS order, so this is an
// append in all but recovery-from-unordered-input cases.
func (c *chain) add(v Version) {
	n := len(c.versions)
	if n == 0 || c.versions[n-1].TS < v.TS || (c.versions[n-1].TS == v.TS && c.versions[n-1].Seq < v.Seq) {
		c.versions = append(c.versions, v)
		return
	}
	i := n
	for i > 0 && (c.versions[i-1].TS > v.TS || (c.versions[i-1].TS == v.TS && c.versions[i-1].Seq > v.Seq)) {
		i--
	}
	if i > 0 && c.versions[i-1].TS == v.TS && c.versions[i-1].Seq == v.Seq {
		c.versions[i-1] = v
		return
	}
	c.versions = append(c.versions, Version{})
	copy(c.versions[i+1:], c.versions[i:])
	c.versions[i] = v
}

// prune removes the versions no snapshot at or above horizon can see: all
// but the newest version with TS <= horizon, and that one too when it is a
// tombstone (a deleted key reads as absent either way). It returns the
// removed versions; the chain may become empty.
func (c *chain) prune(horizon uint64) []Version {
	keep := -1 // index of the newest version at or below the horizon
	for i := len(c.versions) - 1; i >= 0; i-- {
		if c.versions[i].TS <= horizon {
			keep = i
			break
		}
	}
	if keep < 0 {
		return nil
	}
	cut := keep
	if c.versions[keep].Tombstone {
		cut = keep + 1
	}
	if cut == 0 {
		return nil
	}
	removed := make([]Version, cut)
	copy(removed, c.versions[:cut])
	// Copy the survivors to a fresh slice so the removed values can be freed.
	rest := make([]Version, len(c.versions)-cut)
	copy(rest, c.versions[cut:])
	c.versions = rest
	return removed
}
