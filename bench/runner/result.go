package runner

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mvkv/mvkv/bench/workload"
)

// Result is what one run measured. Durations are in nanoseconds in JSON.
type Result struct {
	Engine   string `json:"engine"`
	Workload string `json:"workload"`
	Level    string `json:"level"`
	Threads  int    `json:"threads"`
	// Procs is GOMAXPROCS during the run: the cores it could use.
	Procs int `json:"gomaxprocs"`
	// Round numbers the run among its cell's rounds, from 1.
	Round int `json:"round,omitempty"`
	// Param names the swept parameter of this run, if any ("hot-keys=16").
	Param   string `json:"param,omitempty"`
	Durable bool   `json:"durable"`
	// Skipped says why the run did not happen (the engine cannot express
	// the level); the figures are then zero.
	Skipped string `json:"skipped,omitempty"`

	// Ops counts operations (transactions) completed in the measured
	// window; Elapsed is that window.
	Ops        int64         `json:"ops"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Throughput float64       `json:"ops_per_sec"`
	// OpsByName counts completed operations per kind (read, update, ...).
	OpsByName map[string]int64 `json:"ops_by_name,omitempty"`

	Latency Latency `json:"latency"`
	// Timeline is the measured window second by second: a stall (a
	// checkpoint, a compaction, a vacuum every commit waits for) shows as
	// the second whose p99 leaps, where the run's percentiles average it
	// away.
	Timeline []Window `json:"timeline,omitempty"`

	// Aborts counts aborted attempts by cause; Attempts = Ops + aborts
	// retried + given up. Retried counts operations that needed at least
	// one retry; GaveUp those abandoned after MaxRetries; Errors other
	// failures (FirstError says the first).
	Aborts     map[string]int64 `json:"aborts,omitempty"`
	Attempts   int64            `json:"attempts"`
	AbortRate  float64          `json:"abort_rate"`
	Retried    int64            `json:"retried"`
	GaveUp     int64            `json:"gave_up"`
	Errors     int64            `json:"errors"`
	FirstError string           `json:"first_error,omitempty"`

	// Versions held by the engine (engines that report it): the peak
	// sampled during the run (every 10ms, and by the workload where it is
	// a workload.VersionsObserver), at its end, and after a vacuum then.
	// VacuumRemoved is what that vacuum removed; VacuumError why it failed.
	VersionsPeak   int64  `json:"versions_peak,omitempty"`
	VersionsEnd    int64  `json:"versions_end,omitempty"`
	VersionsAfter  int64  `json:"versions_after_vacuum,omitempty"`
	VacuumRemoved  int64  `json:"vacuum_removed,omitempty"`
	VacuumError    string `json:"vacuum_error,omitempty"`
	VersionsReport bool   `json:"versions_reported"`

	// Footprint samples the Go heap and the engine's files through the
	// measured window (the longreader workload only; see Sample).
	Footprint []Sample `json:"footprint,omitempty"`

	// Go runtime activity in the measured window.
	GCCycles  uint32        `json:"gc_cycles"`
	GCPause   time.Duration `json:"gc_pause_ns"`
	HeapAlloc uint64        `json:"heap_alloc_bytes"`

	Invariant workload.Invariant `json:"invariant"`
	// Note says how the engine maps onto the level.
	Note string `json:"note,omitempty"`
}

// Latency summarizes the per-operation latency (first attempt to commit,
// retries and backoff included).
type Latency struct {
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P95  time.Duration `json:"p95_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// Latencies are recorded in nanoseconds from 1 ns to a minute with three
// significant digits: 0.1% error, a few hundred KiB per histogram.
const (
	histMin    = 1
	histMax    = int64(time.Minute)
	histDigits = 3
)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) }
	return Latency{
		Mean: time.Duration(h.Mean()),
		P50:  q(50), P95: q(95), P99: q(99), P999: q(99.9),
		Max: time.Duration(h.Max()),
	}
}

// Window is one second of the measured window: the operations completed in
// it and their latency percentiles.
type Window struct {
	Second int           `json:"second"` // from 0, the window's first second
	Ops    int64         `json:"ops"`
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	P999   time.Duration `json:"p999_ns"`
}

// A window's histogram is coarser than the run's (two significant digits,
// from a microsecond): a run keeps one per goroutine per second.
const (
	windowMin    = int64(time.Microsecond)
	windowDigits = 2
)

func newWindowHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(windowMin, histMax, windowDigits)
}

// recordWindow records one latency in the window of second sec.
func recordWindow(ws []*hdrhistogram.Histogram, sec int, lat time.Duration) []*hdrhistogram.Histogram {
	for len(ws) <= sec {
		ws = append(ws, nil)
	}
	if ws[sec] == nil {
		ws[sec] = newWindowHistogram()
	}
	_ = ws[sec].RecordValue(max(windowMin, min(int64(lat), histMax)))
	return ws
}

// timeline merges every goroutine's windows, second by second.
func timeline(per [][]*hdrhistogram.Histogram) []Window {
	n := 0
	for _, ws := range per {
		n = max(n, len(ws))
	}
	out := make([]Window, 0, n)
	for sec := range n {
		h := newWindowHistogram()
		for _, ws := range per {
			if sec < len(ws) && ws[sec] != nil {
				h.Merge(ws[sec])
			}
		}
		w := Window{Second: sec, Ops: h.TotalCount()}
		if w.Ops > 0 {
			w.P50 = time.Duration(h.ValueAtQuantile(50))
			w.P99 = time.Duration(h.ValueAtQuantile(99))
			w.P999 = time.Duration(h.ValueAtQuantile(99.9))
		}
		out = append(out, w)
	}
	return out
}
