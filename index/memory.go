package index

// Memory accounting.
//
// The index counts the heap its versions cost (Bytes): each version's
// value and a fixed overhead per version (the Version in its chain) and
// per key (the tree entry, the chain, the key), and the reclaim queue's
// entries (reclaim.go). The figures are estimates
// of what the Go heap holds for them, kept exact against themselves: every
// change to the tree or a chain adds or subtracts its own cost, so Bytes
// returns to its start when the index empties. The engine compares Bytes
// with its memory limit to decide when to spill (spill.go).

const (
	// versionOverhead is a Version's size in a chain's array, rounded up
	// for the array's spare capacity.
	versionOverhead = 64
	// entryOverhead is a tree entry (88 bytes by value, in a node about
	// half full on average) and a chain header.
	entryOverhead = 176
)

func versionCost(v Version) int64 { return versionOverhead + int64(len(v.Value)) }

func entryCost(key []byte) int64 { return entryOverhead + int64(len(key)) }

// Bytes returns the estimated heap the index's keys and versions cost,
// values included, and its reclaim queue's (reclaim.go). It takes no lock.
func (ix *Index) Bytes() int64 { return ix.bytes.Load() + ix.queueBytes.Load() }
