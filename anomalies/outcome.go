package anomalies

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/mvkv/mvkv/mvcc"
)

// EventKind says what a timeline row records.
type EventKind uint8

const (
	// Done: the step ran and finished (a step that may wait: within the
	// grace period).
	Done EventKind = iota
	// Blocked: the step started but had not finished within the grace
	// period; the script went on without it.
	Blocked
	// Resumed: a step shown as blocked earlier has finished.
	Resumed
	// Skipped: the session had already ended (an error, a commit), so the
	// step did not run.
	Skipped
	// Cleanup: the runner ended a session the script left open (a rollback
	// or the cancellation of a wait) after the last step.
	Cleanup
)

func (k EventKind) String() string {
	switch k {
	case Done:
		return "done"
	case Blocked:
		return "blocked"
	case Resumed:
		return "resumed"
	case Skipped:
		return "skipped"
	case Cleanup:
		return "cleanup"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one row of the timeline. Rows are in execution order: a step
// that waited shows twice (Blocked where it started, Resumed where it
// finished), and the steps that ran meanwhile, or queued behind it on an
// engine whose writes wait, sit between, so script steps may appear out of
// their script order.
type Event struct {
	// Seq is the row's 1-based position in execution order: the number
	// the timeline shows and that verdicts cite ("at step 4").
	Seq int
	// Step is the 1-based index of the step in the script; 0 for cleanup
	// rows.
	Step    int
	Session string
	Op      string // the step's Op, prefixed with "begin; " on the session's first step
	Kind    EventKind
	Result  string // the value read, "ok", ...; empty when Err is set
	// By is, for a Resumed step, the session whose transaction had just
	// ended when it resumed (the one it waited for), if the runner knows.
	By string
	// BlockedAt is, for a Resumed step, the Seq of the row that showed it
	// blocked.
	BlockedAt int
	Err       error

	did []recordedOp // what the store acknowledged during the step
}

// Outcome is what running a scenario at one level produced.
type Outcome struct {
	// Level is the mvkv level the run was at, or the one its target is
	// compared with (Target.Like).
	Level mvcc.Level
	// Target names where it ran (Target.Name: the level alone on mvkv).
	Target   string
	Sessions []string // sorted by name
	Events   []Event
	// Final is the committed data after every session ended, in key order.
	Final []KV

	sessions map[string]*Session
	errs     map[string]error
	commits  map[string]bool
	setup    []KV
	graph    *Graph
}

// Get returns the final committed value of key, or Absent.
func (o *Outcome) Get(key string) string {
	for _, kv := range o.Final {
		if kv.Key == key {
			return kv.Value
		}
	}
	return Absent
}

// Int returns the final committed value of key as an integer (0 when
// absent or not a number).
func (o *Outcome) Int(key string) int {
	n, _ := strconv.Atoi(o.Get(key))
	return n
}

// Prefix returns the final committed pairs whose key has the prefix.
func (o *Outcome) Prefix(prefix string) []KV {
	var kvs []KV
	for _, kv := range o.Final {
		if strings.HasPrefix(kv.Key, prefix) {
			kvs = append(kvs, kv)
		}
	}
	return kvs
}

// Committed reports whether the session's Commit step succeeded.
func (o *Outcome) Committed(session string) bool { return o.commits[session] }

// Err returns the first error the session got (nil if none): the one that
// stopped it.
func (o *Outcome) Err(session string) error { return o.errs[session] }

// Conflicted reports whether the session was stopped by an error matching
// mvcc.ErrConflict (a write-write conflict, a serialization failure, a
// deadlock).
func (o *Outcome) Conflicted(session string) bool {
	return errors.Is(o.errs[session], mvcc.ErrConflict)
}

// Seen returns the value the session last read for key, as Session.Seen.
func (o *Outcome) Seen(session, key string) (string, bool) {
	s := o.sessions[session]
	if s == nil {
		return "", false
	}
	return s.Seen(key)
}

// Note returns what the session recorded with Session.Note ("" if nothing).
func (o *Outcome) Note(session, name string) string {
	s := o.sessions[session]
	if s == nil {
		return ""
	}
	return s.notes[name]
}

// Session returns the named session's final state (nil if the script has no
// such session).
func (o *Outcome) Session(name string) *Session { return o.sessions[name] }

// WasBlocked reports whether some step of the session was shown blocked.
func (o *Outcome) WasBlocked(session string) bool {
	for _, e := range o.Events {
		if e.Session == session && e.Kind == Blocked {
			return true
		}
	}
	return false
}

// FailedStep returns the event of the step that stopped the session with
// an error, and whether there was one.
func (o *Outcome) FailedStep(session string) (Event, bool) {
	for _, e := range o.Events {
		if e.Session == session && e.Err != nil && (e.Kind == Done || e.Kind == Resumed) {
			return e, true
		}
	}
	return Event{}, false
}

func sortKVs(kvs []KV) {
	slices.SortFunc(kvs, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
}

// formatKVs shows pairs as "k=v k=v" with prefix trimmed from the keys.
func formatKVs(kvs []KV, prefix string) string {
	if len(kvs) == 0 {
		return "nothing"
	}
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = strings.TrimPrefix(kv.Key, prefix) + "=" + kv.Value
	}
	return strings.Join(parts, " ")
}
