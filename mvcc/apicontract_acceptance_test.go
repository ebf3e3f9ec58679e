package mvcc_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// These tests read API.md bullet by bullet, as a user holding only the
// contract would, and check the edges the other contract tests leave out.

func apiOpen(t *testing.T) *mvcc.DB {
	t.Helper()
	db, _ := ctOpen(t, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	return db
}

func apiBegin(t *testing.T, db *mvcc.DB, level mvcc.Level) *mvcc.Txn {
	t.Helper()
	tx, err := db.Begin(level)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx
}

var apiLevels = []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}

func TestAPIClosedDBEveryEntryPoint(t *testing.T) {
	db, path := ctOpen(t, &mvcc.Options{NoSync: true})
	ctPut(t, db, "a", "1")
	open := apiBegin(t, db, mvcc.Snapshot)
	require.NoError(t, db.Close())
	ctx := context.Background()
	called := false
	fn := func(*mvcc.Txn) error { called = true; return nil }
	backup := filepath.Join(t.TempDir(), "backup")
	for name, run := range map[string]func() error{
		"UpdateTx":   func() error { return db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot}, fn) },
		"ViewTx":     func() error { return db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn) },
		"Backup":     func() error { _, err := db.Backup(ctx, &bytes.Buffer{}); return err },
		"BackupFile": func() error { _, err := db.BackupFile(ctx, backup); return err },
		"Locking": func() error {
			_, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true})
			return err
		},
	} {
		assert.ErrorIs(t, run(), mvcc.ErrClosed, name)
	}
	assert.False(t, called, "no function runs on a closed DB")
	_, err := os.Stat(backup)
	assert.True(t, os.IsNotExist(err), "a refused BackupFile leaves no file")
	assert.NotPanics(t, func() { _ = db.Stats() })

	// A transaction begun before Close: every call is ErrClosed.
	for name, run := range map[string]func() error{
		"Get":          func() error { _, err := open.Get([]byte("a")); return err },
		"GetForUpdate": func() error { _, err := open.GetForUpdate([]byte("a")); return err },
		"Put":          func() error { return open.Put([]byte("a"), []byte("2")) },
		"Delete":       func() error { return open.Delete([]byte("a")) },
	} {
		assert.ErrorIs(t, run(), mvcc.ErrClosed, name)
	}
	for range open.Scan(nil, nil) {
		t.Fatal("a scan of a closed DB yields nothing")
	}
	assert.ErrorIs(t, open.Err(), mvcc.ErrClosed, "Err says why the scan yielded nothing")

	// Nothing written after Close reached the file.
	db2, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db2.Close()
	v, err := getString(t, db2, "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v)
}

func TestAPIScanEdgeRanges(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1", "b", "2", "c", "3", "\xff", "4", "\xff\xff", "5", "\xff\xff\x01", "6")
	tx := apiBegin(t, db, mvcc.Snapshot)
	collect := func(seq func(func([]byte, []byte) bool)) []string {
		var out []string
		for k := range seq {
			out = append(out, string(k))
		}
		return out
	}
	assert.Empty(t, collect(tx.Scan([]byte("c"), []byte("a"))), "start > end is an empty range")
	assert.Empty(t, collect(tx.ScanReverse([]byte("c"), []byte("a"))), "start > end is an empty range")
	assert.Empty(t, collect(tx.Scan([]byte("b"), []byte("b"))), "start == end is an empty range")
	require.NoError(t, tx.Err(), "an empty range is not an error")
	all := []string{"a", "b", "c", "\xff", "\xff\xff", "\xff\xff\x01"}
	assert.Equal(t, all, collect(tx.ScanPrefix(nil)), "a nil prefix is every key")
	assert.Equal(t, all, collect(tx.ScanPrefix([]byte{})), "an empty prefix is every key")
	assert.Equal(t, all[3:], collect(tx.ScanPrefix([]byte{0xff})))
	assert.Equal(t, all[4:], collect(tx.ScanPrefix([]byte{0xff, 0xff})))
	assert.Empty(t, collect(tx.ScanPrefix([]byte{0xff, 0xff, 0xff})))
	assert.Equal(t, []string{"\xff\xff\x01", "\xff\xff", "\xff"}, collect(tx.ScanReverse([]byte{0xff}, nil)))
	require.NoError(t, tx.Err())
}

func TestAPIWritesInOneTxn(t *testing.T) {
	for _, level := range apiLevels {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "kept", "1")
			tx := apiBegin(t, db, level)
			require.NoError(t, tx.Delete([]byte("absent")), "deleting an absent key is not an error")
			require.NoError(t, tx.Put([]byte("k"), []byte("v")))
			require.NoError(t, tx.Delete([]byte("k")))
			_, err := tx.Get([]byte("k"))
			assert.ErrorIs(t, err, mvcc.ErrNotFound, "own delete after own put")
			_, err = tx.GetForUpdate([]byte("k"))
			assert.ErrorIs(t, err, mvcc.ErrNotFound)
			require.NoError(t, tx.Delete([]byte("kept")))
			require.NoError(t, tx.Put([]byte("kept"), []byte("2")))
			v, err := tx.Get([]byte("kept"))
			require.NoError(t, err)
			assert.Equal(t, "2", string(v), "own put after own delete")
			var keys []string
			for k := range tx.Scan(nil, nil) {
				keys = append(keys, string(k))
			}
			assert.Equal(t, []string{"kept"}, keys)
			require.NoError(t, tx.Commit())
			_, err = getString(t, db, "k")
			assert.ErrorIs(t, err, mvcc.ErrNotFound)
			_, err = getString(t, db, "absent")
			assert.ErrorIs(t, err, mvcc.ErrNotFound)
			v2, err := getString(t, db, "kept")
			require.NoError(t, err)
			assert.Equal(t, "2", v2)
		})
	}
}

