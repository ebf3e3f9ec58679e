package mvcc

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

var errInjected = errors.New("injected storage failure")

// faultPoint names a point of a group commit where tests inject failures.
type faultPoint int

const (
	// faultBeforeWrite: before any record of the group is written (inside
	// the bbolt transaction, for a group written to the data bucket).
	faultBeforeWrite faultPoint = iota
	// faultAfterWrite: after every record is written, before it is synced
	// (bbolt: before it commits), as a failing write: the log cuts the
	// records off again.
	faultAfterWrite
	// faultAfterCommit: the group reached the disk; the commit is reported
	// as failed anyway (as an fsync error on pages that reached the disk).
	faultAfterCommit
)

// faultyStore is a fileStore that fails once at its point.
type faultyStore struct {
	inner fileStore
	at    faultPoint
	fired *atomic.Int32
}

func (s faultyStore) fire(p faultPoint) error {
	if p == s.at && s.fired.CompareAndSwap(0, 1) {
		return errInjected
	}
	return nil
}

func (s faultyStore) update(fn func(*bolt.Tx) error) error {
	err := s.inner.update(func(tx *bolt.Tx) error {
		if err := s.fire(faultBeforeWrite); err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		return s.fire(faultAfterWrite)
	})
	if err == nil {
		err = s.fire(faultAfterCommit)
	}
	return err
}

func (s faultyStore) appendLog(l *wal, b []byte, last uint64) error {
	if err := s.fire(faultBeforeWrite); err != nil {
		return err
	}
	if s.at == faultAfterWrite && s.fired.Load() == 0 {
		// The records are written, then the write reports a failure:
		// the log cuts them off, as append does.
		l.mu.Lock()
		size := l.size
		l.mu.Unlock()
		if err := s.inner.appendLog(l, b, last); err != nil {
			return err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := l.f.Truncate(size); err != nil {
			return err
		}
		l.size = size
		return s.fire(faultAfterWrite)
	}
	if err := s.inner.appendLog(l, b, last); err != nil {
		return err
	}
	if err := s.fire(faultAfterCommit); err != nil {
		return fmt.Errorf("%w: %w", errWALUnknown, err)
	}
	return nil
}

// injectOnce arms db so that the next group commit fails at p, once. It
// returns a counter of the failures injected.
func injectOnce(t *testing.T, db *DB, p faultPoint) *atomic.Int32 {
	t.Helper()
	var fired atomic.Int32
	inner := db.files()
	var fs fileStore = faultyStore{inner: inner, at: p, fired: &fired}
	db.store.Store(&fs)
	t.Cleanup(func() { db.store.Store(&inner) })
	return &fired
}

func faultPut(db *DB, kv ...string) error {
	tx, err := db.Begin(Snapshot)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// faultGet returns key's value, or "" when absent.
func faultGet(t *testing.T, db *DB, key string) string {
	t.Helper()
	var v []byte
	err := db.View(context.Background(), func(tx *Txn) error {
		var err error
		v, err = tx.Get([]byte(key))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return ""
	}
	require.NoError(t, err)
	return string(v)
}

func boltCheck(t *testing.T, path string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}))
}

var faultCases = []struct {
	name  string
	point faultPoint
	// reached: the failed group is in the file (its outcome is unknown to
	// the committer), so the DB stops accepting commits.
	reached bool
}{
	{"error before the group is written", faultBeforeWrite, false},
	{"write or fsync of the data fails", faultAfterWrite, false},
	{"fsync fails after the group reached the file", faultAfterCommit, true},
}

