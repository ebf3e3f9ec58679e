package mvcc_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// openVac opens a fresh database with vacuum settings for tests: no fsync,
// no autovacuum unless opts says otherwise.
func openVac(t testing.TB, opts *mvcc.Options) (*mvcc.DB, string) {
	t.Helper()
	if opts == nil {
		opts = &mvcc.Options{NoAutovacuum: true}
	}
	opts.NoSync = true
	path := filepath.Join(t.TempDir(), "vac.db")
	db, err := mvcc.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	checkAtEnd(t, db)
	return db, path
}

func vput(t testing.TB, db *mvcc.DB, kv ...string) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	}))
}

func vdel(t testing.TB, db *mvcc.DB, keys ...string) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for _, k := range keys {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// dump reads every key visible to tx.
func vdump(tx *mvcc.Txn) map[string]string {
	m := map[string]string{}
	for k, v := range tx.Scan(nil, nil) {
		m[string(k)] = string(v)
	}
	return m
}

func vcontents(t testing.TB, db *mvcc.DB) map[string]string {
	t.Helper()
	var m map[string]string
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		m = vdump(tx)
		return nil
	}))
	return m
}

func TestVacuumRemovesDeadVersions(t *testing.T) {
	db, path := openVac(t, nil)
	vput(t, db, "a", "a1", "b", "b1", "c", "c1")
	vput(t, db, "a", "a2", "b", "b2")
	vput(t, db, "a", "a3")
	vdel(t, db, "b")
	// a: 3 versions (2 dead), b: 3 (all dead: b1, b2 and the tombstone), c: 1.
	s := db.Stats()
	assert.Equal(t, int64(7), s.Versions)
	assert.Equal(t, int64(5), s.DeadVersions)

	vs, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, s.LastCommitTS, vs.Horizon)
	assert.Equal(t, int64(5), vs.VersionsRemoved)
	assert.Equal(t, int64(1), vs.KeysRemoved)
	assert.Equal(t, int64(3), vs.KeysExamined) // a, b and c leave memory
	assert.Equal(t, int64(7), vs.VersionsExamined)
	assert.Equal(t, int64(7), vs.VersionsReleased)
	// a1 a2 a3 b1 b2 c1: memory holds every value until vacuum (the
	// commits went to the log).
	assert.Equal(t, int64(6*2), vs.BytesFreed)
	assert.Equal(t, int64(1), vs.Batches)

	s = db.Stats()
	assert.Equal(t, int64(2), s.Versions)
	assert.Equal(t, int64(0), s.DeadVersions)
	assert.Equal(t, int64(2), s.Keys)
	assert.Zero(t, s.MemVersions)
	assert.Equal(t, uint64(1), s.Vacuums)
	assert.Equal(t, int64(5), s.VersionsVacuumed)
	want := map[string]string{"a": "a3", "c": "c1"}
	assert.Equal(t, want, vcontents(t, db))

	// The file holds exactly what the index holds: a reopen sees the same.
	require.NoError(t, db.Close())
	db, err = mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, int64(2), db.Stats().Versions)
	assert.Equal(t, int64(0), db.Stats().DeadVersions)
	assert.Equal(t, want, vcontents(t, db))
}

func TestVacuumKeepsWhatOpenTransactionsSee(t *testing.T) {
	for _, level := range []mvcc.Level{mvcc.Snapshot, mvcc.Serializable, mvcc.ReadCommitted} {
		t.Run(level.String(), func(t *testing.T) {
			db, _ := openVac(t, nil)
			vput(t, db, "a", "a0")
			vput(t, db, "a", "a1", "b", "b1")
			// A transaction relies on what the data holds when it begins:
			// have the log applied first (a vacuum does), so that vacuum
			// may let go of what old does not need.
			_, err := db.Vacuum(context.Background())
			require.NoError(t, err)
			old, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: level, ReadOnly: true})
			require.NoError(t, err)
			before := vdump(old) // for read committed this also fixes its horizon
			vput(t, db, "a", "a2")
			vdel(t, db, "b")
			vput(t, db, "a", "a3")

			s := db.Stats()
			assert.Equal(t, old.ReadTS(), s.Horizon)
			assert.Positive(t, s.HorizonAge)
			vs, err := db.Vacuum(context.Background())
			require.NoError(t, err)
			assert.Equal(t, old.ReadTS(), vs.Horizon)
			// a0 went in the first vacuum; a1 and b1 are what old sees,
			// and the rule keeps everything newer (a2, b's tombstone, a3).
			assert.Zero(t, vs.VersionsRemoved)
			if level != mvcc.ReadCommitted {
				assert.Equal(t, before, vdump(old))
				v, err := old.Get([]byte("b"))
				require.NoError(t, err)
				assert.Equal(t, "b1", string(v))
			}
			require.NoError(t, old.Rollback())

			s = db.Stats()
			assert.Equal(t, s.LastCommitTS, s.Horizon)
			assert.Zero(t, s.HorizonAge)
			vs, err = db.Vacuum(context.Background())
			require.NoError(t, err)
			assert.Equal(t, int64(4), vs.VersionsRemoved) // a1 a2 b1 and the tombstone
			assert.Equal(t, map[string]string{"a": "a3"}, vcontents(t, db))
			assert.Equal(t, int64(1), db.Stats().Versions)
		})
	}
}

