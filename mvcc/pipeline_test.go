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

// countingStore counts the bbolt write transactions (each one commit, one
// fsync of bbolt's) and can hold the next one at its start until released.
type countingStore struct {
	inner   fileStore
	calls   atomic.Int32
	hold    atomic.Bool   // hold the next transaction
	held    chan struct{} // closed when a transaction is held
	release chan struct{} // closed to let it go
}

func (s *countingStore) update(fn func(*bolt.Tx) error) error {
	s.calls.Add(1)
	if s.hold.CompareAndSwap(true, false) {
		close(s.held)
		<-s.release
	}
	return s.inner.update(fn)
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
// being written go together in the next one: one bbolt transaction, so
// one fsync, for all of them.
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
	assert.Equal(t, int32(2), s.calls.Load(), "two groups: one bbolt transaction (one fsync) each")
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
	const keys = 4 * minStepKeys
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

	var once sync.Once
	paused, resume := make(chan struct{}), make(chan struct{})
	db.ck.afterStep = func() {
		once.Do(func() {
			close(paused)
			<-resume
		})
	}
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
	assert.Zero(t, db.logged.records.Load())
	require.NoError(t, db.check())
	assert.Equal(t, "the pass", faultGet(t, db, "during"))
	assert.Equal(t, "w", faultGet(t, db, "k00000"))
	_, err = db.Vacuum(context.Background())
	require.NoError(t, err)
	assert.Zero(t, db.Stats().MemVersions)
}

// TestSmallGroupWritesData: a group of directWrites writes or fewer (a
// lone committer's, typically) goes to the data bucket while the log is
// empty, "applied" moving with it, and to the log while the log holds
// anything; a snapshot taken before either reads what it read.
func TestSmallGroupWritesData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "small.db")
	db, err := Open(path, &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	require.NoError(t, faultPut(db, "a", "1"))
	old, err := db.Begin(Snapshot)
	require.NoError(t, err)
	require.NoError(t, faultPut(db, "a", "2"))
	assert.Equal(t, db.oracle.Visible(), db.applied.Load(), "applied with the group")
	assert.Zero(t, db.logged.records.Load(), "nothing logged")
	assert.Zero(t, db.queued.Load(), "a lone committer leads its own commit: nothing went through the queue")
	assert.Equal(t, uint64(2), db.Stats().CommitBatches)
	require.NoError(t, db.check())

	tx, err := db.Begin(Snapshot)
	require.NoError(t, err)
	for i := range directWrites + 1 {
		require.NoError(t, tx.Put(fmt.Appendf(nil, "b%d", i), []byte("1")))
	}
	require.NoError(t, tx.Commit())
	applied := db.applied.Load()
	assert.Less(t, applied, db.oracle.Visible(), "a larger group goes to the log")
	require.NoError(t, faultPut(db, "a", "3"))
	assert.Equal(t, applied, db.applied.Load(), "with the log not empty, a small group goes there too")
	assert.Equal(t, int64(directWrites+2), db.logged.records.Load())
	require.NoError(t, db.check())

	v, err := old.Get([]byte("a"))
	require.NoError(t, err)
	assert.Equal(t, "1", string(v), "an older snapshot reads the before-image")
	require.NoError(t, old.Rollback())
	assert.Equal(t, "3", faultGet(t, db, "a"))
	require.NoError(t, db.requestCheckpoint())
	assert.Equal(t, db.oracle.Visible(), db.applied.Load())
	require.NoError(t, faultPut(db, "a", "4"))
	assert.Zero(t, db.logged.records.Load(), "the log empty again: to the data bucket")
	require.NoError(t, db.Close())
	db, err = Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, "4", faultGet(t, db, "a"))
	assert.Equal(t, "1", faultGet(t, db, "b3"))
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
		for i := range directWrites + 1 {
			require.NoError(t, tx.Put(fmt.Appendf(nil, "small%d", i), []byte(round)))
		}
		require.NoError(t, tx.Put([]byte("small"), []byte(round)))
		require.NoError(t, tx.Commit())
	}
	logged("1")
	big("one") // the log holds "small": the group goes to the log
	assert.Less(t, db.applied.Load(), db.oracle.Visible())
	assert.NotZero(t, db.logged.records.Load())
	require.NoError(t, db.requestCheckpoint())
	require.NoError(t, db.check())

	logged("2")
	require.NoError(t, db.requestCheckpoint())
	old, err := db.Begin(Snapshot)
	require.NoError(t, err)
	big("two") // the log is empty: straight to the data
	assert.Equal(t, db.oracle.Visible(), db.applied.Load(), "applied with the group")
	assert.Zero(t, db.logged.records.Load())
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

