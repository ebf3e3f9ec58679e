package mvcc

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// versionModel is every committed version, by key, in commit order.
type versionModel struct {
	mu   sync.Mutex
	keys map[string][]modelVersion // sorted by ts once the run is over
}

type modelVersion struct {
	ts    uint64
	value string
	gone  bool // a delete
}

// at returns key's value visible at ts.
func (m *versionModel) at(key string, ts uint64) (string, bool) {
	vs := m.keys[key]
	i, _ := slices.BinarySearchFunc(vs, ts+1, func(v modelVersion, t uint64) int { return cmpUint(v.ts, t) })
	if i == 0 || vs[i-1].gone {
		return "", false
	}
	return vs[i-1].value, true
}

// valueDigest stands for a value read or modelled: itself when short, else
// its start, length and checksum, so that the observations of the bulk
// rounds' 4 KiB values do not each keep a copy.
func valueDigest(v string) string {
	if len(v) <= 64 {
		return v
	}
	return fmt.Sprintf("%s…%d:%08x", v[:32], len(v), crc32.ChecksumIEEE([]byte(v)))
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// observation is one read, checked against the model once it is complete:
// the value read must be the one visible at some snapshot in [lo, hi]
// (lo == hi at Snapshot and Serializable).
type observation struct {
	level   Level
	locking bool // a two-phase-locking transaction's read (level Serializable)
	key     string
	lo, hi  uint64
	value   string
	present bool
	scan    bool
}

// TestHorizonStress runs many short transactions at every level, readers
// and writers, two-phase-locking ones (TxOptions.Locking) among them,
// some readers keeping their snapshot open across vacuums,
// while vacuum (explicit and automatic) and checkpoints run without pause.
// Every read is checked against a model of every committed version: a
// version vacuum took too early (the horizon passed a snapshot still open)
// or a lost one shows as a wrong value, a missing key, or an error.
// MVKV_HORIZON_STRESS multiplies its length (default 1: a few seconds
// under -race). It runs twice: with the versions in memory, and spilling
// after every commit group (a memory limit of one byte), so that old
// snapshots read from the version bucket, keys leave memory whole (with
// absence markers for the new ones) and come back, while vacuum runs.
// Between the small transactions, bulk transactions of 256 KiB each
// create keys that go to the data bucket without entering memory (the
// other writers paused and the log emptied first, so that each does):
// the readers' older snapshots must see those keys absent, and the small
// writers overwrite some of them afterwards.
func TestHorizonStress(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit int64
	}{{"memory", 0}, {"spilling", 1}} {
		t.Run(c.name, func(t *testing.T) { horizonStress(t, c.limit) })
	}
}

