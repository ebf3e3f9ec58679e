package anomalies_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// expect is what must happen at one level: whether the anomaly occurs,
// and the values or errors that show it.
type expect struct {
	happens bool
	check   func(t *testing.T, o *anomalies.Outcome)
}

func happens(check func(t *testing.T, o *anomalies.Outcome)) expect {
	return expect{happens: true, check: check}
}

func prevented(check func(t *testing.T, o *anomalies.Outcome)) expect {
	return expect{happens: false, check: check}
}

// recorded keeps the latest run of each anomaly at each level, so that
// TestMatrix can reuse the runs the lessons made instead of repeating them.
var recorded = struct {
	sync.Mutex
	m map[string]*anomalies.Result
}{m: make(map[string]*anomalies.Result)}

func recordKey(a *anomalies.Anomaly, column string) string { return a.Test + "/" + column }

// lockingOpts are the options of the locking column's runs. Any step may
// wait there, and the runner gives each one a grace period when it does;
// a step that does not wait takes microseconds, so a short grace keeps
// the column cheap.
var lockingOpts = &anomalies.Options{Grace: 200 * time.Millisecond}

// run runs a at level and records the result.
func run(t *testing.T, a *anomalies.Anomaly, level mvcc.Level) *anomalies.Result {
	t.Helper()
	return runOn(t, a, anomalies.MVKV(level, ""), nil)
}

// runLocking runs a at serializable by two-phase locking and records the
// result.
func runLocking(t *testing.T, a *anomalies.Anomaly) *anomalies.Result {
	t.Helper()
	return runOn(t, a, anomalies.MVKVLocking(""), lockingOpts)
}

func runOn(t *testing.T, a *anomalies.Anomaly, target anomalies.Target, opts *anomalies.Options) *anomalies.Result {
	t.Helper()
	r, err := a.RunOn(target, opts)
	require.NoError(t, err)
	recorded.Lock()
	recorded.m[recordKey(a, target.Name())] = r
	recorded.Unlock()
	return r
}

// recordedOrRun returns a recorded run of a at level, or runs it.
func recordedOrRun(t *testing.T, a *anomalies.Anomaly, level mvcc.Level) *anomalies.Result {
	t.Helper()
	if r := recordedRun(a, level.String()); r != nil {
		return r
	}
	return run(t, a, level)
}

// recordedOrRunLocking is recordedOrRun for the locking column.
func recordedOrRunLocking(t *testing.T, a *anomalies.Anomaly) *anomalies.Result {
	t.Helper()
	if r := recordedRun(a, anomalies.Locking); r != nil {
		return r
	}
	return runLocking(t, a)
}

func recordedRun(a *anomalies.Anomaly, column string) *anomalies.Result {
	recorded.Lock()
	defer recorded.Unlock()
	return recorded.m[recordKey(a, column)]
}

// lesson runs a at every level as subtests and asserts the expectation
// for each level. With -v it prints the lesson: the intro once, each
// level's timeline and verdict, then the explanation once; without -v, a
// failing subtest logs its level's whole lesson.
func lesson(t *testing.T, a *anomalies.Anomaly, want map[mvcc.Level]expect) {
	t.Helper()
	require.Len(t, want, len(anomalies.Levels), "an expectation for every level")
	if testing.Verbose() {
		fmt.Println(a.Intro())
		defer fmt.Print(a.Explanation())
	}
	for _, level := range anomalies.Levels {
		t.Run(level.String(), func(t *testing.T) {
			r := run(t, a, level)
			show(t, r)
			w := want[level]
			if w.happens {
				assert.True(t, r.Happened, "%s must be possible at %v: %s", a.Name, level, r.Evidence)
			} else {
				assert.False(t, r.Happened, "%s must be prevented at %v: %s", a.Name, level, r.Evidence)
			}
			if w.check != nil {
				w.check(t, r.Outcome)
			}
		})
	}
	t.Run(anomalies.Locking, func(t *testing.T) {
		r := runLocking(t, a)
		show(t, r)
		requirePreventedByLocks(t, r)
	})
}

