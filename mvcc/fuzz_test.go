package mvcc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mvkv/mvkv/mvcc"
)

// FuzzTxnModel runs a random program of operations on a few interleaved
// transactions, from one goroutine, and compares every result with a
// reference model: a list of committed versions per key, snapshots taken
// at Begin, buffered writes, and first-committer-wins.
//
// The model is exact for read committed and snapshot. Serializable may
// abort more than first-committer-wins (SSI): an ErrConflict the model
// did not predict is accepted there, but only for a transaction that
// overlapped another serializable one, and when every transaction of the
// program was serializable the committed ones must have a serial order
// that explains every read and scan they made (phantoms included).
//
// Program bytes, read in order (a missing byte reads as 0):
//
//	op = b % 10, then its operands:
//	0 Begin slot level flags   1 Get slot key        2 Put slot key
//	3 Delete slot key          4 Scan slot key to    5 Commit slot
//	6 Rollback slot            7 Reopen the DB       8 GetForUpdate slot key
//	9 Put slot key (large value: 3,000 bytes for "a" and "b", 140,000
//	  for "c" and "d", which together make a transaction that, with the
//	  log empty, writes the data bucket itself and leaves its new keys out
//	  of memory)
//
// slot = b % 3; key = b % 5 picks "a".."d" or the empty key; level = b % 3;
// flags bit 0 = read-only. A scan's to byte is its end key (to % 5) and
// its mode ((to / 5) % 6): Scan, ScanReverse, ScanPrefix of the start key,
// then the same three with a loop that breaks after the first key.
func FuzzTxnModel(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) > 256 {
			program = program[:256]
		}
		fz := newFuzzer(t)
		defer fz.close()
		fz.run(program)
	})
}

// Seed program builders: slots 0-2, keys 0-3 are "a".."d", 4 is empty.
func fzBegin(slot int, level mvcc.Level, readOnly bool) []byte {
	ro := byte(0)
	if readOnly {
		ro = 1
	}
	return []byte{0, byte(slot), byte(level), ro}
}
func fzGet(slot, key int) []byte       { return []byte{1, byte(slot), byte(key)} }
func fzPut(slot, key int) []byte       { return []byte{2, byte(slot), byte(key)} }
func fzDel(slot, key int) []byte       { return []byte{3, byte(slot), byte(key)} }
func fzScan(slot, from, to int) []byte { return []byte{4, byte(slot), byte(from), byte(to)} }
func fzScanMode(slot, from, to int, mode fzScanKind) []byte {
	return []byte{4, byte(slot), byte(from), byte(to + 5*int(mode))}
}

// fzScanKind is the scan mode of op 4.
type fzScanKind int

const (
	fzForward fzScanKind = iota
	fzReverse
	fzPrefix
	fzForwardBreak
	fzReverseBreak
	fzPrefixBreak
)

func fzCommit(slot int) []byte     { return []byte{5, byte(slot)} }
func fzRollback(slot int) []byte   { return []byte{6, byte(slot)} }
func fzReopen() []byte             { return []byte{7} }
func fzLock(slot, key int) []byte  { return []byte{8, byte(slot), byte(key)} }
func fzLarge(slot, key int) []byte { return []byte{9, byte(slot), byte(key)} }

func fzProgram(steps ...[]byte) []byte { return slices.Concat(steps...) }