func TestAPIFinishedTxn(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1")

	rolled := apiBegin(t, db, mvcc.Snapshot)
	require.NoError(t, rolled.Put([]byte("a"), []byte("2")))
	require.NoError(t, rolled.Rollback())
	_, err := rolled.Get([]byte("a"))
	assert.ErrorIs(t, err, mvcc.ErrTxnDone, "Get after Rollback")
	assert.ErrorIs(t, rolled.Commit(), mvcc.ErrTxnDone, "Commit after Rollback")
	assert.ErrorIs(t, rolled.Rollback(), mvcc.ErrTxnDone, "Rollback twice")

	committed := apiBegin(t, db, mvcc.Snapshot)
	require.NoError(t, committed.Put([]byte("b"), []byte("1")))
	require.NoError(t, committed.Commit())
	assert.ErrorIs(t, committed.Commit(), mvcc.ErrTxnDone, "Commit twice")
	assert.ErrorIs(t, committed.Rollback(), mvcc.ErrTxnDone, "Rollback after Commit")
	assert.ErrorIs(t, committed.Put([]byte("c"), []byte("1")), mvcc.ErrTxnDone)
	_, err = getString(t, db, "c")
	assert.ErrorIs(t, err, mvcc.ErrNotFound, "a write after Commit changes nothing")
	v, err := getString(t, db, "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v, "a rolled-back write changes nothing")
}

func TestAPIConflictEndsTxnUntilRollback(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "k", "0")
			loser := apiBegin(t, db, level)
			_, err := loser.Get([]byte("k"))
			require.NoError(t, err)
			ctPut(t, db, "k", "winner")
			err = loser.Put([]byte("k"), []byte("loser"))
			if err == nil {
				err = loser.Commit()
			}
			require.ErrorIs(t, err, mvcc.ErrConflict, "first committer wins")
			var ce *mvcc.ConflictError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, mvcc.WriteConflict, ce.Kind)
			assert.Equal(t, "k", string(ce.Key))

			for name, run := range map[string]func() error{
				"Get":    func() error { _, err := loser.Get([]byte("k")); return err },
				"Put":    func() error { return loser.Put([]byte("x"), []byte("1")) },
				"Commit": func() error { return loser.Commit() },
			} {
				err := run()
				assert.ErrorIs(t, err, mvcc.ErrTxnDone, name)
				assert.ErrorIs(t, err, mvcc.ErrConflict, name)
			}
			if err := loser.Rollback(); err != nil {
				assert.ErrorIs(t, err, mvcc.ErrTxnDone, "Rollback after a conflict")
			}
			_, err = loser.Get([]byte("k"))
			assert.ErrorIs(t, err, mvcc.ErrTxnDone)
			assert.NotErrorIs(t, err, mvcc.ErrConflict, "after Rollback only ErrTxnDone")
			v, err := getString(t, db, "k")
			require.NoError(t, err)
			assert.Equal(t, "winner", v)
			_, err = getString(t, db, "x")
			assert.ErrorIs(t, err, mvcc.ErrNotFound)
		})
	}
}

func TestAPIManagedTxnRefusesCommitAndRollback(t *testing.T) {
	db := apiOpen(t)
	ctx := context.Background()
	ctPut(t, db, "a", "1")
	type runner func(fn func(*mvcc.Txn) error) error
	for name, run := range map[string]runner{
		"Update": func(fn func(*mvcc.Txn) error) error { return db.Update(ctx, mvcc.Snapshot, fn) },
		"UpdateTx": func(fn func(*mvcc.Txn) error) error {
			return db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, fn)
		},
		"View": func(fn func(*mvcc.Txn) error) error { return db.View(ctx, fn) },
		"ViewTx": func(fn func(*mvcc.Txn) error) error {
			return db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.ReadCommitted}, fn)
		},
	} {
		t.Run(name, func(t *testing.T) {
			writes := name == "Update" || name == "UpdateTx"
			before, err := getString(t, db, "a")
			require.NoError(t, err)
			err = run(func(tx *mvcc.Txn) error {
				if writes {
					require.NoError(t, tx.Put([]byte("a"), []byte(name)))
				}
				assert.ErrorIs(t, tx.Commit(), mvcc.ErrManagedTxn)
				assert.ErrorIs(t, tx.Rollback(), mvcc.ErrManagedTxn)
				// Nothing changed: the transaction goes on.
				v, err := tx.Get([]byte("a"))
				require.NoError(t, err)
				if writes {
					assert.Equal(t, name, string(v))
				} else {
					assert.Equal(t, before, string(v))
				}
				return nil
			})
			require.NoError(t, err)
			v, err := getString(t, db, "a")
			require.NoError(t, err)
			if writes {
				assert.Equal(t, name, v, "the managed transaction still commits")
			}
		})
	}
}

func TestAPIUpdateErrorsFromFn(t *testing.T) {
	db := apiOpen(t)
	ctx := context.Background()

	// An error wrapping ErrConflict is retried.
	calls := 0
	err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("my check: %w", mvcc.ErrConflict)
		}
		return tx.Put([]byte("k"), []byte("v"))
	})
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	v, err := getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v)

	// Another error rolls back and comes back unchanged (same identity).
	mine := &apiErr{"mine"}
	calls = 0
	err = db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		calls++
		require.NoError(t, tx.Put([]byte("k"), []byte("lost")))
		return mine
	})
	assert.Same(t, mine, err, "returned unchanged")
	assert.Equal(t, 1, calls, "not retried")
	v, err = getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "v", v, "rolled back")
}

