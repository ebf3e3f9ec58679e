package index

import "bytes"

type keyValue struct{ key, value []byte }

// AscendLive calls fn for each key in [start, end) whose version visible at
// ts exists and is not a tombstone, in ascending order, with that
// version's value. It is Walk without what a plain read does not need
// (invisible keys, tombstones, newer timestamps): each key costs a copy of
// two slices instead of a full Item. The locking rules are Walk's.
func (ix *Index) AscendLive(start, end []byte, ts uint64, fn func(key, value []byte) bool) {
	buf := liveBufs.Get().(*[chunk]keyValue)
	used := 0 // entries of buf written so far
	defer func() {
		clear(buf[:used]) // drop the references to keys and values
		liveBufs.Put(buf)
	}()
	from, inclusive := start, true
	limit := firstChunk
	var endProbe entry
	if end != nil {
		endProbe = probe(end)
	}
	for {
		n, more, first := 0, false, true
		var lastKey []byte
		visit := func(e entry) bool {
			if first {
				first = false
				if !inclusive && bytes.Equal(e.key, from) {
					return true
				}
			}
			if end != nil && compare(&e, &endProbe) >= 0 {
				return false
			}
			if n == limit {
				more = true
				return false
			}
			lastKey = e.key
			// entry.visible, spelled out: as a call it costs as much as
			// the rest of the walk.
			if e.top.TS <= ts {
				if !e.top.Tombstone {
					buf[n] = keyValue{e.key, e.top.Value}
					n++
				}
			} else if e.c != nil {
				if v, ok := e.c.visible(ts); ok && !v.Tombstone {
					buf[n] = keyValue{e.key, v.Value}
					n++
				}
			}
			return true
		}
		ix.mu.RLock()
		if from == nil {
			ix.tree.Ascend(visit)
		} else {
			ix.tree.AscendGreaterOrEqual(probe(from), visit)
		}
		ix.mu.RUnlock()
		used = max(used, n)
		for i := range n {
			if !fn(buf[i].key, buf[i].value) {
				return
			}
		}
		if !more || lastKey == nil {
			return
		}
		from, inclusive = lastKey, false
		limit = chunk
	}
}
