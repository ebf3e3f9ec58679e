package anomalies

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mvkv/mvkv/mvcc"
)

// Scenario is a scripted interleaving of transactions.
type Scenario struct {
	// Setup is committed, in one transaction, before any session begins.
	Setup []KV
	// Steps run one after the other, in this order.
	Steps []Step
	// ReadOnly names the sessions that begin read-only transactions.
	ReadOnly []string
}

// KV is a key and its value.
type KV struct{ Key, Value string }

// Step is one operation of one session.
type Step struct {
	// Session names the transaction the step belongs to ("T1").
	Session string
	// Op is what the timeline shows ("read balance").
	Op string
	// Do runs the operation on the session's goroutine and returns what the
	// timeline shows as its result (a value read, "ok").
	Do func(s *Session) (string, error)
	// Ends is true for a step that ends the transaction (Commit, Rollback).
	Ends bool
	// Commits is true for a step that, when it succeeds, commits the
	// transaction.
	Commits bool
	// MayWait is true for a step that may wait for another session (a
	// GetForUpdate). Only such a step is shown blocked when it takes longer
	// than Options.Grace (and, if its transaction is a LockWaiter, waits
	// for a lock); the runner waits for any other step to finish, so a
	// slow machine cannot reorder the script.
	MayWait bool
}

// Session is one named transaction of a running scenario, as its steps
// see it. It is used by one goroutine at a time: the session's own while a
// step runs, the runner's between steps.
type Session struct {
	// Name is the session's name in the script ("T1").
	Name string
	// Tx is the session's transaction, begun at its first step: the
	// store's transaction (an *mvcc.Txn on mvkv) behind a recorder that
	// keeps what each operation read or wrote, for the dependency graph.
	Tx Tx

	seen    map[string]string // key -> last value read (Absent when missing)
	history []KV              // every read in order; a scan as "prefix*" -> what it found
	notes   map[string]string
	ops     []recordedOp // every operation the store acknowledged, in order
}

// Absent is how a read of a missing key is shown.
const Absent = "(none)"

// Seen returns the value the session last read for key (by Read,
// ReadForUpdate or Scan), and whether it read one. A read that found no
// value records Absent.
func (s *Session) Seen(key string) (string, bool) {
	v, ok := s.seen[key]
	return v, ok
}

// SeenInt is Seen for integer values; absent or unparsable values are 0.
func (s *Session) SeenInt(key string) int {
	n, _ := strconv.Atoi(s.seen[key])
	return n
}

// SeenPrefix returns, in key order, the keys with the given prefix that the
// session has read, and the last values it read for them (absent ones
// excluded).
func (s *Session) SeenPrefix(prefix string) []KV {
	var kvs []KV
	for k, v := range s.seen {
		if strings.HasPrefix(k, prefix) && v != Absent {
			kvs = append(kvs, KV{k, v})
		}
	}
	sortKVs(kvs)
	return kvs
}

// Reads returns every read of the session in order: Read and
// ReadForUpdate as key and value, Scan and Sum as "prefix*" and what the
// range held ("k=v k=v" with the prefix trimmed, or "nothing").
func (s *Session) Reads() []KV { return slices.Clone(s.history) }

// ReadsOf returns the values the session read for key (or for "prefix*"),
// in order.
func (s *Session) ReadsOf(key string) []string {
	var vs []string
	for _, kv := range s.history {
		if kv.Key == key {
			vs = append(vs, kv.Value)
		}
	}
	return vs
}

// Note records a fact about the session (a decision it took) for the
// anomaly's Check to find in the Outcome.
func (s *Session) Note(name, value string) {
	if s.notes == nil {
		s.notes = make(map[string]string)
	}
	s.notes[name] = value
}

func (s *Session) see(key, value string) {
	if s.seen == nil {
		s.seen = make(map[string]string)
	}
	s.seen[key] = value
}

// read is Get that records what it saw; a missing key is not an error.
func (s *Session) read(key string, forUpdate bool) (string, error) {
	get := s.Tx.Get
	if forUpdate {
		get = s.Tx.GetForUpdate
	}
	v, err := get([]byte(key))
	if errors.Is(err, mvcc.ErrNotFound) {
		s.see(key, Absent)
		s.history = append(s.history, KV{key, Absent})
		return Absent, nil
	}
	if err != nil {
		return "", err
	}
	s.see(key, string(v))
	s.history = append(s.history, KV{key, string(v)})
	return string(v), nil
}

// Read reads key with Get.
func Read(session, key string) Step {
	return Step{Session: session, Op: "read " + key, Do: func(s *Session) (string, error) {
		return s.read(key, false)
	}}
}

// ReadForUpdate reads key with GetForUpdate, locking it until the
// transaction ends; it may block behind another session's lock.
func ReadForUpdate(session, key string) Step {
	return Step{Session: session, Op: "lock+read " + key, MayWait: true, Do: func(s *Session) (string, error) {
		return s.read(key, true)
	}}
}