type apiErr struct{ s string }

func (e *apiErr) Error() string { return e.s }

func TestAPIUpdateRetryLimit(t *testing.T) {
	for _, limit := range []int{-1, 1, 3} {
		db, _ := ctOpen(t, &mvcc.Options{NoSync: true, MaxUpdateRetries: limit})
		calls := 0
		err := db.Update(context.Background(), mvcc.Snapshot, func(*mvcc.Txn) error {
			calls++
			return mvcc.ErrConflict
		})
		require.ErrorIs(t, err, mvcc.ErrConflict, "the last conflict is returned")
		assert.Equal(t, max(limit, 0)+1, calls, "one run and MaxUpdateRetries retries (negative: none)")
	}
}

func TestAPIBadKeysAndValues(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1")
	big := func(n int) []byte { return bytes.Repeat([]byte{'k'}, n) }
	for _, level := range apiLevels {
		tx := apiBegin(t, db, level)
		for _, key := range [][]byte{nil, {}} {
			_, err := tx.Get(key)
			assert.ErrorIs(t, err, mvcc.ErrEmptyKey, "Get")
			_, err = tx.GetForUpdate(key)
			assert.ErrorIs(t, err, mvcc.ErrEmptyKey, "GetForUpdate")
			assert.ErrorIs(t, tx.Put(key, []byte("v")), mvcc.ErrEmptyKey, "Put")
			assert.ErrorIs(t, tx.Delete(key), mvcc.ErrEmptyKey, "Delete")
		}
		_, err := tx.Get(big(mvcc.MaxKeySize + 1))
		assert.ErrorIs(t, err, mvcc.ErrKeyTooLarge, "Get")
		_, err = tx.GetForUpdate(big(mvcc.MaxKeySize + 1))
		assert.ErrorIs(t, err, mvcc.ErrKeyTooLarge, "GetForUpdate")
		assert.ErrorIs(t, tx.Put(big(mvcc.MaxKeySize+1), nil), mvcc.ErrKeyTooLarge)
		assert.ErrorIs(t, tx.Delete(big(mvcc.MaxKeySize+1)), mvcc.ErrKeyTooLarge)
		assert.ErrorIs(t, tx.Put([]byte("v"), make([]byte, mvcc.MaxValueSize+1)), mvcc.ErrValueTooLarge)
		// Bad input does not end the transaction.
		v, err := tx.Get([]byte("a"))
		require.NoError(t, err, level.String())
		assert.Equal(t, "1", string(v))
		require.NoError(t, tx.Commit(), "bad input leaves the transaction usable")
	}

	// The exact key limit is accepted, and read back (the exact value
	// limit: TestSizeLimitsSurviveRestart).
	maxKey := big(mvcc.MaxKeySize)
	tx := apiBegin(t, db, mvcc.Snapshot)
	require.NoError(t, tx.Put(maxKey, []byte("x")))
	require.NoError(t, tx.Put([]byte("empty"), nil), "an empty value is a value")
	require.NoError(t, tx.Commit())
	rd := apiBegin(t, db, mvcc.Snapshot)
	v, err := rd.Get(maxKey)
	require.NoError(t, err)
	assert.Equal(t, "x", string(v))
	v, err = rd.Get([]byte("empty"))
	require.NoError(t, err, "an empty value is found, not ErrNotFound")
	assert.Empty(t, v)
	_, err = rd.Get([]byte("v"))
	assert.ErrorIs(t, err, mvcc.ErrNotFound, "the refused writes wrote nothing")
}

func TestAPILevelValidation(t *testing.T) {
	db := apiOpen(t)
	ctx := context.Background()
	for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot} {
		_, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, Locking: true})
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel, "Locking at %v", level)
		called := false
		err = db.UpdateTx(ctx, mvcc.TxOptions{Isolation: level, Locking: true}, func(*mvcc.Txn) error { called = true; return nil })
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel)
		assert.False(t, called)
	}
	for _, bad := range []mvcc.Level{3, 4, 100, 255} {
		_, err := db.Begin(bad)
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel, "Begin(%d)", int(bad))
		_, err = db.BeginTx(ctx, mvcc.TxOptions{Isolation: bad, ReadOnly: true})
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel)
		err = db.ViewTx(ctx, mvcc.TxOptions{Isolation: bad}, func(*mvcc.Txn) error { return nil })
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel)
		assert.NotPanics(t, func() { _ = bad.String() }, "String of an invalid level")
		assert.NotContains(t, []string{"read-committed", "snapshot", "serializable"}, bad.String())
	}
	for name, want := range map[string]mvcc.Level{
		"read-committed": mvcc.ReadCommitted, "snapshot": mvcc.Snapshot,
		"serializable": mvcc.Serializable, "repeatable-read": mvcc.Snapshot,
	} {
		got, err := mvcc.ParseLevel(name)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
		back, err := mvcc.ParseLevel(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, back, "ParseLevel(l.String()) == l")
	}
	for _, bad := range []string{"", "serial", "read committed uncommitted", "read-uncommitted", "0", "snapshot2"} {
		_, err := mvcc.ParseLevel(bad)
		assert.ErrorIs(t, err, mvcc.ErrInvalidLevel, "%q", bad)
	}
	assert.Equal(t, 0, db.Stats().ActiveTxns, "refused Begins leave nothing open")
}

