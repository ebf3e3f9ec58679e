package mvcc

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// countingStore counts the log appends (each one group, one fdatasync)
// and can hold the next one at its start until released.
type countingStore struct {
	inner   fileStore
	calls   atomic.Int32
	hold    atomic.Bool   // hold the next append
	held    chan struct{} // closed when an append is held
	release chan struct{} // closed to let it go
}

func (s *countingStore) update(fn func(*bolt.Tx) error) error { return s.inner.update(fn) }

func (s *countingStore) appendLog(l *wal, b []byte, last uint64) error {
	s.calls.Add(1)
	if s.hold.CompareAndSwap(true, false) {
		close(s.held)
		<-s.release
	}
	return s.inner.appendLog(l, b, last)
}

func useCountingStore(t *testing.T, db *DB) *countingStore {
	t.Helper()
	inner := db.files()
	s := &countingStore{inner: inner, held: make(chan struct{}), release: make(chan struct{})}
	var fs fileStore = s
	db.store.Store(&fs)
	t.Cleanup(func() { db.store.Store(&inner) })
	return s
}

// TestGroupCommitOneSyncPerGroup: the commits that queue while a group is
// being written go together in the next one: one append to the log, so
// one fdatasync, for all of them.
func TestGroupCommitOneSyncPerGroup(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "group.db"), &Options{NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	s := useCountingStore(t, db)
	s.hold.Store(true)

	const queued = 16
	errs := make(chan error, queued+1)
	go func() { errs <- faultPut(db, "first", "1") }()
	<-s.held // the first group is being written: the pipeline is busy
	for i := range queued {
		go func() { errs <- faultPut(db, fmt.Sprintf("k%02d", i), "v") }()
	}
	// The first committer leads its own commit (nothing else was
	// queued): the others queue for the pipeline, which waits for it.
	require.Eventually(t, func() bool { return db.queued.Load() == queued }, 10*time.Second, time.Millisecond,
		"the committers queue behind the group being written")
	close(s.release)
	for range queued + 1 {
		require.NoError(t, <-errs)
	}
	assert.Equal(t, int32(2), s.calls.Load(), "two groups: one append (one fdatasync) each")
	st := db.Stats()
	assert.Equal(t, uint64(2), st.CommitBatches)
	assert.Equal(t, uint64(queued+1), st.Commits)
	require.NoError(t, db.check())
}

// TestCommitsRunDuringCheckpoint: a checkpoint pass goes in steps, and
// commits go on between them; the pass then completes, and the file holds
// everything.
func TestCommitsRunDuringCheckpoint(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "ck.db"), &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	const keys = 32
	db.ck.stepKeys = 8
	tx, err := db.Begin(Snapshot)
	require.NoError(t, err)
	for i := range keys {
		require.NoError(t, tx.Put(fmt.Appendf(nil, "k%05d", i), []byte("v")))
	}
	require.NoError(t, tx.Commit())
	// One transaction is never split: write the rest in transactions of
	// their own, so that the pass takes several steps.
	for i := range keys {
		require.NoError(t, faultPut(db, fmt.Sprintf("k%05d", i), "w"))
	}

	paused, resume := pauseCheckpointOnce(db)
	done := make(chan error, 1)
	go func() { done <- db.requestCheckpoint() }()
	<-paused // one step applied, the rest of the pass to come
	mid := db.applied.Load()
	assert.Less(t, mid, db.oracle.Visible(), "the pass is not over")
	assert.NotZero(t, mid, "the first step moved applied")
	require.NoError(t, faultPut(db, "during", "the pass"), "a commit between two steps")
	close(resume)
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, db.applied.Load(), db.oracle.Visible()-1, "the pass applied what was published when it began")
	require.NoError(t, db.requestCheckpoint())
	assert.Equal(t, db.oracle.Visible(), db.applied.Load())
	assert.Zero(t, db.pending.writes.Load())
	require.NoError(t, db.check())
	assert.Equal(t, "the pass", faultGet(t, db, "during"))
	assert.Equal(t, "w", faultGet(t, db, "k00000"))
	_, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Zero(t, db.Stats().MemVersions)
}

