package anomalies_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// The runner asks a LockWaiter whether a step that runs past the grace
// period waits for a lock. Here the "lock" is a channel that a later step
// closes, and the store's transactions answer with probe: the steps
// finish only once the runner has asked, so that the outcomes cannot
// depend on how long anything takes.

// probing is mvkv at snapshot whose transactions are LockWaiters that
// answer with probe. slowBegin delays every Begin.
func probing(probe func() (bool, error), writesWait bool, slowBegin time.Duration) anomalies.Target {
	t := anomalies.MVKV(mvcc.Snapshot, "")
	open := t.Open
	t.Engine, t.Level, t.WritesWait = "probing", "snapshot", writesWait
	t.Open = func() (anomalies.Store, error) {
		s, err := open()
		if err != nil {
			return nil, err
		}
		return &probingStore{Store: s, probe: probe, slowBegin: slowBegin}, nil
	}
	return t
}

type probingStore struct {
	anomalies.Store
	probe     func() (bool, error)
	slowBegin time.Duration
}

func (s *probingStore) Begin(ctx context.Context, readOnly bool) (anomalies.Tx, error) {
	time.Sleep(s.slowBegin)
	tx, err := s.Store.Begin(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	return probingTx{tx, s.probe}, nil
}

type probingTx struct {
	anomalies.Tx
	probe func() (bool, error)
}

func (t probingTx) WaitsForLock(context.Context) (bool, error) { return t.probe() }

// tiny makes every step that may wait run past the grace period.
var tiny = &anomalies.Options{Grace: time.Microsecond, Stuck: 5 * time.Second}

// A step that runs past the grace period without waiting for a lock (a
// slow statement on a loaded machine) is waited for and recorded done: the
// script does not go on without it.
func TestRunSlowStepThatDoesNotWaitIsDone(t *testing.T) {
	for _, writesWait := range []bool{false, true} {
		release := make(chan struct{})
		var asked atomic.Int32
		probe := func() (bool, error) {
			if asked.Add(1) == 3 { // asked again while it runs
				close(release)
			}
			return false, nil
		}
		o, err := anomalies.RunOn(&anomalies.Scenario{Steps: []anomalies.Step{
			wait("T1", "slow", release),
			anomalies.Write("T2", "k", "2"),
			anomalies.Commit("T2"),
			anomalies.Commit("T1"),
		}}, probing(probe, writesWait, 0), tiny)
		require.NoError(t, err)
		assert.Equal(t, []row{
			{1, "T1", anomalies.Done, "released"},
			{2, "T2", anomalies.Done, "ok"},
			{3, "T2", anomalies.Done, "ok"},
			{4, "T1", anomalies.Done, "ok"},
		}, rows(o), "WritesWait %v", writesWait)
		assert.False(t, o.WasBlocked("T1"))
		assert.GreaterOrEqual(t, asked.Load(), int32(3))
	}
}

// A step whose transaction says it waits is blocked, even if it did not
// at the first question; it resumes when its transaction says it waits no
// longer, however long it then takes to finish.
func TestRunStepThatWaitsForALockIsBlocked(t *testing.T) {
	release, finish := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	asked, released, finished := 0, false, false
	probe := func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		switch {
		case asked == 1:
			return false, nil // not waiting yet
		case !released:
			return true, nil
		case !finished:
			finished = true
			close(finish) // the lock is granted, the step goes on
		}
		return false, nil
	}
	slow := anomalies.Do("T1", "wait", func(*anomalies.Session) (string, error) {
		<-release
		<-finish
		return "released", nil
	})
	slow.MayWait = true
	unlock := anomalies.Do("T2", "unlock", func(*anomalies.Session) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		released = true
		close(release)
		return "ok", nil
	})
	o, err := anomalies.RunOn(&anomalies.Scenario{Steps: []anomalies.Step{
		slow,
		unlock,
		anomalies.Commit("T2"),
		anomalies.Commit("T1"),
	}}, probing(probe, false, 0), tiny)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{1, "T1", anomalies.Blocked, ""},
		{2, "T2", anomalies.Done, "ok"},
		{3, "T2", anomalies.Done, "ok"},
		{1, "T1", anomalies.Resumed, "released"},
		{4, "T1", anomalies.Done, "ok"},
	}, rows(o))
	assert.Equal(t, "T2", o.Events[3].By)
}

// Begin waits for no one: a slow one is waited for.
func TestRunSlowBeginIsNotBlocked(t *testing.T) {
	o, err := anomalies.RunOn(&anomalies.Scenario{Steps: []anomalies.Step{
		anomalies.Write("T1", "k", "1"),
		anomalies.Commit("T1"),
	}}, probing(func() (bool, error) { return false, nil }, true, 20*time.Millisecond), tiny)
	require.NoError(t, err)
	assert.Equal(t, []row{{1, "T1", anomalies.Done, "ok"}, {2, "T1", anomalies.Done, "ok"}}, rows(o))
}

func TestRunLockWaiterErrors(t *testing.T) {
	ch := make(chan struct{})
	defer close(ch)
	// The step never finishes: the runner abandons it after Stuck.
	short := &anomalies.Options{Grace: time.Microsecond, Stuck: 50 * time.Millisecond}
	boom := errors.New("boom")
	_, err := anomalies.RunOn(&anomalies.Scenario{Steps: []anomalies.Step{wait("T1", "wait", ch)}},
		probing(func() (bool, error) { return false, boom }, false, 0), short)
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "step 1")

	// A step that waits for no lock and never finishes is stuck.
	_, err = anomalies.RunOn(&anomalies.Scenario{Steps: []anomalies.Step{wait("T1", "spin", ch)}},
		probing(func() (bool, error) { return false, nil }, false, 0), short)
	require.ErrorIs(t, err, anomalies.ErrStuck)
	assert.Contains(t, err.Error(), "waited for no lock")
}