// requirePreventedByLocks checks the locking column's promise: the
// anomaly is prevented (unless it breaks only a promise of snapshots),
// and no transaction fails but as a deadlock victim: locking prevents by
// waits, never by serialization failures.
func requirePreventedByLocks(t *testing.T, r *anomalies.Result) {
	t.Helper()
	assert.Equal(t, r.Anomaly.SnapshotOnly, r.Happened, "%s at serializable by locking: %s", r.Anomaly.Name, r.Evidence)
	for _, s := range r.Outcome.Sessions {
		if err := r.Outcome.Err(s); errors.Is(err, mvcc.ErrConflict) {
			assert.ErrorIs(t, err, mvcc.ErrDeadlock, "under locking, %s may fail only as a deadlock victim", s)
		}
	}
}

// show prints the level's report when the tests run with -v, and logs the
// whole lesson at that level when the test fails otherwise.
func show(t *testing.T, r *anomalies.Result) {
	if testing.Verbose() {
		fmt.Println(r.LevelReport())
		return
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + r.Report())
		}
	})
}

// committed asserts which sessions committed.
func committed(t *testing.T, o *anomalies.Outcome, sessions ...string) {
	t.Helper()
	for _, s := range sessions {
		assert.True(t, o.Committed(s), "%s should have committed (error: %v)", s, o.Err(s))
	}
}

// conflicted asserts the session was stopped by an error matching
// mvcc.ErrConflict.
func conflicted(t *testing.T, o *anomalies.Outcome, session string) {
	t.Helper()
	assert.ErrorIs(t, o.Err(session), mvcc.ErrConflict, "%s should have been stopped by ErrConflict", session)
	assert.False(t, o.Committed(session), "%s must not commit", session)
}

// firstWins checks first-committer-wins: winner committed, loser was
// stopped by ErrConflict, and the final values are kvs (key, value, ...).
func firstWins(winner, loser string, kvs ...string) func(t *testing.T, o *anomalies.Outcome) {
	return func(t *testing.T, o *anomalies.Outcome) {
		t.Helper()
		committed(t, o, winner)
		conflicted(t, o, loser)
		final(t, o, kvs...)
	}
}

// oneConflicted asserts that at least one of the sessions was stopped by
// ErrConflict (which one is the engine's choice) and that the others
// either committed or were stopped by ErrConflict too.
func oneConflicted(t *testing.T, o *anomalies.Outcome, sessions ...string) {
	t.Helper()
	n := 0
	for _, s := range sessions {
		if o.Conflicted(s) {
			n++
		} else {
			assert.True(t, o.Committed(s), "%s neither committed nor got ErrConflict: %v", s, o.Err(s))
		}
	}
	assert.Positive(t, n, "one of %v must be stopped by ErrConflict", sessions)
}

// final asserts final committed values.
func final(t *testing.T, o *anomalies.Outcome, kvs ...string) {
	t.Helper()
	require.Zero(t, len(kvs)%2)
	for i := 0; i < len(kvs); i += 2 {
		assert.Equal(t, kvs[i+1], o.Get(kvs[i]), "final value of %s", kvs[i])
	}
}

// reads asserts the values a session read for key, in order.
func reads(t *testing.T, o *anomalies.Outcome, session, key string, want ...string) {
	t.Helper()
	assert.Equal(t, want, o.Session(session).ReadsOf(key), "%s's reads of %s", session, key)
}

// seesSnapshot is what snapshot and serializable give a reader (T1)
// that another transaction's commit must not disturb: at snapshot both
// commit and T1 saw view; at serializable the same, or T1 got ErrConflict.
func seesSnapshot(view func(t *testing.T, o *anomalies.Outcome)) (snapshot, serializable expect) {
	snapshot = prevented(func(t *testing.T, o *anomalies.Outcome) {
		view(t, o)
		committed(t, o, "T1", "T2")
	})
	return snapshot, prevented(consistentOrAborted("T1", view))
}

// consistentOrAborted is serializable's expectation where SSI may, at its
// choice, abort the reader instead of letting it commit: either the
// reader committed having read what check expects, or it got ErrConflict.
func consistentOrAborted(session string, check func(t *testing.T, o *anomalies.Outcome)) func(t *testing.T, o *anomalies.Outcome) {
	return func(t *testing.T, o *anomalies.Outcome) {
		t.Helper()
		if o.Conflicted(session) {
			return
		}
		committed(t, o, session)
		check(t, o)
	}
}
