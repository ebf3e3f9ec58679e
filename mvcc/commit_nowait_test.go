package mvcc

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No commit waits for a checkpoint or a vacuum.
//
// TestDurableCommitsWhileCheckpointPaused stops a checkpoint pass between
// two of its steps, with a DB.Vacuum waiting behind it (a manual vacuum
// has the whole log applied first), and meanwhile runs durable commits
// from several goroutines: every one is acknowledged, and read, while the
// pass is still stopped. Then the pass and the vacuum complete, and a
// reopen finds every acknowledged commit.
//
// TestDurableCommitsWhileVacuumSleeps does the same while a vacuum pass
// sleeps between two of its batches.
//
// hangAfter only turns a wait that would never end into a failure with a
// message; no verdict depends on how long anything takes.
const hangAfter = 30 * time.Second

// commitAll runs n durable commits from each of writers goroutines (keys
// prefix-w-i, and one key all of them overwrite) and returns once all are
// acknowledged, failing the test if they are not within hangAfter: the
// sign that they wait for what the caller holds.
func commitAll(t *testing.T, db *DB, prefix string, writers, n int, holding string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers*n)
	for w := range writers {
		wg.Go(func() {
			for i := range n {
				errs <- db.Update(context.Background(), Snapshot, func(tx *Txn) error {
					if err := tx.Put(fmt.Appendf(nil, "%s-%d-%d", prefix, w, i), []byte("acked")); err != nil {
						return err
					}
					return tx.Put([]byte("shared"), fmt.Appendf(nil, "%s-%d-%d", prefix, w, i))
				})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hangAfter):
		t.Fatalf("durable commits wait for %s: not all acknowledged while it was held", holding)
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// checkAcked reads every key commitAll wrote.
func checkAcked(t *testing.T, db *DB, prefix string, writers, n int) {
	t.Helper()
	require.NoError(t, db.View(context.Background(), func(tx *Txn) error {
		for w := range writers {
			for i := range n {
				v, err := tx.Get(fmt.Appendf(nil, "%s-%d-%d", prefix, w, i))
				if err != nil {
					return fmt.Errorf("%s-%d-%d: %w", prefix, w, i, err)
				}
				if string(v) != "acked" {
					return fmt.Errorf("%s-%d-%d = %q", prefix, w, i, v)
				}
			}
		}
		return nil
	}))
}

// pauseCheckpointOnce makes the first step of db's checkpoint passes
// from now on stop after it is applied: paused is closed then, and the
// pass goes on once resume is closed.
func pauseCheckpointOnce(db *DB) (paused, resume chan struct{}) {
	var once sync.Once
	paused, resume = make(chan struct{}), make(chan struct{})
	db.ck.afterStep = func() {
		once.Do(func() {
			close(paused)
			<-resume
		})
	}
	return paused, resume
}

// reopenAcked closes db and opens its file again: every commit commitAll
// acknowledged is there, with the test's last writes of k000 and k001, and
// the file is sound. It returns the reopened DB.
func reopenAcked(t *testing.T, db *DB, path, prefix string, writers, n int) *DB {
	t.Helper()
	require.NoError(t, db.Close())
	db, err := Open(path, nil)
	require.NoError(t, err)
	checkAcked(t, db, prefix, writers, n)
	assert.Equal(t, "during", faultGet(t, db, "k000"))
	assert.Equal(t, "r2", faultGet(t, db, "k001"))
	require.NoError(t, db.check())
	return db
}

func TestDurableCommitsWhileCheckpointPaused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nowait.db")
	db, err := Open(path, &Options{NoAutovacuum: true}) // durable: every commit fsyncs
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	db.ck.stepKeys = 4 // a pass of many steps
	// Versions to vacuum, and a log of many records to apply.
	for r := range 3 {
		for i := range 24 {
			require.NoError(t, faultPut(db, fmt.Sprintf("k%03d", i), fmt.Sprintf("r%d", r)))
		}
	}

	paused, resume := pauseCheckpointOnce(db)
	released := false
	release := func() {
		if !released {
			released = true
			close(resume)
		}
	}
	defer release() // a failed test must not leave the pass, and Close, stuck
	vacuumed := make(chan error, 1)
	var vs VacuumStats
	go func() {
		var err error
		vs, err = db.Vacuum(context.Background())
		vacuumed <- err
	}()
	select {
	case <-paused:
	case <-time.After(hangAfter):
		t.Fatal("the vacuum's checkpoint pass never took a step")
	}
	applied := db.applied.Load()
	require.Less(t, applied, db.oracle.Visible(), "the pass is stopped mid-way")

	const writers, each = 8, 6
	commitAll(t, db, "ck", writers, each, "a checkpoint pass stopped between two steps")
	checkAcked(t, db, "ck", writers, each)
	assert.Equal(t, applied, db.applied.Load(), "the pass stayed stopped while they committed")
	select {
	case err := <-vacuumed:
		t.Fatalf("the vacuum ended (%v) before its checkpoint could", err)
	default:
	}
	// Readers and writers of the keys the stopped pass is applying.
	require.NoError(t, faultPut(db, "k000", "during"))
	assert.Equal(t, "during", faultGet(t, db, "k000"))

	release()
	select {
	case err := <-vacuumed:
		require.NoError(t, err)
	case <-time.After(hangAfter):
		t.Fatal("the vacuum never completed once the pass went on")
	}
	assert.Positive(t, vs.VersionsRemoved, "the vacuum removed the older versions")
	assert.GreaterOrEqual(t, db.applied.Load(), applied, "the pass went on")
	require.NoError(t, db.check())
	db = reopenAcked(t, db, path, "ck", writers, each)
}

func TestDurableCommitsWhileVacuumSleeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nowait.db")
	// Batches of one version, and a pause after each that outlasts the
	// test: the pass stops after its first batch until its context ends.
	db, err := Open(path, &Options{NoAutovacuum: true, VacuumBatchSize: 1, VacuumPause: time.Hour})
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	for r := range 3 {
		for i := range 16 {
			require.NoError(t, faultPut(db, fmt.Sprintf("k%03d", i), fmt.Sprintf("r%d", r)))
		}
	}
	before := db.Stats().Versions
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vacuumed := make(chan error, 1)
	var vs VacuumStats
	go func() {
		var err error
		vs, err = db.Vacuum(ctx)
		vacuumed <- err
	}()
	// The first batch removes a version; the pass then sleeps.
	require.Eventually(t, func() bool { return db.Stats().Versions < before }, hangAfter, time.Millisecond,
		"the vacuum never removed its first batch")

	const writers, each = 8, 6
	commitAll(t, db, "vac", writers, each, "a vacuum pass asleep between two batches")
	checkAcked(t, db, "vac", writers, each)
	require.NoError(t, faultPut(db, "k000", "during"))
	assert.Equal(t, "during", faultGet(t, db, "k000"))
	select {
	case err := <-vacuumed:
		t.Fatalf("the vacuum ended (%v) during its pause", err)
	default:
	}

	cancel()
	select {
	case err := <-vacuumed:
		require.ErrorIs(t, err, context.Canceled, "the pass stops between batches with its context's error")
	case <-time.After(hangAfter):
		t.Fatal("the vacuum did not stop when its context ended")
	}
	assert.Positive(t, vs.VersionsRemoved, "what the pass did is reported")
	require.NoError(t, db.check())
	db = reopenAcked(t, db, path, "vac", writers, each)
}
