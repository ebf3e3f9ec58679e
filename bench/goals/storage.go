package goals

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/mvcc"
)

// storageMmap maps the storage measurement's file (1 GB at the default
// size) at once, for mvkv and for bbolt reading it.
const storageMmap = 1 << 30

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// mvkvDB is the mvkv engine's database, for what only mvkv can say (its
// Stats); the measurements themselves go through the engine.
func mvkvDB(e engine.Engine) *mvcc.DB { return e.(interface{ DB() *mvcc.DB }).DB() }

// goalStorage: the data lives in the file. It loads StorageKeys keys of
// StorageValueSize bytes (in key order: a bulk load of shuffled keys is
// bbolt's random-insert cost, the same for both), then measures the live
// heap after the load and after a reopen, the time Open takes, random
// point reads over the whole dataset against bbolt reading the same file
// (mvkv keeps no cache of values: the OS page cache is the only one, so
// this is a dataset far larger than any cache mvkv keeps), and the memory
// each version held for an open snapshot costs. mvkv and bbolt are
// engine.Engines, bbolt opened read-only on mvkv's own file
// (engine.OpenBoltFile).
func goalStorage(ctx context.Context, cfg Config, dir string) ([]Goal, error) {
	opts := engine.Options{MmapSize: storageMmap}
	sub := filepath.Join(dir, "mvkv")
	mv, err := openEngine(dir, "mvkv", opts)
	if err != nil {
		return nil, err
	}
	n, size := cfg.StorageKeys, cfg.StorageValueSize
	val := goalValue(size, 5)
	value := func(i int) []byte {
		binary.BigEndian.PutUint64(val, uint64(i))
		return val
	}
	start := time.Now()
	if err := load(ctx, mv, n, value); err != nil {
		_ = mv.Close()
		return nil, err
	}
	loadTime := time.Since(start)
	heapLoaded := heapInUse()
	if err := mv.Close(); err != nil {
		return nil, err
	}
	path := filepath.Join(sub, "mvkv.db")
	fileMiB := float64(fileSize(path)) / (1 << 20)

	r := rand.New(rand.NewPCG(7, 8))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = goalKey(r.IntN(n))
	}
	pick := func(g, i int) []byte { return keys[(g*7919+i)&(len(keys)-1)] }
	var opens, heaps, readO, readT, readV []float64
	for range cfg.Rounds {
		start := time.Now()
		mv, err := engine.Open("mvkv", sub, opts)
		if err != nil {
			return nil, err
		}
		opens = append(opens, float64(time.Since(start).Microseconds())/1000)
		heaps = append(heaps, float64(heapInUse())/(1<<20))
		if k := mvkvDB(mv).Stats().Keys; k != int64(n) {
			_ = mv.Close()
			return nil, fmt.Errorf("reopened with %d keys, want %d", k, n)
		}
		o, err := readPoints(ctx, cfg, mv, pick, nil)
		if cerr := mv.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		bb, err := engine.OpenBoltFile(path, "data", opts)
		if err != nil {
			return nil, err
		}
		t, err := readPoints(ctx, cfg, bb, pick, nil)
		if err != nil {
			_ = bb.Close()
			return nil, err
		}
		// The same reads by a bbolt caller that reads each value (into a
		// buffer of its own, reused: every byte read, nothing allocated),
		// as mvkv reads it to verify and copy it.
		bufs := make([][]byte, cfg.Readers)
		v, err := readPoints(ctx, cfg, bb, pick, func(g int, v []byte) { bufs[g] = append(bufs[g][:0], v...) })
		_ = bb.Close()
		if err != nil {
			return nil, err
		}
		readO, readT, readV = append(readO, o), append(readT, t), append(readV, v)
	}

	// Memory per version: one more version of the first 100,000 keys,
	// kept in memory by an open snapshot (a read-only transaction that
	// stays open while they are written).
	mv, err = engine.Open("mvkv", sub, opts)
	if err != nil {
		return nil, err
	}
	defer mv.Close() //nolint:errcheck // a throwaway benchmark database
	m := min(n, 100_000)
	var mem int64
	var perVersion float64
	if err := mv.(engine.Viewer).View(mvcc.Snapshot, func(engine.Tx) error {
		before := heapInUse()
		if err := load(ctx, mv, m, value); err != nil {
			return err
		}
		mem = mvkvDB(mv).Stats().MemVersions
		perVersion = float64(heapInUse()-before) / float64(max(mem, 1))
		return nil
	}); err != nil {
		return nil, err
	}

	data := fmt.Sprintf("%d keys of %d bytes written in key order (%.0f MiB file) in %v", n, size, fileMiB, loadTime.Round(time.Millisecond))
	atMost := atMostGoal
	med := report.Median
	return []Goal{
		atMost("Go heap after loading", "MiB", float64(heapLoaded)/(1<<20), 64, data),
		atMost("Go heap after reopening", "MiB", med(heaps), 64, fmt.Sprintf("median of %d opens", cfg.Rounds)),
		atMost("Open of that database", "ms", med(opens), 100, fmt.Sprintf("median of %d opens: no scan of the file", cfg.Rounds)),
		ratioGoal("point reads over the whole dataset vs bbolt", "reads/s", med(readO), med(readT), 1.0,
			fmt.Sprintf("random keys, %d goroutines, bbolt View+Get on the same file, median of %d alternating rounds of %v", cfg.Readers, cfg.Rounds, cfg.Duration)),
		reportRatio("point reads over the whole dataset vs bbolt reading each value", "reads/s", med(readO), med(readV),
			"bbolt View+Get reading every byte of the value (into a reused buffer), as mvkv does to verify and copy it"),
		{Name: "memory per version held for a snapshot", Ours: perVersion, Value: perVersion, Unit: "bytes", Met: true,
			Detail: fmt.Sprintf("live heap added per version by overwriting %d keys under an open snapshot (%d versions in memory: the new ones and the before-images); includes the %d-byte before-image value", m, mem, size)},
	}, nil
}

// readPoints measures point reads of pick(g, i) on e (pointRead).
func readPoints(ctx context.Context, cfg Config, e engine.Engine, pick func(g, i int) []byte, use func(g int, v []byte)) (float64, error) {
	read, err := pointRead(e, mvcc.Snapshot, pick, use, cfg.Readers)
	if err != nil {
		return 0, err
	}
	return hammer(ctx, cfg.Readers, cfg.Duration, read)
}