// TestSmallGroupGoesToLog: a lone committer's group goes to the log,
// leading its own commit, and leaves the data bucket to the checkpointer:
// "applied" stays behind until a pass, a snapshot taken before reads what
// it read, and Close applies the log and leaves no segment of it.
func TestSmallGroupGoesToLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "small.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	require.NoError(t, faultPut(db, "a", "1"))
	old, err := db.Begin(Snapshot)
	require.NoError(t, err)
	require.NoError(t, faultPut(db, "a", "2"))
	assert.Zero(t, db.applied.Load(), "in the log, not applied")
	assert.Equal(t, int64(2), db.pending.writes.Load())
	assert.Equal(t, int64(2), db.Stats().LogWrites)
	assert.Positive(t, db.Stats().LogBytes)
	assert.Zero(t, db.queued.Load(), "a lone committer leads its own commit: nothing went through the queue")
	assert.Equal(t, uint64(2), db.Stats().CommitBatches)
	segs, err := walSegments(path)
	require.NoError(t, err)
	assert.Len(t, segs, 1)
	require.NoError(t, db.check())

	v, err := old.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "1", string(v), "an older snapshot reads its version")
	require.NoError(t, old.Rollback())
	require.NoError(t, db.requestCheckpoint())
	assert.Equal(t, db.oracle.Visible(), db.applied.Load())
	assert.Zero(t, db.pending.writes.Load())
	assert.Zero(t, db.Stats().LogBytes)
	require.NoError(t, db.check())
	require.NoError(t, faultPut(db, "a", "3"))
	require.NoError(t, db.Close())
	segs, err = walSegments(path)
	require.NoError(t, err)
	assert.Empty(t, segs, "Close applied the log: no segment left")
	db, err = Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, "3", faultGet(t, db, "a"))
	require.NoError(t, db.check())
}

// TestLargeGroupWritesData: a group of directBytes or more writes the
// data bucket itself when the log is empty (and the log otherwise), with
// "applied" moved in the same transaction; snapshots taken before it keep
// reading what they read, and a reopen finds it all.
func TestLargeGroupWritesData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "large.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	big := func(round string) {
		t.Helper()
		tx, err := db.Begin(Snapshot)
		require.NoError(t, err)
		val := make([]byte, 1000)
		for i := range directBytes/len(val) + 1 {
			copy(val, round)
			require.NoError(t, tx.Put(fmt.Appendf(nil, "big%04d", i), val))
		}
		require.NoError(t, tx.Delete([]byte("small")))
		require.NoError(t, tx.Commit())
	}
	logged := func(round string) { // a group too large for the data bucket: to the log
		t.Helper()
		tx, err := db.Begin(Snapshot)
		require.NoError(t, err)
		for i := range 20 {
			require.NoError(t, tx.Put(fmt.Appendf(nil, "small%d", i), []byte(round)))
		}
		require.NoError(t, tx.Put([]byte("small"), []byte(round)))
		require.NoError(t, tx.Commit())
	}
	logged("1")
	big("one") // the log holds "small": the group goes to the log
	assert.Less(t, db.applied.Load(), db.oracle.Visible())
	assert.NotZero(t, db.pending.writes.Load())
	require.NoError(t, db.requestCheckpoint())
	require.NoError(t, db.check())

	logged("2")
	require.NoError(t, db.requestCheckpoint())
	old, err := db.Begin(Snapshot)
	require.NoError(t, err)
	big("two") // the log is empty: straight to the data
	assert.Equal(t, db.oracle.Visible(), db.applied.Load(), "applied with the group")
	assert.Zero(t, db.pending.writes.Load())
	require.NoError(t, db.check())
	v, err := old.Get([]byte("big0007"))
	require.NoError(t, err)
	assert.Equal(t, "one", string(v[:3]), "an older snapshot reads the before-image")
	v, err = old.Get([]byte("small"))
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
	require.NoError(t, old.Rollback())
	assert.Empty(t, faultGet(t, db, "small"))
	_, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Zero(t, db.Stats().MemVersions)
	keys := db.Stats().Keys

	require.NoError(t, db.Close())
	db, err = Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	assert.Equal(t, keys, db.Stats().Keys)
	assert.Equal(t, "two", faultGet(t, db, "big0262")[:3])
	assert.Empty(t, faultGet(t, db, "small"))
	require.NoError(t, db.check())
}

// TestCheckpointRetiresSegments: round after round of commits and
// checkpoints, the log's segments go once applied (a few stay: the one
// appended to, and those not yet applied), the bbolt file stops growing,
// and a reopen finds everything.
func TestCheckpointRetiresSegments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true, CheckpointBytes: 64 << 10})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	val := string(make([]byte, 100))
	var sizes []int64
	for r := range 12 {
		for i := range 300 {
			require.NoError(t, faultPut(db, fmt.Sprintf("k%05d", (r*300+i)%2000), val))
		}
		require.NoError(t, db.requestCheckpoint())
		sizes = append(sizes, fileSize(db.path))
		segs, err := walSegments(path)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(segs), 2, "round %d: applied segments go", r)
	}
	assert.Greater(t, db.wal.next, uint64(4), "the log moved to new segments")
	assert.Equal(t, sizes[3], sizes[len(sizes)-1], "the file stopped growing: %v", sizes)
	assert.Less(t, db.bolt.Stats().FreePageN, 64)
	require.NoError(t, db.check())
	require.NoError(t, db.Close())
	db, err = Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, val, faultGet(t, db, "k01999"))
	require.NoError(t, db.check())
}

