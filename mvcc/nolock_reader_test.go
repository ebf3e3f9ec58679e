package mvcc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// Readers never block writers and never take a process-wide lock.
//
// TestReadersTakeNoProcessWideLock holds, from the test goroutine, each
// lock of the DB that no reader may take (one the whole DB shares, not
// one per key, partition or transaction), and meanwhile runs complete
// read transactions in another goroutine: each level's Begin, Gets of keys
// memory holds, of keys only the file holds and of absent keys, a Scan, a
// ScanFunc, then Commit or Rollback, and View and ViewTx. They must end,
// with the right values, while the lock is held. The locks, and why
// readers leave them alone:
//
//	DB.writeMu           the writer of the bbolt file (a checkpoint step, a direct group, a spill); readers read the shared view
//	DB.leadMu            the commit group's leader; a read-only Commit submits nothing
//	DB.ckMu              the last checkpoint error, for Stats
//	DB.pending.mu        the log's transactions not yet applied (checkpointer, pipeline; an AsOf begin reads it)
//	checkpointer.pass    held for a whole checkpoint pass, and by check
//	vacuumer.gate        DB.Vacuum and Close
//	history.mu           the AsOf readers (taken by AsOf transactions only, see below)
//	wal.mu               appends to the log and retirements of its segments
//	gc.Collector.mu      vacuum totals, for Stats
//	gc.Collector.run     the semaphore a vacuum pass holds
//	txn.LockTable gate, drainMu, mu    plain commits and lockers; a non-locking reader holds no lock
//	txn.SSI partitions   every partition's and writers' partition's mutex: untracked readers (below) touch none
//	txn registry growMu  taken only to grow the table of reader cells (see below)
//	index rwLock.mu      the mutex behind the index's reader slots: a reader meets it only when a writer announced itself
//	bbolt rwlock, metalock  bbolt's one writer and its meta page: the shared view spares readers both
//
// Locks a reader does take, so not held here (holding them would stall
// the readers by design):
//
//   - The index's read side (index/rwlock.go): each point read and scan
//     chunk counts itself in one of 64 slots on cache lines of their own;
//     it waits only while a writer (a commit's install, a prune or spill
//     step, each short) holds the write side.
//   - A Locking (two-phase) transaction's reads go through the lock table,
//     under its one mutex (txn.LockTable.mu, shared by the whole DB so that
//     a deadlock walk sees every edge), and its first lock raises the
//     owner's count of strong locks under drainMu, and the DB's first
//     strong owner drains gate (takes it for writing once). Locking
//     readers are excluded from those three locks' subtests.
//   - A tracked serializable transaction (not declared read-only, or
//     Locking, or a read-only one that began while a read-write
//     serializable transaction was active or a commit was published)
//     locks one SSI partition, chosen at random, at Begin and End; a read
//     that meets newer versions locks the writers' partitions of their
//     timestamps (and, once SSI folded old transactions into summaries,
//     the partitions holding one); an End that makes its partition due for
//     pruning walks every partition, one lock at a time. Each read also
//     locks the transaction's own record. Tracked readers are
//     excluded from the SSI subtest; declared read-only ones on a safe
//     snapshot touch no SSI lock, and run there.
//   - With Options.MaxSnapshotAge, Begin and End lock one of 64 shards of
//     the age registry (snapage.go), by the transaction's address.
//   - A transaction as of a past time (TxOptions.AsOf) takes history.mu at
//     End, and, with Options.HistoryRetention and a time before the newest
//     commit, at Begin, with the pending log's mutex to find its commit.
//   - The registry's growMu, at a Begin that finds every cell of the table
//     of reader cells claimed (at least 4 per core, doubled each time):
//     as often as the most transactions ever open at once doubles.
//   - bbolt's metalock and mmaplock, through a private read transaction,
//     only while no shared view is current (between a retirement and the
//     next install, view.go).
//   - Each transaction's own mutex (Txn.mu), and, per scan, the
//     package's chunk cache (a buffered channel, whose runtime lock a
//     non-blocking send or receive takes for a few instructions).
//
// TestReadersDoNotBlockWriters is the other half: while a read-only
// transaction sits inside a ScanFunc callback, a writer commits Put and
// Delete on the keys it reads, and the checkpoint and a vacuum pass run;
// all return, and the reader still sees its snapshot.
//
// A deadline of a generous 30 s turns a reader that waits for a held lock
// (a deadlock) into a failure that names the lock; it judges no speed.
const hangDetector = 30 * time.Second

