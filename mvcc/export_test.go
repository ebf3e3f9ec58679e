package mvcc

import "time"

// Check exposes check to the black-box tests, which run it at the end of
// every test through their openers (see checkAtEnd). A closed DB passes.
func Check(db *DB) error {
	if db.closed.Load() {
		return nil
	}
	return db.check()
}

// SetClock replaces the wall clock of history (commit stamps, retention)
// so that tests move time instead of sleeping. Call it before any commit.
func SetClock(db *DB, now func() time.Time) { db.hist.now = now }

// Throttles returns how many times the pipeline waited for the
// checkpointer to shrink the log (throttleLog).
func (db *DB) Throttles() uint64 { return db.stats.throttled.Load() }

// SetBeforesHook has f run in each committer's goroutine after it read
// its before-images, before it queues. Set it before the commits it is
// for, with no commit running.
func SetBeforesHook(db *DB, f func()) { db.testHookBefores = f }
