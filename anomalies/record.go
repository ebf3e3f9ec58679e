package anomalies

import (
	"errors"
	"iter"
	"sync/atomic"

	"github.com/mvkv/mvkv/mvcc"
)

// What the runner records of every transaction, below the steps: each
// read, write, scan and commit that the store acknowledged, stamped with
// a run-wide sequence number taken when the store returned. That is the
// history the dependency graph (Outcome.Dependencies) is computed from,
// whatever a step's Do does, on any store.

// opKind says what a recorded operation did.
type opKind uint8

const (
	opRead   opKind = iota // Get or GetForUpdate: key, value (Absent when missing)
	opWrite                // Put or Delete: key, value (Absent for a delete)
	opScan                 // Scan of [key, end): found
	opCommit               // a successful Commit
)

// recordedOp is one acknowledged operation of a transaction.
type recordedOp struct {
	seq   int64 // run-wide order in which the store returned
	kind  opKind
	key   string
	value string
	// end bounds a scan's range (exclusive); unbounded when endless.
	end     string
	endless bool
	found   []KV
}

// recordingTx is the Tx a step sees: the store's transaction, recording
// every operation the store acknowledges into the session. Only the
// session's goroutine uses it.
type recordingTx struct {
	Tx
	s     *Session
	clock *atomic.Int64
}

func (t *recordingTx) add(op recordedOp) {
	op.seq = t.clock.Add(1)
	t.s.ops = append(t.s.ops, op)
}

func (t *recordingTx) read(key []byte, v []byte, err error) {
	switch {
	case err == nil:
		t.add(recordedOp{kind: opRead, key: string(key), value: string(v)})
	case errors.Is(err, mvcc.ErrNotFound):
		t.add(recordedOp{kind: opRead, key: string(key), value: Absent})
	}
}

func (t *recordingTx) Get(key []byte) ([]byte, error) {
	v, err := t.Tx.Get(key)
	t.read(key, v, err)
	return v, err
}

func (t *recordingTx) GetForUpdate(key []byte) ([]byte, error) {
	v, err := t.Tx.GetForUpdate(key)
	t.read(key, v, err)
	return v, err
}

func (t *recordingTx) Put(key, value []byte) error {
	err := t.Tx.Put(key, value)
	if err == nil {
		t.add(recordedOp{kind: opWrite, key: string(key), value: string(value)})
	}
	return err
}

func (t *recordingTx) Delete(key []byte) error {
	err := t.Tx.Delete(key)
	if err == nil {
		t.add(recordedOp{kind: opWrite, key: string(key), value: Absent})
	}
	return err
}

// Scan records the range it read: all of [start, end) when the caller
// took every key, else up to and including the last key yielded.
func (t *recordingTx) Scan(start, end []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		op := recordedOp{kind: opScan, key: string(start), end: string(end), endless: end == nil}
		complete := true
		for k, v := range t.Tx.Scan(start, end) {
			op.found = append(op.found, KV{string(k), string(v)})
			if !yield(k, v) {
				complete = false
				break
			}
		}
		if t.Err() != nil {
			return
		}
		if !complete {
			// The caller stopped after the last key found: the range read
			// ends just past it.
			op.end, op.endless = op.found[len(op.found)-1].Key+"\x00", false
		}
		t.add(op)
	}
}

func (t *recordingTx) Commit() error {
	err := t.Tx.Commit()
	if err == nil {
		t.add(recordedOp{kind: opCommit})
	}
	return err
}

// inRange reports whether key lies in the scan's range.
func (op *recordedOp) inRange(key string) bool {
	return key >= op.key && (op.endless || key < op.end)
}