func TestAPIOpenRefusesWhatIsNotMvkv(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid")
	db, err := mvcc.Open(valid, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	ctPut(t, db, "a", "1")
	require.NoError(t, db.Close())
	whole, err := os.ReadFile(valid)
	require.NoError(t, err)

	cases := map[string][]byte{
		"text":      []byte("hello, this is not a database\n"),
		"zeros":     make([]byte, 64<<10),
		"truncated": whole[:len(whole)/3],
		"header":    whole[:100],
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(path, content, 0o600))
			before, err := os.ReadDir(dir)
			require.NoError(t, err)
			db, err := mvcc.Open(path, &mvcc.Options{LockTimeout: -1})
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open of a %s file succeeded", name)
			}
			assert.NotEmpty(t, err.Error())
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(content, after), "Open must not modify a file it refuses")
			now, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, now, len(before), "Open of a bad file leaves no file behind")
		})
	}
	t.Run("empty", func(t *testing.T) {
		// Open is how a database comes to be: an empty file (as a
		// missing one) becomes a new database, as in bbolt and SQLite.
		path := filepath.Join(dir, "empty")
		require.NoError(t, os.WriteFile(path, nil, 0o600))
		db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
		require.NoError(t, err)
		ctPut(t, db, "a", "1")
		require.NoError(t, db.Close())
	})
	t.Run("directory", func(t *testing.T) {
		sub := filepath.Join(dir, "sub")
		require.NoError(t, os.Mkdir(sub, 0o700))
		db, err := mvcc.Open(sub, nil)
		if err == nil {
			_ = db.Close()
			t.Fatal("Open of a directory succeeded")
		}
		entries, err := os.ReadDir(sub)
		require.NoError(t, err)
		assert.Empty(t, entries, "Open of a directory writes nothing into it")
	})
}

func TestAPISecondOpenWaitsLockTimeout(t *testing.T) {
	db, path := ctOpen(t, &mvcc.Options{NoSync: true})
	ctPut(t, db, "a", "1")
	start := time.Now()
	_, err := mvcc.Open(path, &mvcc.Options{NoSync: true, LockTimeout: 50 * time.Millisecond})
	require.Error(t, err)
	assert.ErrorIs(t, err, mvcc.ErrLocked)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "it waits LockTimeout first")
	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true, LockTimeout: -1})
	if err == nil {
		_ = ro.Close()
		t.Fatal("a read-only Open of a file open for writing must not succeed")
	}
	// The first holder is not disturbed.
	v, err := getString(t, db, "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v)
}

func TestAPIReadOnlyDB(t *testing.T) {
	db, path := ctOpen(t, &mvcc.Options{NoSync: true})
	ctPut(t, db, "a", "1")
	require.NoError(t, db.Close())
	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	ctx := context.Background()
	called := false
	fn := func(*mvcc.Txn) error { called = true; return nil }
	assert.ErrorIs(t, ro.Update(ctx, mvcc.Snapshot, fn), mvcc.ErrReadOnly)
	assert.ErrorIs(t, ro.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn), mvcc.ErrReadOnly)
	assert.False(t, called)
	_, err = ro.Vacuum(ctx)
	assert.ErrorIs(t, err, mvcc.ErrReadOnly)
	tx, err := ro.Begin(mvcc.Snapshot)
	if err == nil {
		assert.ErrorIs(t, tx.Put([]byte("a"), []byte("2")), mvcc.ErrReadOnly)
		assert.ErrorIs(t, tx.Delete([]byte("a")), mvcc.ErrReadOnly)
		_ = tx.Commit()
	} else {
		assert.ErrorIs(t, err, mvcc.ErrReadOnly)
	}
	v, err := getString(t, ro, "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v)
	var buf bytes.Buffer
	_, err = ro.Backup(ctx, &buf)
	require.NoError(t, err, "a read-only DB can be backed up")
}

func TestAPIBackupFileToExistingPath(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1")
	path := filepath.Join(t.TempDir(), "exists")
	require.NoError(t, os.WriteFile(path, []byte("precious"), 0o600))
	_, err := db.BackupFile(context.Background(), path)
	require.Error(t, err, "BackupFile onto an existing file")
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(got), "the existing file is left alone")

	dir := t.TempDir()
	_, err = db.BackupFile(context.Background(), dir)
	require.Error(t, err, "BackupFile onto a directory")

	// A fresh path works and opens.
	fresh := filepath.Join(t.TempDir(), "fresh")
	n, err := db.BackupFile(context.Background(), fresh)
	require.NoError(t, err)
	fi, err := os.Stat(fresh)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), n)
	b, err := mvcc.Open(fresh, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer b.Close()
	v, err := getString(t, b, "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v)
}

func TestAPIStatsVersionsAndVacuumCounts(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1", "b", "1")
	require.EqualValues(t, 2, db.Stats().Versions)

	// A reader holds the old versions: the overwrite and the tombstone
	// are counted beside them.
	reader := apiBegin(t, db, mvcc.Snapshot)
	ctPut(t, db, "a", "2")
	ctDelete(t, db, "b")
	assert.EqualValues(t, 4, db.Stats().Versions, "a1, a2, b1 and b's tombstone")
	st, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.VersionsRemoved, "the reader still sees them")
	assert.EqualValues(t, 4, db.Stats().Versions)
	v, err := reader.Get([]byte("b"))
	require.NoError(t, err)
	assert.Equal(t, "1", string(v))
	require.NoError(t, reader.Rollback())

	st, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 3, st.VersionsRemoved, "a1, b1 and b's tombstone")
	assert.EqualValues(t, 1, st.KeysRemoved, "b is gone for good")
	after := db.Stats().Versions
	assert.EqualValues(t, 1, after, "only a2 is left")
	assert.EqualValues(t, 1, db.Stats().Keys)
}