func TestVacuumKeepsInFlightCommitsSnapshot(t *testing.T) {
	db, _ := openVac(t, nil)
	vput(t, db, "k", "v1")
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	require.NoError(t, tx.Put([]byte("other"), []byte("x")))
	vput(t, db, "k", "v2")
	// tx's snapshot still sees k=v1 until it finishes; vacuum must keep it.
	_, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	v, err := tx.Get([]byte("k"))
	require.NoError(t, err)
	assert.Equal(t, "v1", string(v))
	require.NoError(t, tx.Commit())
	vs, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(1), vs.VersionsRemoved)
}

func TestVacuumOnClosedDB(t *testing.T) {
	db, _ := openVac(t, nil)
	require.NoError(t, db.Close())
	_, err := db.Vacuum(context.Background())
	assert.ErrorIs(t, err, mvcc.ErrClosed)
}

func TestVacuumContextCanceled(t *testing.T) {
	db, _ := openVac(t, &mvcc.Options{NoAutovacuum: true, VacuumBatchSize: 10})
	for i := range 5 {
		vput(t, db, "k", fmt.Sprint(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Vacuum(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int64(4), db.Stats().DeadVersions, "nothing removed")
}

func TestConcurrentVacuumAndClose(t *testing.T) {
	db, _ := openVac(t, &mvcc.Options{NoAutovacuum: true, VacuumBatchSize: 50, VacuumPause: time.Millisecond})
	for r := range 4 {
		kv := make([]string, 0, 2000)
		for k := range 1000 {
			kv = append(kv, fmt.Sprintf("k%04d", k), fmt.Sprint(r))
		}
		vput(t, db, kv...)
	}
	require.Equal(t, int64(3000), db.Stats().DeadVersions)

	var wg sync.WaitGroup
	results := make(chan int64, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs, err := db.Vacuum(context.Background())
			if err != nil {
				assert.ErrorIs(t, err, mvcc.ErrClosed)
			}
			results <- vs.VersionsRemoved
		}()
	}
	wg.Wait()
	close(results)
	var total int64
	for n := range results {
		total += n
	}
	assert.Equal(t, int64(3000), total, "concurrent passes remove each version once")
	assert.Equal(t, int64(1000), db.Stats().Versions)

	// Close while a pass runs: the pass stops at a batch boundary with
	// ErrClosed and Close waits for it.
	for k := range 1000 {
		vput(t, db, fmt.Sprintf("k%04d", k), "again")
	}
	errc := make(chan error, 1)
	go func() {
		_, err := db.Vacuum(context.Background())
		errc <- err
	}()
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, db.Close())
	if err := <-errc; err != nil {
		assert.ErrorIs(t, err, mvcc.ErrClosed)
	}
}

func TestAutovacuum(t *testing.T) {
	db, _ := openVac(t, &mvcc.Options{AutovacuumInterval: time.Millisecond, AutovacuumThreshold: 50})
	for r := range 3 {
		kv := make([]string, 0, 200)
		for k := range 100 {
			kv = append(kv, fmt.Sprintf("k%03d", k), fmt.Sprint(r))
		}
		vput(t, db, kv...)
	}
	require.Eventually(t, func() bool {
		s := db.Stats()
		return s.AutoVacuums > 0 && s.DeadVersions == 0
	}, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(100), db.Stats().Versions)

	// An open transaction holds the horizon: autovacuum waits, and the
	// transaction keeps reading its snapshot.
	tx, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	for r := range 3 {
		vput(t, db, "k000", fmt.Sprint("new", r))
	}
	time.Sleep(20 * time.Millisecond) // many autovacuum intervals
	assert.Equal(t, int64(3), db.Stats().DeadVersions)
	v, err := tx.Get([]byte("k000"))
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
	require.NoError(t, tx.Rollback())
}

func TestAutovacuumOff(t *testing.T) {
	db, _ := openVac(t, &mvcc.Options{NoAutovacuum: true, AutovacuumInterval: time.Millisecond, AutovacuumThreshold: -1})
	for r := range 3 {
		vput(t, db, "k", fmt.Sprint(r))
	}
	time.Sleep(20 * time.Millisecond)
	s := db.Stats()
	assert.Equal(t, int64(2), s.DeadVersions)
	assert.Zero(t, s.AutoVacuums)
}

func TestVacuumThenWriteAgain(t *testing.T) {
	// A key deleted and vacuumed away can be written again; conflicts are
	// still detected against the new versions.
	db, _ := openVac(t, nil)
	vput(t, db, "k", "v1")
	vdel(t, db, "k")
	_, err := db.Vacuum(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(0), db.Stats().Keys)

	t1, err := db.Begin(mvcc.Snapshot)
	require.NoError(t, err)
	_, err = t1.Get([]byte("k"))
	require.ErrorIs(t, err, mvcc.ErrNotFound)
	vput(t, db, "k", "v2")
	err = t1.Put([]byte("k"), []byte("mine"))
	if err == nil {
		err = t1.Commit()
	}
	assert.ErrorIs(t, err, mvcc.ErrConflict)
	assert.Equal(t, map[string]string{"k": "v2"}, vcontents(t, db))
}

func TestVacuumErrorsAreNamed(t *testing.T) {
	db, _ := openVac(t, nil)
	_, err := db.Vacuum(context.TODO())
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = db.Vacuum(context.Background())
	require.ErrorIs(t, err, mvcc.ErrClosed)
}