// fuzzSeeds are small programs that reach the interesting paths at once;
// testdata/fuzz/FuzzTxnModel holds more, found by the fuzzer.
var fuzzSeeds = [][]byte{
	// Two snapshot writers of one key, both write before either commits:
	// the second commit conflicts (first committer wins).
	fzProgram(fzBegin(0, mvcc.Snapshot, false), fzBegin(1, mvcc.Snapshot, false),
		fzPut(0, 0), fzPut(1, 0), fzCommit(0), fzCommit(1), fzGet(1, 0)),
	// The same at serializable, and at read committed (last one wins).
	fzProgram(fzBegin(0, mvcc.Serializable, false), fzBegin(1, mvcc.Serializable, false),
		fzPut(0, 0), fzPut(1, 0), fzCommit(0), fzCommit(1)),
	fzProgram(fzBegin(0, mvcc.ReadCommitted, false), fzBegin(1, mvcc.ReadCommitted, false),
		fzPut(0, 0), fzPut(1, 0), fzCommit(0), fzCommit(1), fzBegin(2, mvcc.Snapshot, false), fzGet(2, 0)),
	// A write after a concurrent commit fails early at snapshot.
	fzProgram(fzBegin(0, mvcc.Snapshot, false), fzBegin(1, mvcc.Snapshot, false),
		fzPut(1, 1), fzCommit(1), fzPut(0, 1), fzCommit(0)),
	// Write skew at serializable: both read a and b, each writes one.
	fzProgram(fzBegin(0, mvcc.Serializable, false), fzBegin(1, mvcc.Serializable, false),
		fzGet(0, 0), fzGet(0, 1), fzGet(1, 0), fzGet(1, 1), fzPut(0, 0), fzPut(1, 1),
		fzCommit(0), fzCommit(1)),
	// A phantom at serializable: a scan, and a concurrent insert into it.
	fzProgram(fzBegin(0, mvcc.Serializable, false), fzBegin(1, mvcc.Serializable, false),
		fzScan(0, 0, 3), fzScan(1, 0, 3), fzPut(0, 1), fzPut(1, 2), fzCommit(0), fzCommit(1)),
	// Read committed sees a commit made after it began; snapshot does not.
	fzProgram(fzBegin(0, mvcc.ReadCommitted, false), fzBegin(2, mvcc.Snapshot, false),
		fzGet(0, 2), fzBegin(1, mvcc.Snapshot, false), fzPut(1, 2), fzCommit(1),
		fzGet(0, 2), fzGet(2, 2), fzCommit(0), fzCommit(2)),
	// Scans over own writes and deletes, then a reopen.
	fzProgram(fzBegin(0, mvcc.Snapshot, false), fzPut(0, 0), fzPut(0, 2), fzPut(0, 3),
		fzCommit(0), fzBegin(1, mvcc.Snapshot, false), fzDel(1, 2), fzPut(1, 1),
		fzScan(1, 4, 4), fzScan(1, 1, 3), fzDel(1, 1), fzScan(1, 0, 4), fzCommit(1),
		fzBegin(2, mvcc.ReadCommitted, false), fzReopen(), fzGet(2, 0), fzBegin(2, mvcc.Snapshot, false),
		fzScan(2, 4, 4)),
	// Read-only transactions and the empty key.
	fzProgram(fzBegin(0, mvcc.Snapshot, true), fzPut(0, 0), fzDel(0, 1), fzLock(0, 0), fzGet(0, 4),
		fzBegin(1, mvcc.Serializable, false), fzPut(1, 4), fzGet(1, 4), fzPut(1, 0), fzCommit(1),
		fzGet(0, 0), fzCommit(0), fzCommit(0), fzRollback(0)),
	// Blind deletes (deletes of absent keys) are writes. T1 deletes absent
	// a, T2 reads absent b and puts a, T1 puts b: at snapshot and
	// serializable the second committer conflicts on a (either order).
	fzProgram(fzBegin(0, mvcc.Serializable, false), fzBegin(1, mvcc.Serializable, false),
		fzDel(0, 0), fzGet(1, 1), fzPut(1, 0), fzPut(0, 1), fzCommit(0), fzCommit(1)),
	fzProgram(fzBegin(0, mvcc.Snapshot, false), fzBegin(1, mvcc.Snapshot, false),
		fzDel(0, 0), fzGet(1, 1), fzPut(1, 0), fzPut(0, 1), fzCommit(1), fzCommit(0)),
	// A concurrent insert commits before the blind delete: read committed
	// sees its own delete, and the delete (last committer) wins.
	fzProgram(fzBegin(0, mvcc.ReadCommitted, false), fzBegin(1, mvcc.ReadCommitted, false),
		fzDel(0, 2), fzPut(1, 2), fzCommit(1), fzGet(0, 2), fzScan(0, 4, 4), fzCommit(0),
		fzBegin(2, mvcc.Snapshot, false), fzGet(2, 2)),
	// Put then delete of a key absent from the store, with an insert
	// committed in between.
	fzProgram(fzBegin(0, mvcc.ReadCommitted, false), fzPut(0, 3), fzDel(0, 3),
		fzBegin(1, mvcc.Snapshot, false), fzPut(1, 3), fzCommit(1), fzGet(0, 3), fzScan(0, 0, 4),
		fzCommit(0), fzReopen(), fzBegin(2, mvcc.Serializable, false), fzScan(2, 4, 4), fzGet(2, 3)),
	// Reverse and prefix scans over own writes, deletes and a concurrent
	// commit; loops that break early.
	fzProgram(fzBegin(0, mvcc.Snapshot, false), fzPut(0, 0), fzPut(0, 1), fzPut(0, 3), fzCommit(0),
		fzBegin(1, mvcc.Snapshot, false), fzBegin(2, mvcc.ReadCommitted, false), fzPut(1, 2), fzDel(1, 3),
		fzScanMode(1, 4, 4, fzReverse), fzScanMode(1, 1, 3, fzReverse), fzScanMode(1, 2, 0, fzPrefix),
		fzScanMode(1, 4, 4, fzReverseBreak), fzScanMode(1, 4, 4, fzForwardBreak), fzCommit(1),
		fzScanMode(2, 4, 4, fzReverse), fzScanMode(2, 3, 0, fzPrefixBreak), fzReopen(),
		fzBegin(0, mvcc.Snapshot, false), fzScanMode(0, 4, 4, fzReverse)),
	// A phantom in a reverse scan at serializable, and a reverse scan that
	// stopped early above the insert: no conflict needed there.
	fzProgram(fzBegin(0, mvcc.Serializable, false), fzBegin(1, mvcc.Serializable, false),
		fzScanMode(0, 0, 3, fzReverse), fzScanMode(1, 0, 3, fzReverse), fzPut(0, 1), fzPut(1, 2), fzCommit(0), fzCommit(1)),
	fzProgram(fzBegin(0, mvcc.Serializable, false), fzPut(0, 3), fzPut(0, 2), fzCommit(0),
		fzBegin(0, mvcc.Serializable, false), fzBegin(1, mvcc.Serializable, false),
		fzScanMode(0, 4, 4, fzReverseBreak), fzGet(1, 3), fzPut(1, 0), fzPut(0, 1), fzCommit(1), fzCommit(0)),
	// A bulk transaction right after a reopen (the log empty) creates c and
	// d without putting them in memory: older snapshots see them absent by
	// every read, a write of one fails early, and a serializable reader of
	// one that writes elsewhere commits.
	fzProgram(fzPut(0, 0), fzReopen(), fzBegin(0, mvcc.Snapshot, false), fzBegin(2, mvcc.Serializable, false),
		fzGet(2, 2), fzBegin(1, mvcc.Snapshot, false), fzLarge(1, 2), fzLarge(1, 3),
		fzCommit(1), fzGet(0, 2), fzGet(0, 3), fzScan(0, 4, 4), fzScanMode(0, 4, 4, fzReverse),
		fzGet(2, 3), fzScan(2, 2, 4), fzPut(2, 0), fzCommit(2), fzLock(0, 2), fzPut(0, 3), fzCommit(0),
		fzBegin(1, mvcc.ReadCommitted, false), fzGet(1, 2), fzScan(1, 4, 4), fzLock(1, 3), fzPut(1, 3), fzCommit(1),
		fzBegin(0, mvcc.Snapshot, false), fzScan(0, 4, 4), fzLarge(0, 2), fzDel(0, 3), fzCommit(0)),
	// GetForUpdate at each level after a concurrent commit.
	fzProgram(fzBegin(0, mvcc.ReadCommitted, false), fzBegin(1, mvcc.Snapshot, false),
		fzBegin(2, mvcc.Serializable, false), fzGet(2, 3),
		fzBegin(0, mvcc.Snapshot, false), fzPut(0, 3), fzCommit(0),
		fzLock(1, 3), fzLock(2, 3), fzBegin(0, mvcc.ReadCommitted, false), fzLock(0, 3),
		fzPut(0, 3), fzCommit(0)),
}