func horizonStress(t *testing.T, memoryLimit int64) {
	scale := 1
	if s := os.Getenv("MVKV_HORIZON_STRESS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "MVKV_HORIZON_STRESS")
		scale = n
	}
	db, err := Open(filepath.Join(t.TempDir(), "stress.db"), &Options{
		NoSync: true, CheckpointBytes: 2 << 10, VersionMemoryLimit: memoryLimit,
		AutovacuumInterval: time.Millisecond, AutovacuumThreshold: 1, VacuumBatchSize: 8,
	})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	const keys = 24
	key := func(i int) string { return fmt.Sprintf("k%02d", i) }
	// Bulk rounds: each creates bulkKeys keys of about 4 KiB, over
	// directBytes in all, in one transaction.
	const bulkKeys = 64
	bulkRounds := 4 * scale
	bulkKey := func(r, i int) string { return fmt.Sprintf("b%02d.%02d", r, i) }
	names := make([]string, 0, keys+bulkRounds*bulkKeys) // every key read or written
	for i := range keys {
		names = append(names, key(i))
	}
	for r := range bulkRounds {
		for i := range bulkKeys {
			names = append(names, bulkKey(r, i))
		}
	}
	// pick is a small transaction's key: one of the 24 mostly, else one a
	// bulk round creates (perhaps not yet).
	pick := func(rng *rand.Rand) string {
		if rng.IntN(4) == 0 {
			return names[keys+rng.IntN(len(names)-keys)]
		}
		return key(rng.IntN(keys))
	}
	var pause sync.RWMutex // the small writers hold it for reading, a bulk round for writing
	model := &versionModel{keys: map[string][]modelVersion{}}
	levels := []Level{ReadCommitted, Snapshot, Serializable}
	// txOptions picks a transaction's options: one of the levels, or (one
	// time in four) Serializable by two-phase locking, whose reads see the
	// newest committed data under their locks, as read committed ones see
	// it at each statement, and keep seeing it until the end.
	txOptions := func(rng *rand.Rand) TxOptions {
		if rng.IntN(4) == 0 {
			return TxOptions{Isolation: Serializable, Locking: true}
		}
		return TxOptions{Isolation: levels[rng.IntN(len(levels))]}
	}

	var (
		wg      sync.WaitGroup
		obsMu   sync.Mutex
		obs     []observation
		writers = 4
		readers = 6
		commits = 120 * scale
		reads   = 200 * scale
	)
	stop := make(chan struct{})
	var vac sync.WaitGroup
	vac.Add(1)
	go func() { // vacuum without pause (at least one pass); the checkpoints ride on it and on commits
		defer vac.Done()
		for {
			_, err := db.Vacuum(ctx)
			assert.NoError(t, err)
			runtime.Gosched()
			select {
			case <-stop:
				return
			default:
			}
		}
	}()

	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			// A locking writer's GetForUpdate, before it writes the key,
			// reads the newest committed value under an exclusive lock:
			// checked as a read.
			var seen []observation
			defer func() {
				obsMu.Lock()
				obs = append(obs, seen...)
				obsMu.Unlock()
			}()
			for n := 0; n < commits; {
				opts := txOptions(rng)
				pause.RLock()
				tx, err := db.BeginTx(ctx, opts)
				if !assert.NoError(t, err) {
					pause.RUnlock()
					return
				}
				var mine []modelVersion
				var names []string
				var read []observation
				err = nil
				for range 1 + rng.IntN(3) {
					k := pick(rng)
					if opts.Locking && rng.IntN(2) == 0 && !slices.Contains(names, k) {
						lo := db.oracle.Visible()
						v, gerr := tx.GetForUpdate([]byte(k))
						if gerr != nil && !errors.Is(gerr, ErrNotFound) {
							err = gerr
							break
						}
						read = append(read, observation{level: Serializable, locking: true, key: k, lo: lo, hi: db.oracle.Visible(), value: valueDigest(string(v)), present: gerr == nil})
					}
					if rng.IntN(5) == 0 {
						err = tx.Delete([]byte(k))
						mine, names = append(mine, modelVersion{gone: true}), append(names, k)
					} else {
						v := fmt.Sprintf("w%d.%d.%s", w, n, k)
						err = tx.Put([]byte(k), []byte(v))
						mine, names = append(mine, modelVersion{value: v}), append(names, k)
					}
					if err != nil {
						break
					}
				}
				if err == nil {
					err = tx.Commit()
				}
				pause.RUnlock()
				seen = append(seen, read...)     // whether or not it commits
				if errors.Is(err, ErrConflict) { // deadlock victims too
					_ = tx.Rollback()
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				n++
				model.mu.Lock()
				final := map[string]modelVersion{} // the last write of a key counts
				for i, k := range names {
					final[k] = mine[i]
				}
				for k, v := range final {
					v.ts = tx.commitTS
					model.keys[k] = append(model.keys[k], v)
				}
				model.mu.Unlock()
			}
		}()
	}

	bulkDone := make(chan struct{})
	go func() {
		defer close(bulkDone)
		pad := strings.Repeat("x", 4<<10)
		for r := range bulkRounds {
			time.Sleep(2 * time.Millisecond) // let the others run between rounds
			pause.Lock()
			var tx *Txn
			var err error
			// Its commit waits for the locking readers' locks on its keys
			// (a range lock over everything among them), and may be the
			// victim of a deadlock with one: then it runs again.
			for retry := true; retry; retry = errors.Is(err, ErrConflict) {
				err = db.requestCheckpoint() // the log empties: the round writes the data bucket itself
				if err == nil {
					tx, err = db.BeginTx(ctx, TxOptions{Isolation: Snapshot})
				}
				for i := 0; err == nil && i < bulkKeys; i++ {
					err = tx.Put([]byte(bulkKey(r, i)), []byte(bulkKey(r, i)+pad))
				}
				if err == nil {
					err = tx.Commit()
				}
				if tx != nil && err != nil {
					_ = tx.Rollback()
				}
			}
			pause.Unlock()
			if !assert.NoError(t, err) {
				return
			}
			model.mu.Lock()
			for i := range bulkKeys {
				model.keys[bulkKey(r, i)] = append(model.keys[bulkKey(r, i)], modelVersion{ts: tx.commitTS, value: bulkKey(r, i) + pad})
			}
			model.mu.Unlock()
		}
	}()

	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			var mine []observation
			defer func() {
				obsMu.Lock()
				obs = append(obs, mine...)
				obsMu.Unlock()
			}()
			for range reads {
				opts := txOptions(rng)
				opts.ReadOnly = rng.IntN(2) == 0
				level, locking := opts.Isolation, opts.Locking
				// perKey: statement by statement, ReadCommitted and locking
				// transactions' reads; the others read at one snapshot.
				perKey := level == ReadCommitted || locking
				tx, err := db.BeginTx(ctx, opts)
				if !assert.NoError(t, err) {
					return
				}
				// What a locking transaction read: its locks, held to the
				// end, keep it so.
				held := map[string]observation{}
				same := func(o observation) bool {
					if !locking {
						return true
					}
					if was, ok := held[o.key]; ok && (was.present != o.present || was.value != o.value) {
						return assert.Failf(t, "a locked read changed", "%s read %q (present %v), then %q (present %v), holding its lock", o.key, was.value, was.present, o.value, o.present)
					}
					held[o.key] = o
					return true
				}
				hold := rng.IntN(4) == 0 // keep the snapshot across vacuums
				for range 1 + rng.IntN(4) {
					if hold {
						time.Sleep(100 * time.Microsecond)
					}
					lo := db.oracle.Visible()
					if rng.IntN(4) == 0 {
						seen := map[string]string{}
						for k, v := range tx.Scan(nil, nil) {
							seen[string(k)] = string(v)
						}
						hi := db.oracle.Visible()
						if errors.Is(tx.Err(), ErrConflict) {
							break
						}
						if !assert.NoError(t, tx.Err()) {
							_ = tx.Rollback() // a locking one's locks would stop the others
							return
						}
						if !perKey {
							lo, hi = tx.ReadTS(), tx.ReadTS()
						}
						// Every small key, and a sample of the bulk ones.
						for i := range keys + 32 {
							k := names[i]
							if i >= keys {
								k = names[keys+rng.IntN(len(names)-keys)]
							}
							v, ok := seen[k]
							o := observation{level: level, locking: locking, key: k, lo: lo, hi: hi, value: valueDigest(v), present: ok, scan: true}
							if !same(o) {
								_ = tx.Rollback()
								return
							}
							mine = append(mine, o)
						}
						continue
					}
					k := pick(rng)
					v, err := tx.Get([]byte(k))
					hi := db.oracle.Visible()
					if errors.Is(err, ErrConflict) {
						break // a serializable reader may abort: not a wrong read
					}
					if !errors.Is(err, ErrNotFound) && !assert.NoError(t, err) {
						_ = tx.Rollback()
						return
					}
					if !perKey {
						lo, hi = tx.ReadTS(), tx.ReadTS()
					}
					o := observation{level: level, locking: locking, key: k, lo: lo, hi: hi, value: valueDigest(string(v)), present: err == nil}
					if !same(o) {
						_ = tx.Rollback()
						return
					}
					mine = append(mine, o)
				}
				_ = tx.Rollback()
			}
		}()
	}
	wg.Wait()
	<-bulkDone
	close(stop)
	vac.Wait()

	for k := range model.keys {
		slices.SortFunc(model.keys[k], func(a, b modelVersion) int { return cmpUint(a.ts, b.ts) })
	}
	wrong := 0
	for _, o := range obs {
		ok := false
		for ts := o.lo; ts <= o.hi && !ok; ts++ {
			v, present := model.at(o.key, ts)
			ok = present == o.present && (!present || valueDigest(v) == o.value)
		}
		if !ok {
			want, present := model.at(o.key, o.lo)
			wrong++
			if wrong <= 10 {
				t.Errorf("%s read (locking %v) of %s (scan %v) at snapshots [%d, %d]: got %q (present %v), the model has %q (present %v) at %d; its versions %v",
					o.level, o.locking, o.key, o.scan, o.lo, o.hi, o.value, o.present, want, present, o.lo, model.keys[o.key])
			}
		}
	}
	assert.Zero(t, wrong, "reads that do not match the model, of %d", len(obs))
	locked := 0
	for _, o := range obs {
		if o.locking {
			locked++
		}
	}
	assert.Positive(t, locked, "locking transactions' reads were checked")
	st := db.Stats()
	t.Logf("%d reads checked (%d by locking transactions); %d vacuums removed %d versions; %d bulk rounds left their new keys out of memory", len(obs), locked, st.Vacuums, st.VersionsVacuumed, db.skipGen.Load())
	assert.Positive(t, st.Vacuums, "vacuum ran")
	assert.Positive(t, db.skipGen.Load(), "a bulk round wrote the data bucket itself")
	require.NoError(t, Check(db))
}
