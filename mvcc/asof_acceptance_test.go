package mvcc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Acceptance tests of reads of the past, written against the public API
// alone: Options.HistoryRetention and TxOptions.AsOf.

func accHistory(t *testing.T, db *mvcc.DB) [4]time.Time {
	var marks [4]time.Time
	accSet(t, db, "k", "v1", "p/1", "a")
	marks[0] = time.Now()
	accSet(t, db, "k", "v2", "gone", "x", "p/2", "b")
	marks[1] = time.Now()
	accDel(t, db, "k", "gone", "p/1")
	marks[2] = time.Now()
	accSet(t, db, "new", "n", "p/3", "c")
	marks[3] = time.Now()
	accSet(t, db, "k", "v3")
	return marks
}

// accAsOf returns everything a transaction as of at reads: Get of each
// named key, and every kind of scan.
func accAsOf(t *testing.T, db *mvcc.DB, level mvcc.Level, at time.Time) map[string]any {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true, AsOf: at})
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback()) }()
	out := map[string]any{}
	for _, k := range []string{"k", "gone", "new", "p/1"} {
		v, err := tx.Get([]byte(k))
		if errors.Is(err, mvcc.ErrNotFound) {
			out[k] = nil
			continue
		}
		require.NoError(t, err)
		out[k] = string(v)
	}
	out["scan"] = accScan(tx.Scan(nil, nil))
	out["reverse"] = accScan(tx.ScanReverse(nil, nil))
	out["prefix"] = accScan(tx.ScanPrefix([]byte("p/")))
	out["range"] = accScan(tx.Scan([]byte("h"), []byte("p/2")))
	require.NoError(t, tx.Err())
	// The other ways to scan read the same.
	var keys, fn, rfn []string
	for k := range tx.ScanKeys(nil, nil) {
		keys = append(keys, string(k))
	}
	require.NoError(t, tx.Err())
	require.NoError(t, tx.ScanFunc(nil, nil, func(k, v []byte) bool {
		fn = append(fn, string(k)+"="+string(v))
		return true
	}))
	require.NoError(t, tx.ScanReverseFunc(nil, nil, func(k, v []byte) bool {
		rfn = append(rfn, string(k)+"="+string(v))
		return true
	}))
	scan := out["scan"].([]string)
	assert.Equal(t, scan, fn, "ScanFunc")
	assert.Equal(t, out["reverse"], rfn, "ScanReverseFunc")
	want := []string(nil)
	for _, kv := range scan {
		want = append(want, kv[:strings.IndexByte(kv, '=')])
	}
	assert.Equal(t, want, keys, "ScanKeys")
	// A write, a lock, and a commit of nothing.
	assert.ErrorIs(t, tx.Put([]byte("k"), []byte("x")), mvcc.ErrReadOnly)
	assert.ErrorIs(t, tx.Delete([]byte("k")), mvcc.ErrReadOnly)
	return out
}

func accWant(k, gone, nw, p1 any, scan []string, prefix, rng []string) map[string]any {
	rev := make([]string, len(scan))
	for i, s := range scan {
		rev[len(scan)-1-i] = s
	}
	return map[string]any{"k": k, "gone": gone, "new": nw, "p/1": p1, "scan": scan, "reverse": rev, "prefix": prefix, "range": rng}
}

// TestAccAsOf reads the past at ReadCommitted and Snapshot, from memory,
// after vacuum, and after a reopen.
func TestAccAsOf(t *testing.T) {
	db, path := accOpen(t, mvcc.Options{HistoryRetention: time.Hour, NoAutovacuum: true})
	marks := accHistory(t, db)
	want := []map[string]any{
		accWant("v1", nil, nil, "a", []string{"k=v1", "p/1=a"}, []string{"p/1=a"}, []string{"k=v1", "p/1=a"}),
		accWant("v2", "x", nil, "a", []string{"gone=x", "k=v2", "p/1=a", "p/2=b"}, []string{"p/1=a", "p/2=b"}, []string{"k=v2", "p/1=a"}),
		accWant(nil, nil, nil, nil, []string{"p/2=b"}, []string{"p/2=b"}, nil),
		accWant(nil, nil, "n", nil, []string{"new=n", "p/2=b", "p/3=c"}, []string{"p/2=b", "p/3=c"}, []string{"new=n"}),
	}
	check := func(stage string) {
		for i, m := range marks {
			for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot} {
				assert.Equal(t, want[i], accAsOf(t, db, level, m), "%s: as of mark %d at %v", stage, i, level)
			}
		}
		// The future and now read the present.
		for _, at := range []time.Time{time.Now(), time.Now().Add(time.Hour)} {
			got := accAsOf(t, db, mvcc.Snapshot, at)
			assert.Equal(t, "v3", got["k"], stage)
		}
	}
	check("in memory")
	_, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	check("after vacuum")
	require.NoError(t, db.Close())
	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true, HistoryRetention: time.Hour, NoAutovacuum: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	check("after reopen")
	require.NoError(t, mvcc.Check(db))
}

