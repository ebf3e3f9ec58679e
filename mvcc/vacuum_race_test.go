package mvcc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// TestVacuumNeverRemovesVisibleVersions runs vacuum (explicit passes in a
// loop and an eager autovacuum) while transactions read old snapshots,
// write and commit, and checks every read against a model.
//
// One writer owns the keys m/000..m/099 plus m/ctr: its commit number j
// writes m/ctr=j and random puts and deletes of the m keys. Since it is
// their only writer, the state of the m keys after each of its commits is
// known (states[j]), and a snapshot that reads m/ctr=j must read states[j]
// for every other m key, however long it stays open and however many
// vacuum passes run meanwhile. Other writers churn x/ keys to make garbage
// and group commits. Read-committed scans must each match one state too
// (one statement, one snapshot, even across the index's scan chunks).
//
// MVKV_VACUUM_STRESS=n multiplies the work (default 1).
func TestVacuumNeverRemovesVisibleVersions(t *testing.T) {
	scale := 1
	if s := os.Getenv("MVKV_VACUUM_STRESS"); s != "" {
		var err error
		scale, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	const mkeys = 100
	commits := 400 * scale
	db, path := openVac(t, &mvcc.Options{
		AutovacuumInterval: time.Millisecond, AutovacuumThreshold: -1, AutovacuumScaleFactor: -1,
		VacuumBatchSize: 16, VacuumPause: -1,
	})
	ctx := context.Background()
	mkey := func(i int) string { return fmt.Sprintf("m/%03d", i) }

	var (
		mu     sync.RWMutex
		states []map[string]string // states[j]: the m keys after commit j
	)
	stateAt := func(j int) map[string]string {
		mu.RLock()
		defer mu.RUnlock()
		require.Less(t, j, len(states), "a snapshot saw a commit the writer never made")
		return states[j]
	}
	// Commit 0: every m key present.
	first := map[string]string{"m/ctr": "0"}
	for i := range mkeys {
		first[mkey(i)] = "0"
	}
	states = append(states, first)
	require.NoError(t, db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for k, v := range first {
			if err := tx.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}))

	var stop atomic.Bool
	var wg sync.WaitGroup
	spawn := func(f func(rng *rand.Rand)) {
		wg.Add(1)
		seed := rand.Uint64()
		go func() {
			defer wg.Done()
			f(rand.New(rand.NewPCG(seed, 7)))
		}()
	}

	// The modeled writer.
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for j := 1; j <= commits; j++ {
			mu.RLock()
			next := make(map[string]string, len(states[j-1]))
			for k, v := range states[j-1] {
				next[k] = v
			}
			mu.RUnlock()
			next["m/ctr"] = strconv.Itoa(j)
			type w struct {
				k   string
				del bool
			}
			var ws []w
			for range 1 + rng.IntN(6) {
				k := mkey(rng.IntN(mkeys))
				d := rng.IntN(3) == 0
				ws = append(ws, w{k, d})
				if d {
					delete(next, k)
				} else {
					next[k] = strconv.Itoa(j)
				}
			}
			// Record the state before committing: a reader may see the
			// commit before Commit returns here.
			mu.Lock()
			states = append(states, next)
			mu.Unlock()
			tx, err := db.Begin(mvcc.Snapshot)
			if !assert.NoError(t, err) {
				return
			}
			_ = tx.Put([]byte("m/ctr"), []byte(strconv.Itoa(j)))
			for _, x := range ws {
				if x.del {
					_ = tx.Delete([]byte(x.k))
				} else {
					_ = tx.Put([]byte(x.k), []byte(strconv.Itoa(j)))
				}
			}
			if !assert.NoError(t, tx.Commit(), "the only writer of the m keys cannot conflict") {
				return
			}
		}
	}()

	// Churn on other keys: overwrites and deletes.
	for w := range 2 {
		spawn(func(rng *rand.Rand) {
			for n := 0; !stop.Load(); n++ {
				_ = db.Update(ctx, mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
					for range 1 + rng.IntN(8) {
						k := []byte(fmt.Sprintf("x/%d/%02d", w, rng.IntN(50)))
						if rng.IntN(4) == 0 {
							if err := tx.Delete(k); err != nil {
								return err
							}
						} else if err := tx.Put(k, []byte(strconv.Itoa(n))); err != nil {
							return err
						}
					}
					return nil
				})
			}
		})
	}

	// Explicit vacuum passes, back to back: at least one, however the
	// goroutines are scheduled.
	var passes atomic.Int64
	spawn(func(*rand.Rand) {
		for {
			_, err := db.Vacuum(ctx)
			assert.NoError(t, err)
			passes.Add(1)
			if stop.Load() {
				return
			}
		}
	})

	// Snapshot readers: long-lived transactions, reading again and again
	// while vacuum runs.
	var checked atomic.Int64
	for r := range 3 {
		spawn(func(rng *rand.Rand) {
			level := []mvcc.Level{mvcc.Snapshot, mvcc.Serializable}[r%2]
			for !stop.Load() {
				tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: level, ReadOnly: true})
				if !assert.NoError(t, err) {
					return
				}
				ctr, err := tx.Get([]byte("m/ctr"))
				if !assert.NoError(t, err) {
					return
				}
				j, _ := strconv.Atoi(string(ctr))
				want := stateAt(j)
				for range 2 + rng.IntN(6) {
					switch rng.IntN(3) {
					case 0:
						got := map[string]string{}
						for k, v := range tx.Scan([]byte("m/"), []byte("m0")) {
							got[string(k)] = string(v)
						}
						if !assert.Equal(t, want, got, "snapshot %d scan", j) {
							return
						}
					default:
						k := mkey(rng.IntN(mkeys))
						v, err := tx.Get([]byte(k))
						wv, ok := want[k]
						if ok {
							if !assert.NoError(t, err, "snapshot %d key %s", j, k) || !assert.Equal(t, wv, string(v)) {
								return
							}
						} else if !assert.ErrorIs(t, err, mvcc.ErrNotFound, "snapshot %d key %s", j, k) {
							return
						}
					}
					checked.Add(1)
					time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
				}
				_ = tx.Rollback()
			}
		})
	}

	// Read-committed readers: each scan is one snapshot.
	spawn(func(rng *rand.Rand) {
		for !stop.Load() {
			tx, err := db.BeginTx(ctx, mvcc.TxOptions{Isolation: mvcc.ReadCommitted, ReadOnly: true})
			if !assert.NoError(t, err) {
				return
			}
			for range 1 + rng.IntN(4) {
				got := map[string]string{}
				for k, v := range tx.Scan([]byte("m/"), []byte("m0")) {
					got[string(k)] = string(v)
				}
				j, _ := strconv.Atoi(got["m/ctr"])
				if !assert.Equal(t, stateAt(j), got, "read committed scan at commit %d", j) {
					return
				}
				checked.Add(1)
				time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
			}
			_ = tx.Rollback()
		}
	})

	<-writerDone
	stop.Store(true)
	wg.Wait()
	t.Logf("%d writer commits, %d checked reads, %d explicit passes, stats %+v", commits, checked.Load(), passes.Load(), db.Stats())
	require.Positive(t, passes.Load())

	// Quiet now: a last pass leaves only live versions, and a reopen reads
	// the same.
	_, err := db.Vacuum(ctx)
	require.NoError(t, err)
	s := db.Stats()
	assert.Zero(t, s.DeadVersions)
	assert.Equal(t, s.Keys, s.Versions)
	final := vcontents(t, db)
	assert.Equal(t, int64(len(final)), s.Versions)
	for k, v := range stateAt(commits) {
		assert.Equal(t, v, final[k])
	}
	require.NoError(t, db.Close())
	db2, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	defer db2.Close()
	assert.Equal(t, final, vcontents(t, db2))
	assert.Equal(t, s.Versions, db2.Stats().Versions)
}