const fuzzKeys = 4

func fuzzKey(b byte) []byte {
	i := int(b) % (fuzzKeys + 1)
	if i == fuzzKeys {
		return nil // the empty key
	}
	return []byte{'a' + byte(i)}
}

// fzVersion is one committed version in the model.
type fzVersion struct {
	ts    int
	value []byte // nil: tombstone
}

// fzTxn is the model of one open transaction.
type fzTxn struct {
	tx       *mvcc.Txn
	id       int
	level    mvcc.Level
	readOnly bool
	readTS   int
	writes   map[string][]byte // nil value: tombstone
	locks    map[string]bool
	done     bool // committed, rolled back or failed: ErrTxnDone from now on
	closed   bool // its DB was closed under it: ErrClosed from now on
	overlap  bool // another serializable transaction was open during its life
	record   fzRecord
}

// fzRecord is what a serializable transaction observed and wrote, for the
// serial-order check.
type fzRecord struct {
	reads  map[string][]byte // key -> value read from the store (nil: absent)
	writes map[string][]byte
}

type fuzzer struct {
	t *testing.T
	// ctx bounds lock waits: the model never lets a GetForUpdate wait, so
	// one that does would otherwise hang the program instead of failing.
	ctx    context.Context
	cancel context.CancelFunc
	path   string
	db     *mvcc.DB
	store  map[string][]fzVersion
	ts     int
	slots  [3]*fzTxn
	nextID int
	allSer bool
	// committed serializable transactions, in commit order
	committed []fzRecord
	step      int
}

