package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// asOf reads key as of t ("" when absent) and the keys a Scan yields then.
func asOf(t *testing.T, db *mvcc.DB, at time.Time, key string) (string, []string) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true, AsOf: at})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	v, err := tx.Get([]byte(key))
	val := string(v)
	if errors.Is(err, mvcc.ErrNotFound) {
		val = ""
	} else {
		require.NoError(t, err)
	}
	var scanned []string
	for k, v := range tx.Scan(nil, nil) {
		scanned = append(scanned, string(k)+"="+string(v))
	}
	require.NoError(t, tx.Err())
	var rev []string
	for k, v := range tx.ScanReverse(nil, nil) {
		rev = append([]string{string(k) + "=" + string(v)}, rev...)
	}
	require.Equal(t, scanned, rev, "ScanReverse yields the same keys, descending")
	return val, scanned
}

// TestAsOfReadsThePast writes, overwrites and deletes, marking the time
// between the commits, and reads the database as of each mark: from
// memory, after vacuum (from the data and the version bucket), and after
// a reopen (from the file alone).
func TestAsOfReadsThePast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	opts := &mvcc.Options{NoSync: true, HistoryRetention: time.Hour, NoAutovacuum: true}
	db, err := mvcc.Open(path, opts)
	require.NoError(t, err)
	checkAtEnd(t, db)
	ctx := context.Background()
	set := func(kv ...string) time.Time {
		require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			for i := 0; i+1 < len(kv); i += 2 {
				var err error
				if kv[i+1] == "" {
					err = tx.Delete([]byte(kv[i]))
				} else {
					err = tx.Put([]byte(kv[i]), []byte(kv[i+1]))
				}
				if err != nil {
					return err
				}
			}
			return nil
		}))
		m := time.Now()
		time.Sleep(time.Millisecond) // the next commit's time is after m
		return m
	}
	t1 := set("k", "v1", "a", "a1")
	t2 := set("k", "v2", "k\x00z", "nul")
	t3 := set("k", "", "a", "a3")
	t4 := set("k", "v4")
	want := []struct {
		at   time.Time
		k    string
		scan []string
	}{
		{t1, "v1", []string{"a=a1", "k=v1"}},
		{t2, "v2", []string{"a=a1", "k=v2", "k\x00z=nul"}},
		{t3, "", []string{"a=a3", "k\x00z=nul"}},
		{t4, "v4", []string{"a=a3", "k=v4", "k\x00z=nul"}},
	}
	check := func(stage string) {
		for i, w := range want {
			v, scan := asOf(t, db, w.at, "k")
			assert.Equal(t, w.k, v, "%s: k as of t%d", stage, i+1)
			assert.Equal(t, w.scan, scan, "%s: scan as of t%d", stage, i+1)
		}
	}
	check("in memory")
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Zero(t, db.Stats().MemVersions, "vacuum let memory go")
	assert.Positive(t, db.Stats().DiskVersions, "the history is on disk")
	check("after vacuum")
	require.NoError(t, db.Close())

	db, err = mvcc.Open(path, opts)
	require.NoError(t, err)
	checkAtEnd(t, db)
	check("after reopen")

	// Before the history began: gone.
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: t1.Add(-time.Hour)})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
	require.NoError(t, db.Close())

	// A read-only open reads the history too.
	ro := *opts
	ro.ReadOnly = true
	db, err = mvcc.Open(path, &ro)
	require.NoError(t, err)
	check("read-only")
	require.NoError(t, db.Check(ctx), "DB.Check reads the version store and the clock")
	require.NoError(t, db.Close())
}

// TestAsOfRefusals: AsOf reads only, and not at Serializable.
func TestAsOfRefusals(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	now := time.Now()
	_, err := db.BeginTx(ctx, mvcc.TxOptions{AsOf: now})
	assert.ErrorIs(t, err, mvcc.ErrReadOnly)
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, Isolation: mvcc.Serializable, AsOf: now})
	assert.ErrorIs(t, err, mvcc.ErrInvalidLevel)
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, Isolation: mvcc.Serializable, Locking: true, AsOf: now})
	assert.ErrorIs(t, err, mvcc.ErrInvalidLevel)
	// Without retention only the present is kept.
	put(t, db, "k", "v")
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: now.Add(-time.Minute)})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
	tx, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, Isolation: mvcc.Snapshot, AsOf: time.Now()})
	require.NoError(t, err)
	v, err := tx.Get([]byte("k"))
	require.NoError(t, err)
	assert.Equal(t, "v", string(v))
	assert.ErrorIs(t, tx.Put([]byte("k"), []byte("w")), mvcc.ErrReadOnly)
	require.NoError(t, tx.Rollback())
}

// TestHistoryRetentionExpires: past the retention, a time is gone and
// vacuum removes the versions only it needed. The wall clock is the
// test's: it moves only when the test moves it, so neither verdict
// depends on how fast the machine runs.
func TestHistoryRetentionExpires(t *testing.T) {
	const retention = time.Minute
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "h.db"), &mvcc.Options{NoSync: true, HistoryRetention: retention, NoAutovacuum: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	tick := func(d time.Duration) time.Time { return time.Unix(0, clock.Add(int64(d))) }
	mvcc.SetClock(db, func() time.Time { return time.Unix(0, clock.Add(1)) })
	checkAtEnd(t, db)
	ctx := context.Background()
	for i := range 10 {
		put(t, db, "k", fmt.Sprint(i))
	}
	mark := tick(time.Millisecond)
	tick(time.Millisecond)
	put(t, db, "k", "last")
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	require.Positive(t, db.Stats().DiskVersions)
	v, _ := asOf(t, db, mark, "k")
	assert.Equal(t, "9", v)

	tick(2 * retention) // mark is now past the retention
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: mark})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
	put(t, db, "other", "x") // a commit after the cutoff: the clock reaches past it
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Zero(t, db.Stats().DiskVersions, "nothing within the retention needs the old versions")
}