// TestAccAsOfSnapshotStable: a transaction as of a past time reads one
// snapshot at ReadCommitted too, whatever commits meanwhile; and a
// transaction as of a future time does not see commits made after it
// began.
func TestAccAsOfSnapshotStable(t *testing.T) {
	db, _ := accOpen(t, mvcc.Options{HistoryRetention: time.Hour})
	ctx := context.Background()
	accSet(t, db, "k", "1")
	mark := time.Now()
	accSet(t, db, "k", "2")
	for _, at := range []time.Time{mark, time.Now().Add(time.Hour)} {
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: at})
		require.NoError(t, err)
		v1, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		accSet(t, db, "k", "later", "x", "y")
		v2, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, string(v1), string(v2))
		_, err = tx.Get([]byte("x"))
		assert.ErrorIs(t, err, mvcc.ErrNotFound)
		require.NoError(t, tx.Commit(), "a read-only transaction commits")
		accDel(t, db, "x")
	}
}

// TestAccAsOfRefused: the combinations AsOf refuses, each with its
// named error, and the times it cannot serve.
func TestAccAsOfRefused(t *testing.T) {
	ctx := context.Background()
	const retention = 50 * time.Millisecond
	db, _ := accOpen(t, mvcc.Options{HistoryRetention: retention})
	opened := time.Now()
	accSet(t, db, "k", "1")
	past := time.Now()
	accSet(t, db, "k", "2")
	for _, tc := range []struct {
		name string
		opts mvcc.TxOptions
		want error
	}{
		{"not read-only", mvcc.TxOptions{AsOf: past}, mvcc.ErrReadOnly},
		{"snapshot, not read-only", mvcc.TxOptions{Isolation: mvcc.Snapshot, AsOf: past}, mvcc.ErrReadOnly},
		{"serializable", mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true, AsOf: past}, mvcc.ErrInvalidLevel},
		{"locking", mvcc.TxOptions{Isolation: mvcc.Serializable, ReadOnly: true, Locking: true, AsOf: past}, mvcc.ErrInvalidLevel},
		{"bad level", mvcc.TxOptions{Isolation: 7, ReadOnly: true, AsOf: past}, mvcc.ErrInvalidLevel},
		{"before the database", mvcc.TxOptions{ReadOnly: true, AsOf: opened.Add(-time.Hour)}, mvcc.ErrHistoryGone},
		{"far past", mvcc.TxOptions{ReadOnly: true, AsOf: time.Unix(0, 1)}, mvcc.ErrHistoryGone},
		{"before 1970", mvcc.TxOptions{ReadOnly: true, AsOf: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}, mvcc.ErrHistoryGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := db.BeginTx(ctx, tc.opts)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, tx)
		})
	}
	// UpdateTx and ViewTx.
	err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, AsOf: past}, func(*mvcc.Txn) error { return nil })
	assert.ErrorIs(t, err, mvcc.ErrReadOnly)
	var got string
	err = db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Snapshot, AsOf: past}, func(tx *mvcc.Txn) error {
		v, err := tx.Get([]byte("k"))
		got = string(v)
		return err
	})
	if !errors.Is(err, mvcc.ErrHistoryGone) || time.Since(past) <= retention { // else a slow machine outran the retention
		require.NoError(t, err, "ViewTx is read-only: TxOptions.ReadOnly is implied")
		assert.Equal(t, "1", got, "ViewTx as of a past time reads it")
	}
	// Past the retention.
	accWait(past, 200*time.Millisecond)
	accSet(t, db, "k", "3")
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: past})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
	// Far future and the latest year: the present.
	for _, at := range []time.Time{time.Now().Add(24 * time.Hour), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Unix(1<<62, 0)} {
		tx, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: at})
		require.NoError(t, err, "as of %v", at)
		v, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, "3", string(v))
		require.NoError(t, tx.Rollback())
	}
}