func newFuzzer(t *testing.T) *fuzzer {
	fz := &fuzzer{t: t, path: filepath.Join(t.TempDir(), "fuzz.db"), store: make(map[string][]fzVersion), allSer: true}
	fz.ctx, fz.cancel = context.WithTimeout(context.Background(), 10*time.Second)
	fz.open()
	return fz
}

func (fz *fuzzer) open() {
	db, err := mvcc.Open(fz.path, &mvcc.Options{NoSync: true})
	if err != nil {
		fz.t.Fatalf("open: %v", err)
	}
	fz.db = db
}

func (fz *fuzzer) close() {
	fz.cancel()
	fz.closeDB()
}

func (fz *fuzzer) closeDB() {
	if err := fz.db.Close(); err != nil {
		fz.t.Errorf("close: %v", err)
	}
}

func (fz *fuzzer) fatalf(format string, args ...any) {
	fz.t.Helper()
	fz.t.Fatalf("step %d: "+format, append([]any{fz.step}, args...)...)
}

// latest returns key's newest committed value (nil when absent).
func (fz *fuzzer) latest(key string) (value []byte, ts int) {
	vs := fz.store[key]
	if len(vs) == 0 {
		return nil, 0
	}
	v := vs[len(vs)-1]
	return v.value, v.ts
}

// at returns key's committed value visible at ts.
func (fz *fuzzer) at(key string, ts int) []byte {
	vs := fz.store[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].ts <= ts {
			return vs[i].value
		}
	}
	return nil
}