// TestCheckpointKeepsTheLogBucket: checkpoints delete the writes they
// apply from the log bucket, which stays the same bucket for the life of
// the file (a mark set on it survives them), and bbolt reuses the pages
// they free: round after round of commits and checkpoints, the file does
// not grow and bbolt's free pages stay few.
func TestCheckpointKeepsTheLogBucket(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "log.db"), &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	const mark = 0x5eed
	db.writeMu.Lock()
	require.NoError(t, db.bolt.Update(func(btx *bolt.Tx) error { return btx.Bucket(logBucket).SetSequence(mark) }))
	db.writeMu.Unlock()
	val := string(make([]byte, 100))
	var sizes []int64
	for r := range 12 {
		for i := range 300 {
			require.NoError(t, faultPut(db, fmt.Sprintf("k%05d", (r*300+i)%2000), val))
		}
		require.NoError(t, db.requestCheckpoint())
		sizes = append(sizes, fileSize(db.path))
	}
	require.NoError(t, db.bolt.View(func(btx *bolt.Tx) error {
		assert.Equal(t, uint64(mark), btx.Bucket(logBucket).Sequence(), "the same log bucket")
		assert.Zero(t, btx.Bucket(logBucket).Stats().KeyN, "the checkpoints emptied it")
		return nil
	}))
	assert.Equal(t, sizes[3], sizes[len(sizes)-1], "the file stopped growing: %v", sizes)
	assert.Less(t, db.bolt.Stats().FreePageN, 64)
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
	// A group too large for the data bucket puts the log in use: the
	// one-key commits after it go there too.
	tx, err := db.Begin(Snapshot)
	require.NoError(t, err)
	for i := range directWrites + 1 {
		require.NoError(t, tx.Put(fmt.Appendf(nil, "first%02d", i), []byte("v")))
	}
	require.NoError(t, tx.Commit())
	require.NotZero(t, db.logged.records.Load())
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
	assert.LessOrEqual(t, db.logged.bytes.Load(), int64(logBacklog*ckBytes+2000), "the log stops one group past its backlog")
	db.ck.pass.Unlock()
	require.NoError(t, <-done)
	require.NoError(t, db.requestCheckpoint())
	assert.Zero(t, db.logged.records.Load())
	require.NoError(t, db.check())
	assert.Equal(t, value, faultGet(t, db, fmt.Sprintf("k%05d", commits-1)))
}

// TestStepsStaySmallWhileCommitsWait: a checkpoint step holds the writer,
// so no group can commit during one; the steps' sizing must not read that
// as an idle pipeline (which doubles the next step) while commits wait for
// the writer: steps would grow to maxStepKeys, each stalling every commit
// for as long as thousands of random page writes take. A commit that
// comes while a step holds the writer is seen waiting (writerWanted), and
// a step that is not idle and slower than the groups does not grow.
func TestStepsStaySmallWhileCommitsWait(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "steps.db"), &Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db.Close()
	require.False(t, db.writerWanted(), "nothing to commit")
	db.writeMu.Lock() // as a step does
	done := make(chan error, 1)
	go func() { done <- faultPut(db, "k", "v") }()
	require.Eventually(t, db.writerWanted, 10*time.Second, time.Millisecond, "the commit waits for the writer")
	db.writeMu.Unlock()
	require.NoError(t, <-done)
	assert.False(t, db.writerWanted(), "committed: nothing waits")

	db.ck.groupTime.Store(int64(time.Millisecond))
	db.ck.stepKeys = 64
	db.sizeSteps(3*time.Millisecond, false)
	assert.Equal(t, 32, db.ck.stepKeys, "slower than two groups, commits waiting: smaller")
	db.sizeSteps(1500*time.Microsecond, false)
	assert.Equal(t, 32, db.ck.stepKeys, "between one and two groups: kept")
	db.sizeSteps(1500*time.Microsecond, true)
	assert.Equal(t, 64, db.ck.stepKeys, "nobody waits: larger")
}