// readerKind is one way to run a read transaction.
type readerKind struct {
	name string
	opts TxOptions
	end  string // "commit", "rollback", "view" (DB.View) or "viewtx" (DB.ViewTx)
}

// readerKinds covers every level, Commit and Rollback, View and ViewTx.
var readerKinds = func() []readerKind {
	levels := []struct {
		name string
		opts TxOptions
	}{
		{"ReadCommitted", TxOptions{Isolation: ReadCommitted}},
		{"Snapshot", TxOptions{Isolation: Snapshot}},
		{"SnapshotReadOnly", TxOptions{Isolation: Snapshot, ReadOnly: true}},
		{"Serializable", TxOptions{Isolation: Serializable}},
		{"SerializableReadOnly", TxOptions{Isolation: Serializable, ReadOnly: true}},
		{"SerializableLocking", TxOptions{Isolation: Serializable, Locking: true}},
	}
	var kinds []readerKind
	for _, l := range levels {
		for _, end := range []string{"commit", "rollback"} {
			kinds = append(kinds, readerKind{name: l.name + "/" + end, opts: l.opts, end: end})
		}
	}
	return append(kinds,
		readerKind{name: "View", end: "view"},
		readerKind{name: "ViewTxSerializable", opts: TxOptions{Isolation: Serializable}, end: "viewtx"},
	)
}()

// tracked reports whether SSI registers a transaction of kind k (the
// database running no read-write serializable transaction meanwhile).
func (k readerKind) tracked() bool {
	return k.opts.Isolation == Serializable && k.end != "viewtx" && (!k.opts.ReadOnly || k.opts.Locking)
}

// openReaderDB opens a database whose keys k00..k11 and n000..n099 were
// vacuumed out of memory (the data bucket alone holds them; a scan of
// them all reads more than one chunk of the file), then changed by a
// commit that only the log and memory hold: k02, k05 and k09 updated, k07
// deleted, k04a created. It returns the expected contents.
func openReaderDB(t *testing.T) (*DB, map[string]string) {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "readers.db"), &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	ctx := context.Background()
	want := make(map[string]string)
	for i := range 12 {
		k := fmt.Sprintf("k%02d", i)
		want[k] = "file-" + k
	}
	for i := range 100 {
		k := fmt.Sprintf("n%03d", i)
		want[k] = "file-" + k
	}
	require.NoError(t, db.Update(ctx, Snapshot, func(tx *Txn) error {
		for k, v := range want {
			if err := tx.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}))
	_, err = db.Vacuum(ctx) // applies the log to the file, then memory lets the keys go
	require.NoError(t, err)
	require.Zero(t, db.Stats().MemVersions, "the file alone holds the first commit")

	for _, k := range []string{"k02", "k05", "k09", "k04a"} {
		want[k] = "mem-" + k
	}
	delete(want, "k07")
	require.NoError(t, db.Update(ctx, Snapshot, func(tx *Txn) error {
		for _, k := range []string{"k02", "k05", "k09", "k04a"} {
			if err := tx.Put([]byte(k), []byte(want[k])); err != nil {
				return err
			}
		}
		return tx.Delete([]byte("k07"))
	}))
	s := db.Stats()
	require.Positive(t, s.LogWrites, "the second commit is in the log, not yet in the file")
	require.Positive(t, s.MemVersions, "memory holds the second commit")
	return db, want
}