// Write puts key=value.
func Write(session, key, value string) Step {
	return Step{Session: session, Op: "write " + key + "=" + value, Do: func(s *Session) (string, error) {
		return "ok", s.Tx.Put([]byte(key), []byte(value))
	}}
}

// Delete deletes key.
func Delete(session, key string) Step {
	return Step{Session: session, Op: "delete " + key, Do: func(s *Session) (string, error) {
		return "ok", s.Tx.Delete([]byte(key))
	}}
}

// Add writes to key the integer the session last read there plus delta:
// the read-modify-write of an application that computes in its own code.
func Add(session, key string, delta int) Step {
	op := fmt.Sprintf("write %s = read%+d", key, delta)
	return Step{Session: session, Op: op, Do: func(s *Session) (string, error) {
		if _, ok := s.seen[key]; !ok {
			return "", fmt.Errorf("%w: %s adds to %s without reading it first", ErrBadScenario, s.Name, key)
		}
		v := strconv.Itoa(s.SeenInt(key) + delta)
		return v, s.Tx.Put([]byte(key), []byte(v))
	}}
}

// Scan reads every key with the given prefix (a range read: the predicate
// "key starts with prefix") and shows what it found.
func Scan(session, prefix string) Step {
	return Step{Session: session, Op: "scan " + prefix + "*", Do: func(s *Session) (string, error) {
		kvs, err := s.scan(prefix)
		if err != nil {
			return "", err
		}
		return formatKVs(kvs, prefix), nil
	}}
}

// Sum reads every key with the given prefix and shows the sum of their
// integer values.
func Sum(session, prefix string) Step {
	return Step{Session: session, Op: "sum " + prefix + "*", Do: func(s *Session) (string, error) {
		kvs, err := s.scan(prefix)
		if err != nil {
			return "", err
		}
		total := 0
		for _, kv := range kvs {
			n, _ := strconv.Atoi(kv.Value)
			total += n
		}
		s.Note("sum "+prefix, strconv.Itoa(total))
		return strconv.Itoa(total), nil
	}}
}

// scan reads the keys with the prefix, [prefix, PrefixEnd(prefix)), and
// records what it saw, including the absence of keys it had seen before
// (a range read sees deletions too).
func (s *Session) scan(prefix string) ([]KV, error) {
	var kvs []KV
	for k, v := range s.Tx.Scan([]byte(prefix), mvcc.PrefixEnd([]byte(prefix))) {
		kvs = append(kvs, KV{string(k), string(v)})
	}
	// Scan has no error result: a transaction that ended during the scan
	// yields nothing, and a serialization failure the scan found surfaces
	// at the transaction's next call; Err reports it without touching data.
	if err := s.Tx.Err(); err != nil {
		return nil, fmt.Errorf("scan of %s*: %w", prefix, err)
	}
	for k := range s.seen {
		if strings.HasPrefix(k, prefix) {
			s.seen[k] = Absent
		}
	}
	for _, kv := range kvs {
		s.see(kv.Key, kv.Value)
	}
	s.history = append(s.history, KV{prefix + "*", formatKVs(kvs, prefix)})
	return kvs, nil
}

// Commit commits the session's transaction.
func Commit(session string) Step {
	return Step{Session: session, Op: "commit", Ends: true, Commits: true, Do: func(s *Session) (string, error) {
		return "ok", s.Tx.Commit()
	}}
}

// Rollback rolls the session's transaction back.
func Rollback(session string) Step {
	return Step{Session: session, Op: "rollback", Ends: true, Do: func(s *Session) (string, error) {
		return "ok", s.Tx.Rollback()
	}}
}

// Do is a step that runs fn: an application's logic between reads and
// writes (a check, a decision). op is what the timeline shows. Set the
// step's MayWait if fn may wait for another session.
func Do(session, op string, fn func(s *Session) (string, error)) Step {
	return Step{Session: session, Op: op, Do: fn}
}

// ErrBadScenario reports a scenario that cannot run as written.
var ErrBadScenario = errors.New("anomalies: bad scenario")

func (sc *Scenario) validate() error {
	if len(sc.Steps) == 0 {
		return fmt.Errorf("%w: no steps", ErrBadScenario)
	}
	for i, st := range sc.Steps {
		if st.Session == "" || st.Do == nil {
			return fmt.Errorf("%w: step %d needs a session and an operation", ErrBadScenario, i+1)
		}
	}
	for _, kv := range sc.Setup {
		if kv.Key == "" {
			return fmt.Errorf("%w: empty key in setup", ErrBadScenario)
		}
	}
	return nil
}

// sessions returns the session names, sorted ("T1", "T2", ...).
func (sc *Scenario) sessions() []string {
	var names []string
	for _, st := range sc.Steps {
		if !slices.Contains(names, st.Session) {
			names = append(names, st.Session)
		}
	}
	slices.Sort(names)
	return names
}
