package anomalies_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// The runner's own behaviour: the interleaving, blocked and resumed steps,
// skipped steps, the end of a script, bad scenarios.

// fast keeps the runner tests quick: a blocked step here is blocked on a
// channel or a lock that only a later step releases, never slow.
var fast = &anomalies.Options{Grace: 50 * time.Millisecond, Stuck: 5 * time.Second}

type row struct {
	step    int
	session string
	kind    anomalies.EventKind
	result  string
}

func rows(o *anomalies.Outcome) []row {
	var rs []row
	for _, e := range o.Events {
		r := row{e.Step, e.Session, e.Kind, e.Result}
		if e.Err != nil {
			r.result = anomalies.ErrName(e.Err)
		}
		rs = append(rs, r)
	}
	return rs
}

func wait(session, op string, ch <-chan struct{}) anomalies.Step {
	st := anomalies.Do(session, op, func(*anomalies.Session) (string, error) {
		<-ch
		return "released", nil
	})
	st.MayWait = true
	return st
}

func signal(session string, ch chan struct{}) anomalies.Step {
	return anomalies.Do(session, "signal", func(*anomalies.Session) (string, error) {
		close(ch)
		return "ok", nil
	})
}

func TestRunBlockedStepResumesAfterATransactionEnds(t *testing.T) {
	ch := make(chan struct{})
	o, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{
		wait("T1", "wait", ch),
		signal("T2", ch),
		anomalies.Commit("T2"),
		anomalies.Commit("T1"),
	}}, mvcc.Snapshot, fast)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{1, "T1", anomalies.Blocked, ""},
		{2, "T2", anomalies.Done, "ok"},
		{3, "T2", anomalies.Done, "ok"},
		{1, "T1", anomalies.Resumed, "released"},
		{4, "T1", anomalies.Done, "ok"},
	}, rows(o))
	assert.True(t, o.WasBlocked("T1"))
	assert.False(t, o.WasBlocked("T2"))
	assert.True(t, o.Committed("T1"))
	assert.True(t, o.Committed("T2"))
	tl := anomalies.Timeline(o)
	assert.Contains(t, tl, "begin; wait … blocked")
	assert.Contains(t, tl, "↳ step 1 resumes (T2 ended) → released")
}

func TestRunSessionNeededWhileBlockedWaitsForIt(t *testing.T) {
	ch := make(chan struct{})
	o, err := anomalies.Run(&anomalies.Scenario{
		Setup: []anomalies.KV{{"k", "v"}},
		Steps: []anomalies.Step{
			wait("T1", "wait", ch),
			signal("T2", ch),
			anomalies.Read("T1", "k"),
		},
	}, mvcc.ReadCommitted, fast)
	require.NoError(t, err)
	assert.Equal(t, []row{
		{1, "T1", anomalies.Blocked, ""},
		{2, "T2", anomalies.Done, "ok"},
		{1, "T1", anomalies.Resumed, "released"},
		{3, "T1", anomalies.Done, "v"},
		{0, "T1", anomalies.Cleanup, "ok"}, // rollbacks of the sessions left open
		{0, "T2", anomalies.Cleanup, "ok"},
	}, rows(o))
}

func TestRunErrorEndsTheSession(t *testing.T) {
	boom := errors.New("boom")
	o, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{
		anomalies.Write("T1", "k", "1"),
		anomalies.Do("T1", "fail", func(*anomalies.Session) (string, error) { return "", boom }),
		anomalies.Write("T1", "k", "2"),
		anomalies.Commit("T1"),
	}}, mvcc.Snapshot, fast)
	require.NoError(t, err)
	assert.ErrorIs(t, o.Err("T1"), boom)
	assert.False(t, o.Committed("T1"))
	assert.Equal(t, anomalies.Skipped, o.Events[2].Kind)
	assert.Equal(t, anomalies.Skipped, o.Events[3].Kind)
	assert.Equal(t, anomalies.Absent, o.Get("k"), "nothing of the failed session is committed")
	e, ok := o.FailedStep("T1")
	require.True(t, ok)
	assert.Equal(t, 2, e.Step)
	assert.Contains(t, anomalies.Timeline(o), "[1] T1, step 2 (fail): boom")
}

func TestRunSessionsBeginAtTheirFirstStep(t *testing.T) {
	o, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{
		anomalies.Write("T1", "k", "1"),
		anomalies.Commit("T1"),
		anomalies.Read("T2", "k"), // T2's snapshot is taken here, after T1's commit
		anomalies.Commit("T2"),
	}}, mvcc.Snapshot, fast)
	require.NoError(t, err)
	assert.Equal(t, []string{"1"}, o.Session("T2").ReadsOf("k"))
	assert.Equal(t, "begin; read k", o.Events[2].Op)
}

// A wait nothing in the script releases is cancelled at the end through
// the session's BeginTx context.
func TestRunCancelsAWaitLeftAtTheEnd(t *testing.T) {
	o, err := anomalies.Run(&anomalies.Scenario{
		Setup: []anomalies.KV{{"k", "v"}},
		Steps: []anomalies.Step{
			anomalies.ReadForUpdate("T1", "k"),
			anomalies.ReadForUpdate("T2", "k"),
		},
	}, mvcc.ReadCommitted, fast)
	require.NoError(t, err)
	assert.True(t, o.WasBlocked("T2"))
	assert.ErrorIs(t, o.Err("T2"), context.Canceled)
	last := o.Events[len(o.Events)-1]
	assert.Equal(t, anomalies.Cleanup, last.Kind)
	assert.Equal(t, "T1", last.Session, "T1, still open, is rolled back after T2's wait is cancelled")
}