// read is what tx should see for key, its own writes first.
func (fz *fuzzer) read(m *fzTxn, key string) (value []byte, own bool) {
	if v, ok := m.writes[key]; ok {
		return v, true
	}
	if m.level == mvcc.ReadCommitted {
		v, _ := fz.latest(key)
		return v, false
	}
	return fz.at(key, m.readTS), false
}

func (fz *fuzzer) run(program []byte) {
	pos := 0
	next := func() byte {
		if pos < len(program) {
			pos++
			return program[pos-1]
		}
		pos++
		return 0
	}
	for pos < len(program) {
		fz.step++
		op := next() % 10
		switch op {
		case 0:
			fz.begin(int(next()%3), mvcc.Level(next()%3), next()&1 == 1)
		case 1:
			fz.get(int(next()%3), fuzzKey(next()), false)
		case 2:
			fz.write(int(next()%3), fuzzKey(next()), []byte(fmt.Sprintf("v%d", fz.step)))
		case 3:
			fz.write(int(next()%3), fuzzKey(next()), nil)
		case 4:
			slot, from, to := int(next()%3), next(), next()
			fz.scan(slot, fuzzKey(from), fuzzKey(to), fzScanKind(to/5%6))
		case 5:
			fz.commit(int(next() % 3))
		case 6:
			fz.rollback(int(next() % 3))
		case 7:
			fz.reopen()
		case 8:
			fz.get(int(next()%3), fuzzKey(next()), true)
		case 9:
			slot, key := int(next()%3), fuzzKey(next())
			size := 3000
			if len(key) > 0 && key[0] > 'b' {
				size = 140_000
			}
			fz.write(slot, key, bytes.Repeat([]byte{byte(fz.step)}, size))
		}
	}
	for i := range fz.slots {
		if m := fz.slots[i]; m != nil && !m.done && !m.closed {
			fz.rollback(i)
		}
	}
	fz.checkFinal()
	fz.reopen()
	fz.checkFinal()
	if fz.allSer {
		fz.checkSerializable()
	}
}

// expectUnusable handles calls on a finished or orphaned transaction. It
// reports whether the call was one.
func (fz *fuzzer) expectUnusable(m *fzTxn, err error, what string) bool {
	switch {
	case m.closed:
		if !errors.Is(err, mvcc.ErrClosed) {
			fz.fatalf("%s on a transaction of a closed DB: got %v, want ErrClosed", what, err)
		}
		return true
	case m.done:
		if !errors.Is(err, mvcc.ErrTxnDone) {
			fz.fatalf("%s on a finished transaction: got %v, want ErrTxnDone", what, err)
		}
		return true
	}
	return false
}

// conflicted handles an ErrConflict the model did not predict: allowed
// only for a serializable transaction that overlapped another one (SSI).
func (fz *fuzzer) conflicted(m *fzTxn, err error, what string) bool {
	if !errors.Is(err, mvcc.ErrConflict) {
		return false
	}
	if m.level != mvcc.Serializable || !m.overlap {
		fz.fatalf("%s: unexpected conflict at %s (T%d): %v", what, m.level, m.id, err)
	}
	fz.end(m)
	return true
}

func (fz *fuzzer) end(m *fzTxn) {
	m.done = true
	m.locks = nil
}

func (fz *fuzzer) begin(slot int, level mvcc.Level, readOnly bool) {
	if m := fz.slots[slot]; m != nil && !m.done && !m.closed {
		return // one open transaction per slot
	}
	tx, err := fz.db.BeginTx(fz.ctx, mvcc.TxOptions{Isolation: level, ReadOnly: readOnly})
	if err != nil {
		fz.fatalf("begin: %v", err)
	}
	fz.nextID++
	m := &fzTxn{tx: tx, id: fz.nextID, level: level, readOnly: readOnly, readTS: fz.ts,
		writes: make(map[string][]byte), locks: make(map[string]bool),
		record: fzRecord{reads: make(map[string][]byte), writes: make(map[string][]byte)}}
	if level != mvcc.Serializable {
		fz.allSer = false
	}
	for _, o := range fz.slots {
		if o != nil && !o.done && !o.closed && o.level == mvcc.Serializable && level == mvcc.Serializable {
			o.overlap, m.overlap = true, true
		}
	}
	fz.slots[slot] = m
}