// TestLogBacklogThrottlesCommits holds the checkpointer off (a pass
// cannot start) while a writer commits: the log grows to logBacklog times
// Options.CheckpointBytes and no further, the pipeline waiting for the
// checkpointer, so the values the index must hold until they are applied
// stay bounded. Once the checkpointer runs, the writer goes on.
func TestLogBacklogThrottlesCommits(t *testing.T) {
	const ckBytes, commits = 4 << 10, 200
	db, err := Open(filepath.Join(t.TempDir(), "throttle.db"), &Options{NoSync: true, NoAutovacuum: true, CheckpointBytes: ckBytes})
	require.NoError(t, err)
	defer db.Close()
	value := string(make([]byte, 1000))
	db.ck.pass.Lock() // no pass can start
	require.NoError(t, faultPut(db, "first", "v"))
	require.NotZero(t, db.pending.writes.Load())
	var progress atomic.Int32
	done := make(chan error, 1)
	go func() {
		for i := range commits {
			if err := faultPut(db, fmt.Sprintf("k%05d", i), value); err != nil {
				done <- err
				return
			}
			progress.Add(1)
		}
		done <- nil
	}()
	// Throttled, with the writer's next commit queued behind: the writer
	// counted every commit before it.
	require.Eventually(t, func() bool { return db.Throttles() > 0 && len(db.commitCh) == 1 }, 10*time.Second, time.Millisecond, "the pipeline waits for the checkpointer")
	stuck := progress.Load()
	time.Sleep(20 * time.Millisecond) // the writer, if it could go on, would
	assert.Equal(t, stuck, progress.Load(), "commits wait while the log is past its backlog")
	assert.Less(t, int(stuck), commits)
	assert.LessOrEqual(t, db.pending.bytes.Load(), int64(logBacklog*ckBytes+2000), "the log stops one group past its backlog")
	db.ck.pass.Unlock()
	require.NoError(t, <-done)
	require.NoError(t, db.requestCheckpoint())
	assert.Zero(t, db.pending.writes.Load())
	require.NoError(t, db.check())
	assert.Equal(t, value, faultGet(t, db, fmt.Sprintf("k%05d", commits-1)))
}

// TestCommitsDoNotWaitForSteps: a checkpoint step holds bbolt's writer
// (writeMu) for as long as its page writes take; a commit, which goes to
// the log, completes meanwhile, and so does one that finds the log empty.
func TestCommitsDoNotWaitForSteps(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "steps.db"), &Options{NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	db.writeMu.Lock() // as a step does
	require.NoError(t, faultPut(db, "k", "v"), "the log is empty")
	require.NoError(t, faultPut(db, "k", "w"), "the log holds a commit")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { assert.NoError(t, faultPut(db, fmt.Sprintf("c%d", i), "v")) })
	}
	wg.Wait()
	db.writeMu.Unlock()
	assert.Equal(t, "w", faultGet(t, db, "k"))
	require.NoError(t, db.requestCheckpoint())
	require.NoError(t, db.check())
}

// TestBeforeImagesPastTheEnd: a committer reads no record for the keys of
// its transaction past the data's last one, once one of them was found
// there (a bulk load appending in key order); the keys before it, and
// the last one, still get their before-images: older snapshots read them,
// and the key count is right.
func TestBeforeImagesPastTheEnd(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "end.db"), &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	key := func(i int) []byte { return fmt.Appendf(nil, "k%04d", i) }
	tx, err := db.Begin(Snapshot)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, tx.Put(key(i), []byte("old")))
	}
	require.NoError(t, tx.Commit())
	_, err = db.Vacuum(context.Background()) // applied, memory empty: before-images come from the file
	require.NoError(t, err)
	require.Zero(t, db.Stats().MemVersions)
	old, err := db.Begin(Snapshot)
	require.NoError(t, err)
	defer old.Rollback()

	tx, err = db.Begin(Snapshot)
	require.NoError(t, err)
	for _, i := range []int{0, 50, 99} {
		require.NoError(t, tx.Put(key(i), []byte("new")))
	}
	require.NoError(t, tx.Put([]byte("k0049x"), []byte("new"))) // a miss between two records
	for i := 100; i < 300; i++ {
		require.NoError(t, tx.Put(key(i), []byte("new")))
	}
	require.NoError(t, tx.Delete(key(98)))
	require.NoError(t, tx.Commit())
	assert.Equal(t, int64(300), db.Stats().Keys)
	for _, i := range []int{0, 50, 98, 99} {
		v, err := old.Get(key(i))
		require.NoError(t, err)
		assert.Equal(t, "old", string(v), "key %d at the older snapshot", i)
	}
	_, err = old.Get(key(150))
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, "new", faultGet(t, db, string(key(299))))
	assert.Empty(t, faultGet(t, db, string(key(98))))
	require.NoError(t, db.requestCheckpoint())
	require.NoError(t, db.check())
}