// A failed group commit: its committer gets an error that is not a
// conflict, nothing acknowledged before is lost, the failed transaction
// is never half there, and the DB either goes on (nothing was written) or
// refuses further commits with ErrClosed (the outcome is unknown) until it
// is reopened.
func TestFaultFailedCommit(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fault.db")
			db, err := Open(path, nil)
			require.NoError(t, err)
			for i := range 10 {
				require.NoError(t, faultPut(db, fmt.Sprintf("acked/%d", i), "v"))
			}
			injectOnce(t, db, tc.point)

			err = faultPut(db, "failed/a", "1", "failed/b", "1", "acked/0", "overwritten")
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrConflict)
			assert.ErrorIs(t, err, errInjected)
			// The in-memory state is the acknowledged one.
			assert.Empty(t, faultGet(t, db, "failed/a"))
			assert.Equal(t, "v", faultGet(t, db, "acked/0"))

			err = faultPut(db, "after", "1")
			if tc.reached {
				require.ErrorIs(t, err, ErrClosed)
				assert.ErrorIs(t, err, errInjected)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "1", faultGet(t, db, "after"))
				if tc.point == faultAfterWrite {
					// The failed group had taken timestamp 11: it is
					// never handed out again.
					assert.Equal(t, uint64(12), db.Stats().LastCommitTS)
				}
			}
			for i := range 10 { // reads go on either way
				assert.Equal(t, "v", faultGet(t, db, fmt.Sprintf("acked/%d", i)))
			}
			require.NoError(t, db.Close())
			boltCheck(t, path)

			db, err = Open(path, nil)
			require.NoError(t, err)
			defer db.Close()
			for i := 1; i < 10; i++ {
				assert.Equal(t, "v", faultGet(t, db, fmt.Sprintf("acked/%d", i)))
			}
			a, b, zero := faultGet(t, db, "failed/a"), faultGet(t, db, "failed/b"), faultGet(t, db, "acked/0")
			if tc.reached {
				// The group reached the file: entirely there.
				assert.Equal(t, []string{"1", "1", "overwritten"}, []string{a, b, zero})
				assert.Empty(t, faultGet(t, db, "after"))
			} else {
				assert.Equal(t, []string{"", "", "v"}, []string{a, b, zero})
				assert.Equal(t, "1", faultGet(t, db, "after"))
			}
			require.NoError(t, faultPut(db, "reopened", "1"), "a reopened DB accepts commits")
			assert.Equal(t, "1", faultGet(t, db, "reopened"))
		})
	}
}

// Many committers while one group fails: afterwards (and after a reopen)
// every acknowledged transaction is present, every transaction is all or
// nothing, and the ones certainly not persisted are absent.
func TestFaultConcurrentCommitters(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fault.db")
			db, err := Open(path, &Options{NoSync: true})
			require.NoError(t, err)
			require.NoError(t, faultPut(db, "warm", "1"))
			var armed sync.Once
			const workers, perWorker = 8, 40
			type outcome struct {
				key string
				err error
			}
			results := make(chan outcome, workers*perWorker)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWorker {
						if w == 0 && i == perWorker/4 {
							armed.Do(func() { injectOnce(t, db, tc.point) })
						}
						key := fmt.Sprintf("w%d/%d", w, i)
						results <- outcome{key, faultPut(db, key+"/a", "x", key+"/b", "x")}
					}
				}()
			}
			wg.Wait()
			close(results)
			var acked, failed, stopped []string
			for r := range results {
				switch {
				case r.err == nil:
					acked = append(acked, r.key)
				case errors.Is(r.err, ErrClosed):
					stopped = append(stopped, r.key)
				default:
					require.ErrorIs(t, r.err, errInjected, r.key)
					failed = append(failed, r.key)
				}
			}
			require.NotEmpty(t, failed, "the injected failure hit nobody")
			if tc.reached {
				assert.NotEmpty(t, stopped)
			} else {
				assert.Empty(t, stopped, "a failure that wrote nothing must not stop the DB")
			}
			require.NoError(t, db.Close())
			boltCheck(t, path)

			db, err = Open(path, &Options{NoSync: true})
			require.NoError(t, err)
			defer db.Close()
			both := func(key string) (present bool) {
				a, b := faultGet(t, db, key+"/a"), faultGet(t, db, key+"/b")
				require.Equal(t, a, b, "%s is half there", key)
				return a != ""
			}
			for _, k := range acked {
				assert.True(t, both(k), "acknowledged %s lost", k)
			}
			for _, k := range stopped {
				assert.False(t, both(k), "refused %s is present", k)
			}
			for _, k := range failed {
				assert.Equal(t, tc.reached, both(k), "%s of the failed group", k)
			}
			t.Logf("%d acknowledged, %d in the failed group, %d refused afterwards", len(acked), len(failed), len(stopped))
		})
	}
}