func (fz *fuzzer) get(slot int, key []byte, forUpdate bool) {
	m := fz.slots[slot]
	if m == nil {
		return
	}
	what := fmt.Sprintf("T%d get(%q)", m.id, key)
	if forUpdate {
		what = fmt.Sprintf("T%d getForUpdate(%q)", m.id, key)
		for _, o := range fz.slots {
			if o != nil && o != m && o.locks[string(key)] {
				return // would wait for a lock this goroutine holds
			}
		}
	}
	var v []byte
	var err error
	if forUpdate {
		v, err = m.tx.GetForUpdate(key)
	} else {
		v, err = m.tx.Get(key)
	}
	if fz.expectUnusable(m, err, what) {
		return
	}
	if forUpdate && m.readOnly {
		if !errors.Is(err, mvcc.ErrReadOnly) && !fz.conflicted(m, err, what) {
			fz.fatalf("%s in a read-only transaction: got %v, want ErrReadOnly", what, err)
		}
		return
	}
	if len(key) == 0 {
		if !errors.Is(err, mvcc.ErrEmptyKey) && !fz.conflicted(m, err, what) {
			fz.fatalf("%s: got %v, want ErrEmptyKey", what, err)
		}
		return
	}
	k := string(key)
	if forUpdate && m.level != mvcc.ReadCommitted {
		if _, own := m.writes[k]; !own {
			if _, ts := fz.latest(k); ts > m.readTS {
				if !errors.Is(err, mvcc.ErrConflict) {
					fz.fatalf("%s after a newer commit: got %v, want ErrConflict", what, err)
				}
				fz.end(m)
				return
			}
		}
	}
	if fz.conflicted(m, err, what) {
		return
	}
	if forUpdate {
		m.locks[k] = true
	}
	want, own := fz.read(m, k)
	switch {
	case want == nil && !errors.Is(err, mvcc.ErrNotFound):
		fz.fatalf("%s: got %s, %v; want ErrNotFound", what, fzShow(v), err)
	case want != nil && (err != nil || !bytes.Equal(v, want)):
		fz.fatalf("%s: got %s, %v; want %s", what, fzShow(v), err, fzShow(want))
	}
	if !own {
		if _, seen := m.record.reads[k]; !seen {
			m.record.reads[k] = want
		}
	}
}

func (fz *fuzzer) write(slot int, key, value []byte) {
	m := fz.slots[slot]
	if m == nil {
		return
	}
	var err error
	what := fmt.Sprintf("T%d put(%q)", m.id, key)
	if value == nil {
		what = fmt.Sprintf("T%d delete(%q)", m.id, key)
		err = m.tx.Delete(key)
	} else {
		err = m.tx.Put(key, value)
	}
	if fz.expectUnusable(m, err, what) {
		return
	}
	switch {
	case m.readOnly:
		if !errors.Is(err, mvcc.ErrReadOnly) && !fz.conflicted(m, err, what) {
			fz.fatalf("%s in a read-only transaction: got %v, want ErrReadOnly", what, err)
		}
		return
	case len(key) == 0:
		if !errors.Is(err, mvcc.ErrEmptyKey) && !fz.conflicted(m, err, what) {
			fz.fatalf("%s: got %v, want ErrEmptyKey", what, err)
		}
		return
	}
	k := string(key)
	_, ts := fz.latest(k)
	if m.level != mvcc.ReadCommitted && ts > m.readTS {
		if !errors.Is(err, mvcc.ErrConflict) {
			fz.fatalf("%s after a newer commit: got %v, want ErrConflict", what, err)
		}
		fz.end(m)
		return
	}
	if fz.conflicted(m, err, what) {
		return
	}
	if err != nil {
		fz.fatalf("%s: %v", what, err)
	}
	// A delete is a write even of an absent key (a blind delete): it
	// buffers a tombstone that first-committer-wins and SSI see.
	m.writes[k] = value
	m.record.writes[k] = value
}