func TestAPISlicesAreTheCallers(t *testing.T) {
	db := apiOpen(t)
	key := []byte("key")
	val := []byte("value")
	tx := apiBegin(t, db, mvcc.Snapshot)
	require.NoError(t, tx.Put(key, val))
	key[0], val[0] = 'X', 'X'
	v, err := tx.Get([]byte("key"))
	require.NoError(t, err, "mutating the key after Put changes nothing")
	assert.Equal(t, "value", string(v), "mutating the value after Put changes nothing")
	v[0] = 'Y'
	v2, err := tx.Get([]byte("key"))
	require.NoError(t, err)
	assert.Equal(t, "value", string(v2), "mutating a returned value changes nothing")
	for k, sv := range tx.Scan(nil, nil) {
		k[0], sv[0] = 'Z', 'Z'
	}
	require.NoError(t, tx.Commit())
	key[0], val[0] = 'Q', 'Q'

	rd := apiBegin(t, db, mvcc.ReadCommitted)
	for k, sv := range rd.Scan(nil, nil) {
		assert.Equal(t, "key", string(k))
		assert.Equal(t, "value", string(sv))
		k[0], sv[0] = 'Z', 'Z'
	}
	fv, err := rd.GetForUpdate([]byte("key"))
	require.NoError(t, err)
	fv[0] = 'W'
	require.NoError(t, rd.Commit())
	got, err := getString(t, db, "key")
	require.NoError(t, err)
	assert.Equal(t, "value", got)
}

func TestAPIReadCommittedReadsLatestAtEachRead(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1", "b", "1")
	tx := apiBegin(t, db, mvcc.ReadCommitted)
	v, err := tx.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "1", string(v))
	ctPut(t, db, "a", "2", "c", "new")
	v, err = tx.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "2", string(v), "the latest committed at this read")
	ctDelete(t, db, "b")
	_, err = tx.Get([]byte("b"))
	assert.ErrorIs(t, err, mvcc.ErrNotFound)
	var keys []string
	for k := range tx.Scan(nil, nil) {
		keys = append(keys, string(k))
	}
	assert.Equal(t, []string{"a", "c"}, keys)
	// A write of a key another committed since does not conflict: last
	// committer wins.
	require.NoError(t, tx.Put([]byte("a"), []byte("rc")))
	require.NoError(t, tx.Commit())
	got, err := getString(t, db, "a")
	require.NoError(t, err)
	assert.Equal(t, "rc", got)
}

// apiLockWait runs a plain writer of key against a GetForUpdate holder
// and returns the writer's Commit result once the holder commits.
func apiLockWait(t *testing.T, db *mvcc.DB, level mvcc.Level) error {
	holder := apiBegin(t, db, level)
	_, err := holder.GetForUpdate([]byte("k"))
	require.NoError(t, err)

	writer := apiBegin(t, db, level)
	_, err = writer.Get([]byte("k"))
	require.NoError(t, err)
	require.NoError(t, writer.Put([]byte("k"), []byte("writer")))
	done := make(chan error, 1)
	go func() { done <- writer.Commit() }()
	waitForWaiters(t, db, 1)
	select {
	case err := <-done:
		t.Fatalf("the writer committed while the lock was held: %v", err)
	default:
	}
	require.NoError(t, holder.Put([]byte("k"), []byte("holder")))
	require.NoError(t, holder.Commit())
	return <-done
}

func TestAPIGetForUpdateHonouredByPlainWriter(t *testing.T) {
	t.Run("read-committed", func(t *testing.T) {
		db := apiOpen(t)
		ctPut(t, db, "k", "0")
		require.NoError(t, apiLockWait(t, db, mvcc.ReadCommitted), "the waiter commits after the holder")
		v, err := getString(t, db, "k")
		require.NoError(t, err)
		assert.Equal(t, "writer", v, "last committer wins")
	})
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "k", "0")
			err := apiLockWait(t, db, level)
			require.ErrorIs(t, err, mvcc.ErrConflict)
			v, err := getString(t, db, "k")
			require.NoError(t, err)
			assert.Equal(t, "holder", v)
		})
	}
}

func TestAPIRollbackEndsLockWait(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	holder := apiBegin(t, db, mvcc.Snapshot)
	_, err := holder.GetForUpdate([]byte("k"))
	require.NoError(t, err)
	waiter := apiBegin(t, db, mvcc.Snapshot)
	done := make(chan error, 1)
	go func() { _, err := waiter.GetForUpdate([]byte("k")); done <- err }()
	waitForWaiters(t, db, 1)
	require.NoError(t, waiter.Rollback())
	err = <-done
	require.Error(t, err, "the wait ends with an error, the holder still holds")
	assert.ErrorIs(t, err, mvcc.ErrTxnDone)
	require.NoError(t, holder.Commit())
	assert.Zero(t, db.Stats().LockWaiters)
}

func TestAPILockingDeadlock(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "0", "b", "0")
	opts := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	t1, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	defer t1.Rollback()
	t2, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	defer t2.Rollback()
	require.NoError(t, t1.Put([]byte("a"), []byte("1")))
	require.NoError(t, t2.Put([]byte("b"), []byte("2")))
	first := make(chan error, 1)
	go func() { first <- t1.Put([]byte("b"), []byte("1")) }()
	waitForWaiters(t, db, 1)
	err2 := t2.Put([]byte("a"), []byte("2"))
	var victim, survivor *mvcc.Txn
	var verr error
	if err2 != nil {
		victim, survivor, verr = t2, t1, err2
	} else {
		t.Fatal("the second waiter closed the cycle and should be the victim")
	}
	assert.ErrorIs(t, verr, mvcc.ErrDeadlock)
	assert.ErrorIs(t, verr, mvcc.ErrConflict)
	var ce *mvcc.ConflictError
	require.ErrorAs(t, verr, &ce)
	assert.Equal(t, mvcc.DeadlockFailure, ce.Kind)
	err = victim.Commit()
	assert.ErrorIs(t, err, mvcc.ErrTxnDone, "the victim is finished")
	assert.ErrorIs(t, err, mvcc.ErrConflict, "and still a conflict until Rollback")
	if err := victim.Rollback(); err != nil {
		assert.ErrorIs(t, err, mvcc.ErrTxnDone)
	}
	require.NoError(t, <-first, "the survivor gets its lock once the victim ends")
	require.NoError(t, survivor.Commit())
	a, _ := getString(t, db, "a")
	b, _ := getString(t, db, "b")
	assert.Equal(t, []string{"1", "1"}, []string{a, b})
}