// TestAccAsOfLongRetention: with a retention reaching back past 1970, a
// time before the database is still before its history.
func TestAccAsOfLongRetention(t *testing.T) {
	opts := mvcc.Options{NoSync: true, HistoryRetention: 200 * 365 * 24 * time.Hour}
	db, path := accOpen(t, opts)
	accSet(t, db, "k", "1")
	accSet(t, db, "k", "2")
	require.NoError(t, db.Close()) // the clock is in the file
	db, err := mvcc.Open(path, &opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for _, at := range []time.Time{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Now().Add(-time.Hour)} {
		_, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true, AsOf: at})
		assert.ErrorIs(t, err, mvcc.ErrHistoryGone, "as of %v", at)
	}
}

// TestAccAsOfNoRetention: with no retention the past is gone, the
// present readable.
func TestAccAsOfNoRetention(t *testing.T) {
	db, path := accOpen(t, mvcc.Options{})
	ctx := context.Background()
	accSet(t, db, "k", "1")
	past := time.Now()
	accSet(t, db, "k", "2")
	_, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: past})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: time.Now().Add(-time.Minute)})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
	tx, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	v, err := tx.Get([]byte("k"))
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
	require.NoError(t, tx.Rollback())

	// History kept, then a reopen without retention: gone; then with it
	// again: only what was kept since.
	require.NoError(t, db.Close())
	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true, HistoryRetention: time.Hour})
	require.NoError(t, err)
	accSet(t, db, "k", "3")
	mid := time.Now()
	accSet(t, db, "k", "4")
	tx, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: mid})
	require.NoError(t, err)
	v, err = tx.Get([]byte("k"))
	require.NoError(t, err)
	assert.Equal(t, "3", string(v))
	require.NoError(t, tx.Rollback())
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: past})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone, "before history was kept")
	require.NoError(t, db.Close())

	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	_, err = db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: mid})
	assert.ErrorIs(t, err, mvcc.ErrHistoryGone, "reopened without retention")
}

// TestAccAsOfGetForUpdate: a lock in a read-only transaction as of a
// past time is refused, with a named error.
func TestAccAsOfGetForUpdate(t *testing.T) {
	db, _ := accOpen(t, mvcc.Options{HistoryRetention: time.Hour})
	accSet(t, db, "k", "1")
	past := time.Now()
	accSet(t, db, "k", "2")
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true, AsOf: past})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.GetForUpdate([]byte("k"))
	assert.ErrorIs(t, err, mvcc.ErrReadOnly)
}

// TestAccAsOfKeepsHistoryWhileOpen: a transaction as of a time inside the
// retention keeps reading it after the retention has passed it.
func TestAccAsOfKeepsHistoryWhileOpen(t *testing.T) {
	const retention = 100 * time.Millisecond
	db, _ := accOpen(t, mvcc.Options{HistoryRetention: retention, NoAutovacuum: true})
	ctx := context.Background()
	accSet(t, db, "k", "old")
	mark := time.Now()
	for i := range 20 {
		accSet(t, db, "k", fmt.Sprint(i))
	}
	tx, err := db.BeginTx(ctx, mvcc.TxOptions{ReadOnly: true, AsOf: mark})
	if errors.Is(err, mvcc.ErrHistoryGone) && time.Since(mark) > retention {
		t.Skipf("the machine took longer than the retention (%v) to get here", retention)
	}
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	accWait(mark, 3*retention)
	accSet(t, db, "k", "new")
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	v, err := tx.Get([]byte("k"))
	require.NoError(t, err)
	assert.Equal(t, "old", string(v))
	require.NoError(t, tx.Rollback())
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	// The version "new" replaced is still within the retention; once it
	// is not, nothing on disk is needed.
	assert.LessOrEqual(t, db.Stats().DiskVersions, int64(1))
	accWait(time.Now(), 2*retention)
	accSet(t, db, "other", "x")
	_, err = db.Vacuum(ctx)
	require.NoError(t, err)
	assert.Zero(t, db.Stats().DiskVersions, "nothing within the retention needs the old versions")
}

