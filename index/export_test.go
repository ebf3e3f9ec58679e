package index

// Test conveniences: compiled only into this package's tests (internal
// and external), they are no part of the package's API. The engine adds
// versions with Write and Install, and walks with Walk and WalkDesc.

// Apply adds versions (without before-images) atomically with respect to readers: a reader sees
// all of them or none. The Index keeps the key and value slices; callers
// must not modify them afterwards.
func (ix *Index) Apply(entries []Entry) {
	ix.mu.Lock()
	for i := range entries {
		ix.addLocked(entries[i].Key, nil, entries[i].Version)
	}
	ix.mu.Unlock()
}

// Add adds one version (see Apply).
func (ix *Index) Add(key []byte, v Version) {
	ix.mu.Lock()
	ix.addLocked(key, nil, v)
	ix.mu.Unlock()
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

// ReclaimLive returns the number of reclaim queue entries not consumed.
func (ix *Index) ReclaimLive() int {
	rs := ix.mu.RLock()
	defer ix.mu.RUnlock(rs)
	return ix.reclaim.live()
}