func TestAPIUpdateViewCancelledContext(t *testing.T) {
	db := apiOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	fn := func(*mvcc.Txn) error { called = true; return nil }
	assert.ErrorIs(t, db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, fn), context.Canceled)
	assert.ErrorIs(t, db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn), context.Canceled)
	_, err := db.Vacuum(ctx)
	_ = err // a vacuum that had nothing to do may succeed
	_, err = db.Backup(ctx, &bytes.Buffer{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, called)
	deadline, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	assert.ErrorIs(t, db.Update(deadline, mvcc.Snapshot, fn), context.DeadlineExceeded)
	assert.False(t, called)
	assert.ErrorIs(t, db.View(deadline, fn), context.DeadlineExceeded)
}

func TestAPIContextEndsCommitWait(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	holder := apiBegin(t, db, mvcc.ReadCommitted)
	_, err := holder.GetForUpdate([]byte("k"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	writer, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.ReadCommitted})
	require.NoError(t, err)
	defer writer.Rollback()
	require.NoError(t, writer.Put([]byte("k"), []byte("writer")))
	done := make(chan error, 1)
	go func() { done <- writer.Commit() }()
	waitForWaiters(t, db, 1)
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled, "the context ends the commit's wait")
	require.NoError(t, holder.Commit())
	v, err := getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "0", v, "the cancelled commit wrote nothing")
}

func TestAPIRollbackEndsLockingWait(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	opts := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	holder, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	defer holder.Rollback()
	require.NoError(t, holder.Put([]byte("k"), []byte("holder")))
	waiter, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := waiter.Get([]byte("k")); done <- err }()
	waitForWaiters(t, db, 1)
	require.NoError(t, waiter.Rollback())
	assert.ErrorIs(t, <-done, mvcc.ErrTxnDone, "the shared-lock wait ends at Rollback")
	require.NoError(t, holder.Commit())
	v, err := getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "holder", v)
}

func TestAPIGetForUpdateDeadlock(t *testing.T) {
	for _, level := range apiLevels {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "a", "0", "b", "0")
			t1 := apiBegin(t, db, level)
			t2 := apiBegin(t, db, level)
			_, err := t1.GetForUpdate([]byte("a"))
			require.NoError(t, err)
			_, err = t2.GetForUpdate([]byte("b"))
			require.NoError(t, err)
			first := make(chan error, 1)
			go func() { _, err := t1.GetForUpdate([]byte("b")); first <- err }()
			waitForWaiters(t, db, 1)
			_, err = t2.GetForUpdate([]byte("a"))
			require.ErrorIs(t, err, mvcc.ErrDeadlock, "the wait that closes the cycle")
			require.ErrorIs(t, err, mvcc.ErrConflict)
			_, err = t2.Get([]byte("a"))
			assert.ErrorIs(t, err, mvcc.ErrTxnDone, "the victim is finished")
			_ = t2.Rollback()
			require.NoError(t, <-first)
			require.NoError(t, t1.Put([]byte("b"), []byte("t1")))
			require.NoError(t, t1.Commit())
		})
	}
}

func TestAPIUpdateRetriesWhenFnReturnsTheEndedError(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	calls := 0
	err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		calls++
		if _, err := tx.Get([]byte("k")); err != nil {
			return err
		}
		if calls == 1 {
			ctPut(t, db, "k", "other")
			_ = tx.Put([]byte("k"), []byte("first")) // the conflict, ignored here
			_, err := tx.Get([]byte("k"))
			if err == nil {
				err = tx.Put([]byte("x"), []byte("1"))
			}
			if err == nil {
				return nil // the conflict shows at Commit
			}
			require.ErrorIs(t, err, mvcc.ErrTxnDone)
			return err // ErrTxnDone, still ErrConflict: retried
		}
		return tx.Put([]byte("k"), []byte("second"))
	})
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	v, err := getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "second", v)
}

func TestAPIReadOnlyTxnRefusesWrites(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	for _, level := range apiLevels {
		tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true})
		require.NoError(t, err)
		assert.ErrorIs(t, tx.Put([]byte("k"), []byte("1")), mvcc.ErrReadOnly, level.String())
		assert.ErrorIs(t, tx.Delete([]byte("k")), mvcc.ErrReadOnly, level.String())
		assert.ErrorIs(t, tx.Delete([]byte("absent")), mvcc.ErrReadOnly, level.String())
		v, err := tx.Get([]byte("k"))
		require.NoError(t, err, "a refused write does not end the transaction")
		assert.Equal(t, "0", string(v))
		require.NoError(t, tx.Commit())
	}
	_, err := db.BackupFile(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "b"))
	require.Error(t, err, "BackupFile into a missing directory")
	v, err := getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "0", v)
}