// TestAccAsOfConcurrent: one writer commits overwrites and deletes,
// marking the time after each commit; readers meanwhile read as of
// random marks (at ReadCommitted and Snapshot) while autovacuum runs
// and a held snapshot makes versions spill: every read returns the
// state the writer left at that mark.
func TestAccAsOfConcurrent(t *testing.T) {
	db, _ := accOpen(t, mvcc.Options{
		HistoryRetention: time.Hour, VersionMemoryLimit: 64 << 10, CheckpointBytes: 64 << 10,
		AutovacuumInterval: 5 * time.Millisecond, AutovacuumThreshold: 1,
	})
	ctx := context.Background()
	const keys = 16
	commits := 600
	if !testing.Short() && os.Getenv("MVKV_ACC_COMMITS") != "" {
		_, _ = fmt.Sscan(os.Getenv("MVKV_ACC_COMMITS"), &commits)
	}
	pad := string(make([]byte, 1500))
	type mark struct {
		at    time.Time
		state map[string]string
	}
	var (
		mu    sync.Mutex
		marks []mark
	)
	state := map[string]string{}
	held, err := db.Begin(mvcc.Snapshot) // empty database: holds every version
	require.NoError(t, err)
	defer func() { _ = held.Rollback() }()

	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			level := []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot}[r%2]
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				if len(marks) == 0 {
					mu.Unlock()
					runtime.Gosched()
					continue
				}
				m := marks[(n*7919+r)%len(marks)]
				mu.Unlock()
				if err := func() error {
					tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, ReadOnly: true, AsOf: m.at})
					if err != nil {
						return err
					}
					defer func() { _ = tx.Rollback() }()
					got := map[string]string{}
					for k, v := range tx.Scan(nil, nil) {
						got[string(k)] = string(v)
					}
					if err := tx.Err(); err != nil {
						return err
					}
					if len(got) != len(m.state) {
						return fmt.Errorf("as of %v: %d keys, want %d", m.at, len(got), len(m.state))
					}
					for k, v := range m.state {
						if got[k] != v {
							return fmt.Errorf("as of %v: scan %s = %.12q, want %.12q", m.at, k, got[k], v)
						}
						g, err := tx.Get([]byte(k))
						if err != nil || string(g) != v {
							return fmt.Errorf("as of %v: get %s = %.12q, %v; want %.12q", m.at, k, g, err, v)
						}
					}
					return nil
				}(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for n := range commits {
		k := fmt.Sprintf("k%02d", (n*5)%keys)
		if n%7 == 3 {
			accDel(t, db, k)
			delete(state, k)
		} else {
			v := fmt.Sprint(n) + pad
			accSet(t, db, k, v)
			state[k] = v
		}
		snap := make(map[string]string, len(state))
		for k, v := range state {
			snap[k] = v
		}
		mu.Lock()
		marks = append(marks, mark{time.Now(), snap})
		mu.Unlock()
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Positive(t, db.Stats().DiskVersions)
	assert.Empty(t, accScan(held.Scan(nil, nil)), "the held snapshot still sees the empty database")
	require.NoError(t, held.Rollback())
	require.NoError(t, mvcc.Check(db))
}

// accGetAsOf reads key as of at: its value, "<absent>", or the error of
// BeginTx or Get.
func accGetAsOf(db *mvcc.DB, at time.Time, key string) (string, error) {
	tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true, AsOf: at})
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback() }()
	v, err := tx.Get([]byte(key))
	if errors.Is(err, mvcc.ErrNotFound) {
		return "<absent>", nil
	}
	return string(v), err
}

// TestAccAsOfAroundOpen: the state as of a time since Open, before any
// commit of this Open, is the file's: readable with or without a
// retention, a new database's (empty) included, and after a reopen.
func TestAccAsOfAroundOpen(t *testing.T) {
	for _, r := range []time.Duration{0, time.Hour} {
		t.Run(r.String(), func(t *testing.T) {
			opts := mvcc.Options{NoSync: true, HistoryRetention: r}
			db, path := accOpen(t, opts)
			t0 := time.Now()
			v, err := accGetAsOf(db, t0, "k")
			require.NoError(t, err, "as of now, in a new database")
			assert.Equal(t, "<absent>", v)
			accSet(t, db, "k", "1")
			v, err = accGetAsOf(db, t0, "k")
			if r > 0 {
				require.NoError(t, err, "as of between Open and the first commit")
				assert.Equal(t, "<absent>", v)
			} else {
				assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
			}
			t1 := time.Now()
			require.NoError(t, db.Close())
			db, err = mvcc.Open(path, &opts)
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			v, err = accGetAsOf(db, time.Now(), "k")
			require.NoError(t, err, "as of now, reopened")
			assert.Equal(t, "1", v)
			v, err = accGetAsOf(db, t1, "k")
			if r > 0 {
				require.NoError(t, err, "as of before the reopen")
				assert.Equal(t, "1", v)
				v, err = accGetAsOf(db, t0, "k")
				require.NoError(t, err, "as of between the first Open and its first commit, reopened")
				assert.Equal(t, "<absent>", v)
			} else {
				assert.ErrorIs(t, err, mvcc.ErrHistoryGone)
			}
		})
	}
}

