package goals

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/mvkv/mvkv/bench/report"
)

// diskSyncTail measures the disk alone, as the commit log uses it: 1 KB
// appends to a zero-filled file, each followed by an fdatasync, for d
// (and at least 100 of them). It returns every append's latency, sorted.
// A durable commit waits for at least one such flush, so the spread of
// these is about the least the commits' own spread can be on this disk
// (and a machine whose cores are all busy adds its scheduling delay to
// every flush: the thread that waited must be run again).
func diskSyncTail(dir string, d time.Duration) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "disk-sync-")
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	const size = 8 << 20 // one log segment
	if _, err := f.Write(make([]byte, size)); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	rec := make([]byte, 1024)
	var lat []time.Duration
	var off int64
	for end := time.Now().Add(d); len(lat) < 100 || time.Now().Before(end); {
		t := time.Now()
		if _, err := f.WriteAt(rec, off); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
		if off += int64(len(rec)); off+int64(len(rec)) > size {
			off = 0
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// diskSyncGoal reports diskSyncTail's p99.9 over its p50, the floor of
// the commit-latency goal on this machine, median of rounds.
func diskSyncGoal(dir string, cfg Config) (Goal, error) {
	var ratio, p50, p999 []float64
	for range cfg.Rounds {
		lat, err := diskSyncTail(dir, cfg.Duration)
		if err != nil {
			return Goal{}, err
		}
		p50, p999 = append(p50, quantile(lat, 0.5)), append(p999, quantile(lat, 0.999))
		ratio = append(ratio, quantile(lat, 0.999)/quantile(lat, 0.5))
	}
	g := atMostGoal("the disk alone: 1 KB append + fdatasync, p99.9 over p50", "×", report.Median(ratio), 0,
		fmt.Sprintf("no engine, one goroutine, median of %d rounds of %v: p50 %.3f ms, p99.9 %.3f ms; every durable commit waits for such a flush, so its spread is about the least the commits' can have on this machine", cfg.Rounds, cfg.Duration, report.Median(p50), report.Median(p999)))
	g.Met = true
	return g, nil
}