func TestAPIEmptyRangesWithOwnWrites(t *testing.T) {
	for _, level := range apiLevels {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "a", "1", "c", "3")
			tx := apiBegin(t, db, level)
			require.NoError(t, tx.Put([]byte("b"), []byte("own")))
			require.NoError(t, tx.Put([]byte("\xff\xff"), []byte("own")))
			require.NoError(t, tx.Delete([]byte("c")))
			count := 0
			for range tx.Scan([]byte("c"), []byte("a")) {
				count++
			}
			for range tx.ScanReverse([]byte("c"), []byte("a")) {
				count++
			}
			for range tx.Scan([]byte("b"), []byte("b")) {
				count++
			}
			for range tx.ScanReverse([]byte("b"), []byte("b")) {
				count++
			}
			for range tx.ScanKeys([]byte("c"), []byte("a")) {
				count++
			}
			require.NoError(t, tx.ScanFunc([]byte("c"), []byte("a"), func(_, _ []byte) bool { count++; return true }))
			require.NoError(t, tx.ScanReverseFunc([]byte("c"), []byte("a"), func(_, _ []byte) bool { count++; return true }))
			assert.Zero(t, count, "an empty range yields nothing, own writes included")
			require.NoError(t, tx.Err())
			var keys []string
			for k := range tx.ScanPrefix([]byte{0xff}) {
				keys = append(keys, string(k))
			}
			assert.Equal(t, []string{"\xff\xff"}, keys)
			keys = nil
			for k := range tx.ScanReverse(nil, nil) {
				keys = append(keys, string(k))
			}
			assert.Equal(t, []string{"\xff\xff", "b", "a"}, keys)
		})
	}
}

func TestAPILockingEmptyRangeLocksNothing(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1", "c", "3")
	opts := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	scanner, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	defer scanner.Rollback()
	for range scanner.Scan([]byte("c"), []byte("a")) {
		t.Fatal("start > end yields nothing")
	}
	for range scanner.ScanReverse([]byte("b"), []byte("b")) {
		t.Fatal("start == end yields nothing")
	}
	require.NoError(t, scanner.Err())
	// A writer inside the inverted range does not wait: the context
	// only bounds a wrong wait, the verdict does not depend on it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	writer, err := db.BeginTx(ctx, opts)
	require.NoError(t, err)
	defer writer.Rollback()
	require.NoError(t, writer.Put([]byte("b"), []byte("2")))
	require.NoError(t, writer.Commit())
	require.NoError(t, scanner.Commit())
}

func TestAPICloseEndsLockWaits(t *testing.T) {
	for name, opts := range map[string]mvcc.TxOptions{
		"GetForUpdate": {Isolation: mvcc.Snapshot},
		"Locking":      {Isolation: mvcc.Serializable, Locking: true},
	} {
		t.Run(name, func(t *testing.T) {
			db, _ := ctOpen(t, &mvcc.Options{NoSync: true})
			ctPut(t, db, "k", "0")
			holder, err := db.BeginTx(context.Background(), opts)
			require.NoError(t, err)
			_, err = holder.GetForUpdate([]byte("k"))
			require.NoError(t, err)
			waiter, err := db.BeginTx(context.Background(), opts)
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { _, err := waiter.GetForUpdate([]byte("k")); done <- err }()
			waitForWaiters(t, db, 1)
			closed := make(chan error, 1)
			go func() { closed <- db.Close() }()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, mvcc.ErrClosed, "a lock wait ends when the DB closes")
			case <-time.After(10 * time.Second):
				t.Fatal("a lock wait outlived Close")
			}
			require.NoError(t, <-closed)
			assert.ErrorIs(t, holder.Rollback(), mvcc.ErrClosed)
		})
	}
}

func TestAPIOpenRefusesAnotherBboltDatabase(t *testing.T) {
	dir := t.TempDir()
	for name, fill := range map[string]func(*bolt.Tx) error{
		"other application": func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("alice"), []byte("admin"))
		},
		"no buckets": func(*bolt.Tx) error { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			bdb, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, bdb.Update(fill))
			require.NoError(t, bdb.Close())
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
			if err == nil {
				_ = db.Close()
				t.Fatal("Open of a bbolt file that is not an mvkv database succeeded")
			}
			assert.ErrorIs(t, err, mvcc.ErrCorrupt)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(before, after), "Open leaves the file as it was")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				assert.NotContains(t, e.Name(), ".wal", "no log left beside a refused file")
			}
		})
	}
}

func TestAPITombstonesCountedWithoutReaders(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "a", "1", "b", "2")
	ctDelete(t, db, "a")
	st := db.Stats()
	assert.EqualValues(t, 1, st.Keys)
	assert.EqualValues(t, 3, st.Versions, "b, a's value and a's tombstone until a vacuum")
	vs, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 2, vs.VersionsRemoved)
	assert.EqualValues(t, 1, vs.KeysRemoved)
	assert.EqualValues(t, 1, db.Stats().Versions)
	vs, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Zero(t, vs.VersionsRemoved, "a second vacuum finds nothing")
}

func TestAPIManagedFnErrorsReturnedUnchanged(t *testing.T) {
	db := apiOpen(t)
	ctx := context.Background()
	mine := &apiErr{"mine"}
	fn := func(*mvcc.Txn) error { return mine }
	assert.Same(t, mine, db.View(ctx, fn))
	assert.Same(t, mine, db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn))
	assert.Same(t, mine, db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, fn))
	assert.Same(t, mine, db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.ReadCommitted}, fn))
	assert.Zero(t, db.Stats().ActiveTxns, "each was rolled back")
}

