package runner

import (
	"io/fs"
	"path/filepath"
	"runtime"
	"time"
)

// Sample is one point of a run's footprint: the Go heap in use and the
// size of the engine's files, At after the measured window began.
type Sample struct {
	At        time.Duration `json:"at_ns"`
	HeapBytes uint64        `json:"heap_bytes"`
	FileBytes int64         `json:"file_bytes"`
}

// footprintWorkloads are the workloads whose runs record a footprint: what
// a long snapshot costs over time, in memory and on disk, is their point.
var footprintWorkloads = map[string]bool{"longreader": true}

// footprintSamples is about how many points a run's footprint gets.
const footprintSamples = 120

// sampleFootprint records a Sample every Duration/footprintSamples (at
// least every 50ms) until the returned function is called, and then one
// more. The heap is the process's: the runner runs one engine at a time,
// and the engine's heap is what grows.
func (r *runner) sampleFootprint(res *Result) (stop func()) {
	if !footprintWorkloads[r.cfg.Workload.Name()] {
		return func() {}
	}
	every := max(r.cfg.Duration/footprintSamples, 50*time.Millisecond)
	start := time.Now()
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		res.Footprint = append(res.Footprint, Sample{At: time.Since(start), HeapBytes: m.HeapAlloc, FileBytes: dirSize(r.dir)})
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