// sortedKV is want's keys in [start, end) in order, as "key=value".
func sortedKV(want map[string]string, start, end string) []string {
	var out []string
	for k, v := range want {
		if k >= start && (end == "" || k < end) {
			out = append(out, k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

// checkReads reads through tx what want says the database holds: keys in
// memory, keys in the file alone, a key deleted in memory, an absent key,
// a Scan and a ScanFunc.
func checkReads(tx *Txn, want map[string]string) error {
	for _, k := range []string{"k02", "k04a", "k03", "k11", "k07", "absent"} {
		v, err := tx.Get([]byte(k))
		w, ok := want[k]
		switch {
		case !ok && !errors.Is(err, ErrNotFound):
			return fmt.Errorf("Get(%s) = %q, %v; want ErrNotFound", k, v, err)
		case ok && (err != nil || string(v) != w):
			return fmt.Errorf("Get(%s) = %q, %v; want %q", k, v, err, w)
		}
	}
	var scanned []string
	for k, v := range tx.Scan([]byte("k01"), []byte("k08")) {
		scanned = append(scanned, string(k)+"="+string(v))
	}
	if err := tx.Err(); err != nil {
		return fmt.Errorf("Scan: %w", err)
	}
	if w := sortedKV(want, "k01", "k08"); !slices.Equal(scanned, w) {
		return fmt.Errorf("Scan [k01, k08) = %v; want %v", scanned, w)
	}
	scanned = scanned[:0]
	if err := tx.ScanFunc(nil, nil, func(k, v []byte) bool {
		scanned = append(scanned, string(k)+"="+string(v))
		return true
	}); err != nil {
		return fmt.Errorf("ScanFunc: %w", err)
	}
	if w := sortedKV(want, "", ""); !slices.Equal(scanned, w) {
		return fmt.Errorf("ScanFunc = %v; want %v", scanned, w)
	}
	return nil
}

// runReaders runs a read transaction of each kind, one after the other,
// storing in at the name of the one in progress.
func runReaders(db *DB, kinds []readerKind, want map[string]string, at *atomic.Value) error {
	ctx := context.Background()
	for _, k := range kinds {
		at.Store(k.name)
		var err error
		switch k.end {
		case "view":
			err = db.View(ctx, func(tx *Txn) error { return checkReads(tx, want) })
		case "viewtx":
			err = db.ViewTx(ctx, k.opts, func(tx *Txn) error { return checkReads(tx, want) })
		default:
			var tx *Txn
			if tx, err = db.BeginTx(ctx, k.opts); err != nil {
				break
			}
			if err = checkReads(tx, want); err != nil {
				tx.Rollback() // the read's error is the one reported
				break
			}
			if k.end == "commit" {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
		}
		if err != nil {
			return fmt.Errorf("%s reader: %w", k.name, err)
		}
	}
	at.Store("none (all done)")
	return nil
}

// fieldAt returns the field at path inside root (a pointer to a struct),
// following pointers, addressable; the test fails when a field is missing
// (renamed: update the path).
func fieldAt(t *testing.T, root any, path ...string) reflect.Value {
	t.Helper()
	v := reflect.ValueOf(root)
	for _, name := range path {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		f := v.FieldByName(name)
		require.Truef(t, f.IsValid(), "%s has no field %s", v.Type(), name)
		v = f
	}
	return v
}

// lockAt returns the mutex at path inside root (an RWMutex's write side).
// Unexported fields of other packages are reached through reflection:
// the lock held is the real one, not a copy.
func lockAt(t *testing.T, root any, path ...string) sync.Locker {
	t.Helper()
	f := fieldAt(t, root, path...)
	l, ok := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Interface().(sync.Locker)
	require.Truef(t, ok, "%s.%s is a %s, not a lock", reflect.TypeOf(root), strings.Join(path, "."), f.Type())
	return l
}

// eachLockAt returns the mutex named field of every element of the slice
// at path inside root.
func eachLockAt(t *testing.T, root any, field string, path ...string) []sync.Locker {
	t.Helper()
	s := fieldAt(t, root, path...)
	require.Equal(t, reflect.Slice, s.Kind(), "%s is not a slice", strings.Join(path, "."))
	require.Positive(t, s.Len())
	var ls []sync.Locker
	for i := range s.Len() {
		f := s.Index(i).FieldByName(field)
		require.Truef(t, f.IsValid(), "%s has no field %s", s.Index(i).Type(), field)
		ls = append(ls, reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Interface().(sync.Locker))
	}
	return ls
}

// semaphore is a one-slot channel held as a lock.
type semaphore chan struct{}

func (s semaphore) Lock()   { s <- struct{}{} }
func (s semaphore) Unlock() { <-s }

func TestReadersTakeNoProcessWideLock(t *testing.T) {
	db, want := openReaderDB(t)
	one := func(l sync.Locker) func(*testing.T, *DB) []sync.Locker {
		return func(*testing.T, *DB) []sync.Locker { return []sync.Locker{l} }
	}
	lockers := func(k readerKind) bool { return k.opts.Locking }
	locks := []struct {
		name  string
		locks func(*testing.T, *DB) []sync.Locker
		// takenBy lists the readers that take the lock by design (see
		// the file's comment): they do not run while it is held.
		takenBy func(readerKind) bool
	}{
		{name: "DB.writeMu", locks: one(&db.writeMu)},
		{name: "DB.leadMu", locks: one(&db.leadMu)},
		{name: "DB.ckMu", locks: one(&db.ckMu)},
		{name: "pendingLog.mu", locks: one(&db.pending.mu)},
		{name: "checkpointer.pass", locks: one(&db.ck.pass)},
		{name: "vacuumer.gate", locks: one(&db.vac.gate)},
		{name: "history.mu", locks: one(&db.hist.mu)},
		{name: "wal.mu", locks: one(&db.wal.mu)},
		{name: "gc.Collector.mu", locks: func(t *testing.T, db *DB) []sync.Locker {
			return []sync.Locker{lockAt(t, db.vac.gc, "mu")}
		}},
		{name: "gc.Collector.run", locks: func(t *testing.T, db *DB) []sync.Locker {
			f := fieldAt(t, db.vac.gc, "run")
			return []sync.Locker{semaphore(*(*chan struct{})(unsafe.Pointer(f.UnsafeAddr())))}
		}},
		{name: "txn.LockTable.gate", takenBy: lockers, locks: func(t *testing.T, db *DB) []sync.Locker {
			return []sync.Locker{lockAt(t, db.locks, "gate")}
		}},
		{name: "txn.LockTable.drainMu", takenBy: lockers, locks: func(t *testing.T, db *DB) []sync.Locker {
			return []sync.Locker{lockAt(t, db.locks, "drainMu")}
		}},
		{name: "txn.LockTable.mu", takenBy: lockers, locks: func(t *testing.T, db *DB) []sync.Locker {
			return []sync.Locker{lockAt(t, db.locks, "mu")}
		}},
		{name: "txn.SSI partitions", takenBy: readerKind.tracked, locks: func(t *testing.T, db *DB) []sync.Locker {
			return append(eachLockAt(t, db.ssi, "mu", "parts"), eachLockAt(t, db.ssi, "mu", "writers")...)
		}},
		{name: "txn.registry.growMu", locks: func(t *testing.T, db *DB) []sync.Locker {
			return []sync.Locker{lockAt(t, db.oracle, "reg", "growMu")}
		}},
		{name: "index.rwLock.mu", locks: func(t *testing.T, db *DB) []sync.Locker {
			writers := fieldAt(t, db.index, "mu", "writers")
			require.Zero(t, (*atomic.Int32)(unsafe.Pointer(writers.UnsafeAddr())).Load(), "no index writer announced")
			return []sync.Locker{lockAt(t, db.index, "mu", "mu")}
		}},
		{name: "bbolt.rwlock", locks: func(t *testing.T, db *DB) []sync.Locker {
			return []sync.Locker{lockAt(t, db.bolt, "rwlock")}
		}},
		{name: "bbolt.metalock", locks: func(t *testing.T, db *DB) []sync.Locker {
			require.NotNil(t, db.view.Load(), "a shared view is current")
			return []sync.Locker{lockAt(t, db.bolt, "metalock")}
		}},
	}
	for _, l := range locks {
		t.Run(l.name, func(t *testing.T) {
			var kinds []readerKind
			for _, k := range readerKinds {
				if l.takenBy == nil || !l.takenBy(k) {
					kinds = append(kinds, k)
				}
			}
			held := l.locks(t, db)
			for _, m := range held {
				m.Lock()
			}
			release := func() {
				for _, m := range slices.Backward(held) {
					m.Unlock()
				}
			}
			var at atomic.Value
			at.Store("begin")
			done := make(chan error, 1)
			go func() { done <- runReaders(db, kinds, want, &at) }()
			select {
			case err := <-done:
				release()
				require.NoError(t, err, "while %s was held", l.name)
			case <-time.After(hangDetector):
				release()
				t.Fatalf("a reader waits for %s: the %s reader did not finish while it was held", l.name, at.Load())
			}
		})
	}
	require.NoError(t, db.check())
}

// TestReadersDoNotBlockWriters has a read-only transaction stop inside
// its ScanFunc callback, at the first key, while a writer commits over
// the keys it reads (values changed before and after the scan's position,
// keys ahead of it deleted, others inserted into the range), the
// checkpoint applies that to the file and a vacuum pass runs: each
// returns without waiting for the reader, and the reader still sees its
// snapshot, in the rest of the scan (whose next chunk of the file is read
// after the checkpoint), in Gets and in a second scan.
func TestReadersDoNotBlockWriters(t *testing.T) {
	for _, k := range []struct {
		name string
		opts TxOptions
	}{
		{"Snapshot", TxOptions{Isolation: Snapshot, ReadOnly: true}},
		{"SerializableReadOnly", TxOptions{Isolation: Serializable, ReadOnly: true}},
		{"Serializable", TxOptions{Isolation: Serializable}}, // tracked by SSI
		{"ReadCommittedScan", TxOptions{Isolation: ReadCommitted, ReadOnly: true}},
	} {
		t.Run(k.name, func(t *testing.T) {
			db, want := openReaderDB(t)
			ctx := context.Background()
			after := make(map[string]string)
			for key := range want {
				after[key] = "new-" + key
			}
			delete(after, "k09")
			delete(after, "n080")
			after["k06a"] = "new-k06a"
			after["n080a"] = "new-n080a"
			write := func() error {
				if err := db.Update(ctx, k.opts.Isolation, func(tx *Txn) error {
					for _, key := range slices.Sorted(maps.Keys(after)) {
						if err := tx.Put([]byte(key), []byte(after[key])); err != nil {
							return err
						}
					}
					if err := tx.Delete([]byte("n080")); err != nil {
						return err
					}
					return tx.Delete([]byte("k09"))
				}); err != nil {
					return fmt.Errorf("commit: %w", err)
				}
				if err := db.requestCheckpoint(); err != nil {
					return fmt.Errorf("checkpoint: %w", err)
				}
				if _, err := db.Vacuum(ctx); err != nil {
					return fmt.Errorf("vacuum: %w", err)
				}
				return nil
			}

			tx, err := db.BeginTx(ctx, k.opts)
			require.NoError(t, err)
			var scanned []string
			var wrote error
			wroteOnce := false
			require.NoError(t, tx.ScanFunc(nil, nil, func(key, v []byte) bool {
				scanned = append(scanned, string(key)+"="+string(v))
				if wroteOnce {
					return true
				}
				wroteOnce = true
				done := make(chan error, 1)
				go func() { done <- write() }()
				select {
				case wrote = <-done:
				case <-time.After(hangDetector):
					wrote = errors.New("the writer waits for the reader inside ScanFunc")
				}
				return wrote == nil
			}))
			require.NoError(t, wrote)
			// A statement sees its one snapshot to its end, read
			// committed's included.
			require.Equal(t, sortedKV(want, "", ""), scanned, "the scan the writer overtook")
			if k.opts.Isolation != ReadCommitted {
				require.NoError(t, checkReads(tx, want), "the reader's snapshot after the writer's commit")
			} else {
				require.NoError(t, checkReads(tx, after), "read committed's next statements see the commit")
			}
			require.NoError(t, tx.Commit())
			require.NoError(t, db.View(ctx, func(tx *Txn) error { return checkReads(tx, after) }), "a new reader sees the commit")
			require.NoError(t, db.check())
		})
	}
}