func TestAPIDeleteDeleteFirstCommitterWins(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable} {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "k", "0")
			t1 := apiBegin(t, db, level)
			t2 := apiBegin(t, db, level)
			require.NoError(t, t1.Delete([]byte("k")))
			require.NoError(t, t1.Commit())
			err := t2.Delete([]byte("k"))
			if err == nil {
				err = t2.Commit()
			}
			assert.ErrorIs(t, err, mvcc.ErrConflict, "two concurrent writers of k: at most one commits")
		})
	}
}

func TestAPIPrefixScansAtTheirEdgesAreDisjoint(t *testing.T) {
	for _, level := range apiLevels {
		for _, locking := range []bool{false, true} {
			if locking && level != mvcc.Serializable {
				continue
			}
			name := level.String()
			if locking {
				name += "/locking"
			}
			t.Run(name, func(t *testing.T) {
				db := apiOpen(t)
				ctPut(t, db, "a\xff", "1", "b", "1", "\xfe\xff", "1", "\xff", "1")
				opts := mvcc.TxOptions{Isolation: level, Locking: locking}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				t1, err := db.BeginTx(ctx, opts)
				require.NoError(t, err)
				defer t1.Rollback()
				t2, err := db.BeginTx(ctx, opts)
				require.NoError(t, err)
				defer t2.Rollback()
				// t1 reads the prefixes a\xff and \xff and writes inside them;
				// t2 reads and writes just past their ends.
				for range t1.ScanPrefix([]byte("a\xff")) {
				}
				for range t1.ScanPrefix([]byte{0xff}) {
				}
				for range t2.Scan([]byte("b"), []byte("b\x00")) {
				}
				for range t2.ScanPrefix([]byte{0xfe}) {
				}
				require.NoError(t, t1.Put([]byte("a\xff\x01"), []byte("t1")))
				require.NoError(t, t1.Put([]byte("\xff\x01"), []byte("t1")))
				require.NoError(t, t2.Put([]byte("b"), []byte("t2")))
				require.NoError(t, t2.Put([]byte("\xfe\xff\xff"), []byte("t2")))
				require.NoError(t, t1.Err())
				require.NoError(t, t2.Err())
				require.NoError(t, t1.Commit())
				require.NoError(t, t2.Commit(), "disjoint ranges never conflict")
			})
		}
	}
}

func TestAPIGetForUpdateWaiterAfterHolderDeletes(t *testing.T) {
	for _, level := range apiLevels {
		t.Run(level.String(), func(t *testing.T) {
			db := apiOpen(t)
			ctPut(t, db, "k", "0")
			holder := apiBegin(t, db, level)
			_, err := holder.GetForUpdate([]byte("k"))
			require.NoError(t, err)
			_, err = holder.GetForUpdate([]byte("k"))
			require.NoError(t, err, "a second GetForUpdate of a key the transaction holds does not wait")
			waiter := apiBegin(t, db, level)
			done := make(chan error, 1)
			var got []byte
			go func() {
				var err error
				got, err = waiter.GetForUpdate([]byte("k"))
				done <- err
			}()
			waitForWaiters(t, db, 1)
			require.NoError(t, holder.Delete([]byte("k")))
			require.NoError(t, holder.Commit())
			err = <-done
			if level == mvcc.ReadCommitted {
				assert.ErrorIs(t, err, mvcc.ErrNotFound, "the waiter reads the newly committed state: deleted")
				assert.Nil(t, got)
				require.NoError(t, waiter.Put([]byte("k"), []byte("waiter")))
				require.NoError(t, waiter.Commit())
				v, err := getString(t, db, "k")
				require.NoError(t, err)
				assert.Equal(t, "waiter", v)
				return
			}
			assert.ErrorIs(t, err, mvcc.ErrConflict, "a newer version committed after the waiter's snapshot")
		})
	}
}

func TestAPILockingUpgradeDeadlock(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	opts := mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}
	t1, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	defer t1.Rollback()
	t2, err := db.BeginTx(context.Background(), opts)
	require.NoError(t, err)
	defer t2.Rollback()
	_, err = t1.Get([]byte("k"))
	require.NoError(t, err)
	_, err = t2.Get([]byte("k"))
	require.NoError(t, err)
	first := make(chan error, 1)
	go func() { first <- t1.Put([]byte("k"), []byte("t1")) }()
	waitForWaiters(t, db, 1)
	err = t2.Put([]byte("k"), []byte("t2"))
	require.ErrorIs(t, err, mvcc.ErrDeadlock, "both hold a shared lock and want it exclusive")
	require.ErrorIs(t, err, mvcc.ErrConflict)
	_ = t2.Rollback()
	require.NoError(t, <-first)
	require.NoError(t, t1.Commit())
	v, err := getString(t, db, "k")
	require.NoError(t, err)
	assert.Equal(t, "t1", v)
}

func TestAPINilContextNeverPanics(t *testing.T) {
	db := apiOpen(t)
	ctPut(t, db, "k", "0")
	var nilCtx context.Context
	fn := func(tx *mvcc.Txn) error { _, err := tx.Get([]byte("k")); return err }
	assert.NotPanics(t, func() {
		_ = db.Update(nilCtx, mvcc.Snapshot, fn)
		_ = db.UpdateTx(nilCtx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, fn)
		_ = db.View(nilCtx, fn)
		_ = db.ViewTx(nilCtx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn)
		if tx, err := db.BeginTx(nilCtx, mvcc.TxOptions{}); err == nil {
			_, _ = tx.GetForUpdate([]byte("k"))
			_ = tx.Put([]byte("k"), []byte("1"))
			_ = tx.Commit()
		}
		_, _ = db.Vacuum(nilCtx)
		_, _ = db.Backup(nilCtx, &bytes.Buffer{})
		_, _ = db.BackupFile(nilCtx, filepath.Join(t.TempDir(), "b"))
	})
}