func (fz *fuzzer) scan(slot int, start, end []byte, mode fzScanKind) {
	m := fz.slots[slot]
	if m == nil {
		return
	}
	if len(start) == 0 {
		start = nil
	}
	if len(end) == 0 {
		end = nil
	}
	prefix := mode == fzPrefix || mode == fzPrefixBreak
	reverse := mode == fzReverse || mode == fzReverseBreak
	breaks := mode >= fzForwardBreak
	seq := m.tx.Scan(start, end)
	what := fmt.Sprintf("T%d scan(%q, %q)", m.id, start, end)
	switch {
	case prefix:
		seq = m.tx.ScanPrefix(start)
		what = fmt.Sprintf("T%d scanPrefix(%q)", m.id, start)
	case reverse:
		seq = m.tx.ScanReverse(start, end)
		what = fmt.Sprintf("T%d scanReverse(%q, %q)", m.id, start, end)
	}
	if breaks {
		what += " breaking after one key"
	}
	var got [][2]string
	for k, v := range seq {
		got = append(got, [2]string{string(k), string(v)})
		if breaks {
			break
		}
	}
	if m.closed || m.done {
		if len(got) > 0 {
			fz.fatalf("%s on an unusable transaction yielded %v", what, got)
		}
		return
	}
	// The keys the scan passes, in its order; it reads each of them
	// (phantom absences included) up to where the loop stops.
	var keys []string
	for i := range fuzzKeys {
		k := string(rune('a' + i))
		switch {
		case prefix && !strings.HasPrefix(k, string(start)):
		case !prefix && ((start != nil && k < string(start)) || (end != nil && k >= string(end))):
		default:
			keys = append(keys, k)
		}
	}
	if reverse {
		slices.Reverse(keys)
	}
	var want [][2]string
	for _, k := range keys {
		v, own := fz.read(m, k)
		if !own {
			if _, seen := m.record.reads[k]; !seen {
				m.record.reads[k] = v
			}
		}
		if v != nil {
			want = append(want, [2]string{k, string(v)})
			if breaks {
				break
			}
		}
	}
	if !slices.Equal(got, want) {
		// A doomed serializable transaction yields nothing.
		if len(got) == 0 && m.level == mvcc.Serializable && m.overlap {
			return
		}
		fz.fatalf("%s: got %s, want %s", what, fzShowPairs(got), fzShowPairs(want))
	}
}

func (fz *fuzzer) commit(slot int) {
	m := fz.slots[slot]
	if m == nil {
		return
	}
	what := fmt.Sprintf("T%d commit", m.id)
	for _, o := range fz.slots {
		if o == nil || o == m {
			continue
		}
		for k := range m.writes {
			if o.locks[k] {
				return // would wait for a GetForUpdate lock this goroutine holds
			}
		}
	}
	err := m.tx.Commit()
	if fz.expectUnusable(m, err, what) {
		return
	}
	fz.end(m)
	conflict := false
	if m.level != mvcc.ReadCommitted {
		for k := range m.writes {
			if _, ts := fz.latest(k); ts > m.readTS {
				conflict = true
			}
		}
	}
	if conflict {
		if !errors.Is(err, mvcc.ErrConflict) {
			fz.fatalf("%s: got %v, want ErrConflict (first committer wins)", what, err)
		}
		return
	}
	if err != nil {
		if fz.conflicted(m, err, what) {
			return
		}
		fz.fatalf("%s: %v", what, err)
	}
	if len(m.writes) > 0 {
		fz.ts++
		for k, v := range m.writes {
			fz.store[k] = append(fz.store[k], fzVersion{ts: fz.ts, value: v})
		}
	}
	if m.level == mvcc.Serializable {
		fz.committed = append(fz.committed, m.record)
	}
}