// TestAccAsOfHistoryHole: a session without retention writes no history;
// a later Open with a retention refuses the times before it rather than
// read them wrong.
func TestAccAsOfHistoryHole(t *testing.T) {
	keep := mvcc.Options{NoSync: true, HistoryRetention: time.Hour, NoAutovacuum: true}
	db, path := accOpen(t, keep)
	accSet(t, db, "k", "1", "j", "1")
	a := time.Now()
	accSet(t, db, "k", "2")
	require.NoError(t, db.Close())
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	accSet(t, db, "k", "3", "j", "3")
	b := time.Now()
	accSet(t, db, "k", "4")
	require.NoError(t, db.Close())
	db, err = mvcc.Open(path, &keep)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	c := time.Now()
	accSet(t, db, "k", "5")
	for _, at := range []time.Time{a, b} {
		for _, k := range []string{"k", "j"} {
			v, err := accGetAsOf(db, at, k)
			assert.ErrorIs(t, err, mvcc.ErrHistoryGone, "key %s as of %v read %q", k, at, v)
		}
	}
	v, err := accGetAsOf(db, c, "k")
	require.NoError(t, err)
	assert.Equal(t, "4", v)
	v, err = accGetAsOf(db, c, "j")
	require.NoError(t, err)
	assert.Equal(t, "3", v)
}

// TestAccAsOfReadOnlyDB: a database opened read-only reads its history,
// with or without TxOptions.ReadOnly (its transactions all are).
func TestAccAsOfReadOnlyDB(t *testing.T) {
	opts := mvcc.Options{NoSync: true, HistoryRetention: time.Hour}
	db, path := accOpen(t, opts)
	accSet(t, db, "k", "1")
	mark := time.Now()
	accSet(t, db, "k", "2")
	require.NoError(t, db.Close())
	opts.ReadOnly = true
	ro, err := mvcc.Open(path, &opts)
	require.NoError(t, err)
	defer func() { require.NoError(t, ro.Close()) }()
	for _, to := range []mvcc.TxOptions{{ReadOnly: true, AsOf: mark}, {AsOf: mark}, {Isolation: mvcc.Snapshot, AsOf: mark}} {
		tx, err := ro.BeginTx(context.Background(), to)
		require.NoError(t, err, "%+v", to)
		v, err := tx.Get([]byte("k"))
		require.NoError(t, err)
		assert.Equal(t, "1", string(v))
		require.NoError(t, tx.Rollback())
	}
	v, err := accGetAsOf(ro, time.Now(), "k")
	require.NoError(t, err)
	assert.Equal(t, "2", v)
}

// TestAccHistoryIdleAutovacuum: history within the retention is not dead
// for autovacuum: an idle database keeping it runs no pass after pass
// that removes nothing. (A slow machine runs fewer checks: the verdict
// errs only towards passing.)
func TestAccHistoryIdleAutovacuum(t *testing.T) {
	db, _ := accOpen(t, mvcc.Options{HistoryRetention: time.Hour, AutovacuumInterval: 2 * time.Millisecond})
	for i := range 2500 {
		accSet(t, db, fmt.Sprint("k", i%50), fmt.Sprint(i))
	}
	_, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	before := db.Stats()
	require.Greater(t, before.DiskVersions, int64(2000), "the history is kept")
	accWait(time.Now(), 200*time.Millisecond)
	after := db.Stats()
	assert.LessOrEqual(t, after.AutoVacuums-before.AutoVacuums, uint64(3), "passes while idle")
	assert.Equal(t, before.DiskVersions, after.DiskVersions)
}
