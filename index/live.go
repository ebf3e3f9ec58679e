package index

import "bytes"

// AscendLive collects keys under the read lock in chunks and releases it to
// call back the caller between them; each chunk after the first starts
// with a descent from the root (a few cache misses). The first chunk is
// small, for short scans that stop early; later ones are large, for long
// scans, and still bound the time the lock is held to some microseconds.
const (
	firstLiveChunk = 64
	liveChunk      = 512
)

// AscendLive calls fn for each key in [start, end) whose version visible at
// ts exists and is not a tombstone, in ascending order, with that
// version's value. It is Walk without what a plain read does not need
// (invisible keys, tombstones, newer timestamps): each key costs a copy of
// two slices instead of a full Item. The locking rules are Walk's.
func (ix *Index) AscendLive(start, end []byte, ts uint64, fn func(key, value []byte) bool) {
	type kv struct{ key, value []byte }
	var buf [liveChunk]kv
	from, inclusive := start, true
	limit := firstLiveChunk
	for {
		n, more, first := 0, false, true
		var lastKey []byte
		visit := func(c *chain) bool {
			if first {
				first = false
				if !inclusive && bytes.Equal(c.key, from) {
					return true
				}
			}
			if end != nil && bytes.Compare(c.key, end) >= 0 {
				return false
			}
			if n == limit {
				more = true
				return false
			}
			lastKey = c.key
			if v, ok := c.visible(ts); ok && !v.Tombstone {
				buf[n] = kv{c.key, v.Value}
				n++
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
		for i := range n {
			if !fn(buf[i].key, buf[i].value) {
				return
			}
		}
		if !more || lastKey == nil {
			return
		}
		from, inclusive = lastKey, false
		limit = liveChunk
	}
}
