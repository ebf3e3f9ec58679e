package txn

import "time"

// HorizonHolder returns the horizon and the start time of the active
// transaction that holds it: the one with the oldest snapshot, the oldest
// started among equals. since is zero when no transaction is active. Such
// a transaction is the usual cause of bloat: nothing it might read can be
// vacuumed while it stays open.
func (o *Oracle) HorizonHolder() (horizon uint64, since time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	horizon = o.visible.Load()
	for s := range o.active {
		t := s.ts.Load()
		if t < horizon || (t == horizon && (since.IsZero() || s.Start.Before(since))) {
			horizon, since = t, s.Start
		}
	}
	return horizon, since
}