func (fz *fuzzer) rollback(slot int) {
	m := fz.slots[slot]
	if m == nil {
		return
	}
	err := m.tx.Rollback()
	if fz.expectUnusable(m, err, fmt.Sprintf("T%d rollback", m.id)) {
		return
	}
	if err != nil {
		fz.fatalf("T%d rollback: %v", m.id, err)
	}
	fz.end(m)
}

func (fz *fuzzer) reopen() {
	fz.closeDB()
	for _, m := range fz.slots {
		if m != nil { // finished or not: ErrClosed takes precedence
			m.closed = true
			m.locks = nil
		}
	}
	fz.open()
}

// checkFinal compares a fresh snapshot with the model's newest state.
func (fz *fuzzer) checkFinal() {
	err := fz.db.View(context.Background(), func(tx *mvcc.Txn) error {
		for i := range fuzzKeys {
			k := string(rune('a' + i))
			want, _ := fz.latest(k)
			v, err := tx.Get([]byte(k))
			if want == nil && !errors.Is(err, mvcc.ErrNotFound) || want != nil && !bytes.Equal(v, want) {
				return fmt.Errorf("final %s: got %s, %v; want %s", k, fzShow(v), err, fzShow(want))
			}
		}
		return nil
	})
	if err != nil {
		fz.fatalf("%v", err)
	}
}

// checkSerializable looks for a serial order of the committed
// serializable transactions in which each one's reads see exactly the
// state the ones before it left.
func (fz *fuzzer) checkSerializable() {
	txns := fz.committed
	if len(txns) > 16 {
		return
	}
	seen := make(map[string]bool)
	// The memo names each value by a number: printed whole, the large
	// values of op 9 made each memo key hundreds of kilobytes long, and a
	// program of serializable transactions that wrote them took seconds.
	ids := make(map[string]int)
	memoKey := func(done uint32, state map[string][]byte) string {
		names := make([]int, fuzzKeys)
		for i := range fuzzKeys {
			names[i] = -1 // absent
			if v, ok := state[string(rune('a'+i))]; ok {
				n, known := ids[string(v)]
				if !known {
					n = len(ids)
					ids[string(v)] = n
				}
				names[i] = n
			}
		}
		return fmt.Sprint(done, names)
	}
	var search func(done uint32, state map[string][]byte) bool
	search = func(done uint32, state map[string][]byte) bool {
		if done == 1<<len(txns)-1 {
			return true
		}
		memo := memoKey(done, state)
		if seen[memo] {
			return false
		}
		seen[memo] = true
		for i, r := range txns {
			if done&(1<<i) != 0 {
				continue
			}
			ok := true
			for k, v := range r.reads {
				if !bytes.Equal(state[k], v) || (state[k] == nil) != (v == nil) {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			next := make(map[string][]byte, len(state))
			for k, v := range state {
				next[k] = v
			}
			for k, v := range r.writes {
				if v == nil {
					delete(next, k)
				} else {
					next[k] = v
				}
			}
			if search(done|1<<i, next) {
				return true
			}
		}
		return false
	}
	if !search(0, map[string][]byte{}) {
		fz.fatalf("the committed serializable transactions have no serial order: %+v", txns)
	}
}

// fzShow prints a value for a message: quoted, or, when large, its start
// and length.
func fzShow(v []byte) string {
	if len(v) <= 32 {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%q... (%d bytes)", v[:8], len(v))
}

// fzShowPairs prints a scan's key-value pairs as fzShow does.
func fzShowPairs(kvs [][2]string) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kv[0] + "=" + fzShow([]byte(kv[1]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