func TestRunStuckStep(t *testing.T) {
	ch := make(chan struct{})
	defer close(ch)
	_, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{
		wait("T1", "wait forever", ch),
		anomalies.Commit("T1"),
	}}, mvcc.Snapshot, &anomalies.Options{Grace: 20 * time.Millisecond, Stuck: 50 * time.Millisecond})
	require.ErrorIs(t, err, anomalies.ErrStuck)
	assert.Contains(t, err.Error(), "step 1")
}

// A step that cannot wait is waited for (no grace period), up to Stuck.
func TestRunStepThatCannotWaitIsNotShownBlocked(t *testing.T) {
	ch := make(chan struct{})
	defer close(ch)
	slow := anomalies.Do("T1", "slow", func(*anomalies.Session) (string, error) {
		time.Sleep(60 * time.Millisecond) // longer than Grace
		return "done", nil
	})
	o, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{slow, anomalies.Commit("T1")}},
		mvcc.Snapshot, &anomalies.Options{Grace: 10 * time.Millisecond, Stuck: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, []row{{1, "T1", anomalies.Done, "done"}, {2, "T1", anomalies.Done, "ok"}}, rows(o))

	hang := anomalies.Do("T1", "hang", func(*anomalies.Session) (string, error) { <-ch; return "", nil })
	_, err = anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{hang}},
		mvcc.Snapshot, &anomalies.Options{Grace: 10 * time.Millisecond, Stuck: 50 * time.Millisecond})
	require.ErrorIs(t, err, anomalies.ErrStuck)
}

func TestRunBadScenario(t *testing.T) {
	for name, sc := range map[string]*anomalies.Scenario{
		"no steps":      {},
		"no session":    {Steps: []anomalies.Step{anomalies.Read("", "k")}},
		"no operation":  {Steps: []anomalies.Step{{Session: "T1", Op: "nothing"}}},
		"empty key set": {Setup: []anomalies.KV{{"", "v"}}, Steps: []anomalies.Step{anomalies.Read("T1", "k")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := anomalies.Run(sc, mvcc.Snapshot, fast)
			assert.ErrorIs(t, err, anomalies.ErrBadScenario)
		})
	}
	// Adding to a key never read is a scenario error, reported as the step's.
	o, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{anomalies.Add("T1", "k", 1)}}, mvcc.Snapshot, fast)
	require.NoError(t, err)
	assert.ErrorIs(t, o.Err("T1"), anomalies.ErrBadScenario)
}

func TestRunInvalidLevel(t *testing.T) {
	o, err := anomalies.Run(&anomalies.Scenario{Steps: []anomalies.Step{anomalies.Read("T1", "k")}}, mvcc.Level(9), fast)
	require.NoError(t, err)
	assert.ErrorIs(t, o.Err("T1"), mvcc.ErrInvalidLevel, "Begin's error is the first step's")
}

func TestScanStepsRecordWhatTheRangeHeld(t *testing.T) {
	o, err := anomalies.Run(&anomalies.Scenario{
		Setup: []anomalies.KV{{"a/1", "1"}, {"a/2", "2"}, {"b/1", "5"}},
		Steps: []anomalies.Step{
			anomalies.Scan("T1", "a/"),
			anomalies.Delete("T1", "a/1"),
			anomalies.Write("T1", "a/3", "3"),
			anomalies.Sum("T1", "a/"),
			anomalies.Scan("T1", "c/"),
			anomalies.Commit("T1"),
		},
	}, mvcc.Snapshot, fast)
	require.NoError(t, err)
	s := o.Session("T1")
	assert.Equal(t, []string{"1=1 2=2", "2=2 3=3"}, s.ReadsOf("a/*"))
	assert.Equal(t, []string{"nothing"}, s.ReadsOf("c/*"))
	v, ok := s.Seen("a/1")
	assert.True(t, ok)
	assert.Equal(t, anomalies.Absent, v, "a later scan records the deletion")
	assert.Equal(t, "5", o.Note("T1", "sum a/"))
	assert.Equal(t, []anomalies.KV{{"a/2", "2"}, {"a/3", "3"}}, o.Prefix("a/"))
}

func TestTimelineLayout(t *testing.T) {
	o, err := anomalies.Run(&anomalies.Scenario{
		Setup: []anomalies.KV{{"x", "1"}},
		Steps: []anomalies.Step{
			anomalies.Read("T2", "x"),
			anomalies.Write("T1", "x", "2"),
			anomalies.Commit("T1"),
			anomalies.Write("T2", "x", "3"),
		},
	}, mvcc.Snapshot, fast)
	require.NoError(t, err)
	lines := strings.Split(anomalies.Timeline(o), "\n")
	require.GreaterOrEqual(t, len(lines), 7)
	// The T2 column starts after the step (4), 3 spaces, the T1 column (as
	// wide as its widest cell, "begin; write x=2 → ok": 21 runes) and 2
	// spaces.
	at := func(prefix string, col int) string {
		return prefix + strings.Repeat(" ", col-utf8.RuneCountInString(prefix))
	}
	assert.Equal(t, at("step   T1", 30)+"T2", lines[0], "sessions sorted, whatever their first step")
	assert.Equal(t, at("   1", 30)+"begin; read x → 1", lines[2])
	assert.Equal(t, "   2   begin; write x=2 → ok", lines[3])
	assert.True(t, strings.HasPrefix(lines[5], at("   4", 30)+"write x=3 ✗ ErrConflict [1]"), lines[5])
	assert.True(t, strings.HasPrefix(lines[6], "[1] T2, step 4 (write x=3): "), lines[6])
	for _, l := range lines {
		assert.Equal(t, strings.TrimRight(l, " "), l, "no trailing spaces")
	}
}
