package runner

import (
	"io/fs"
	"path/filepath"
	"runtime"
	"time"
)

// Sample is one point of a run's timeline: the Go heap in use and the
// size of the engine's files, At after the measured window began.
type Sample struct {
	At        time.Duration `json:"at_ns"`
	HeapBytes uint64        `json:"heap_bytes"`
	FileBytes int64         `json:"file_bytes"`
}

// timelineWorkloads are the workloads whose runs record a timeline: what
// a long snapshot costs over time, in memory and on disk, is their point.
var timelineWorkloads = map[string]bool{"longreader": true}

// timelineSamples is about how many points a run's timeline gets.
const timelineSamples = 120

// sampleTimeline records a Sample every Duration/timelineSamples (at
// least every 50ms) until the returned function is called, and then one
// more. The heap is the process's: the runner runs one engine at a time,
// and the engine's heap is what grows.
func (r *runner) sampleTimeline(res *Result) (stop func()) {
	if !timelineWorkloads[r.cfg.Workload.Name()] {
		return func() {}
	}
	every := max(r.cfg.Duration/timelineSamples, 50*time.Millisecond)
	start := time.Now()
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		res.Timeline = append(res.Timeline, Sample{At: time.Since(start), HeapBytes: m.HeapAlloc, FileBytes: dirSize(r.dir)})
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			sample()
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
		sample()
	}
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
