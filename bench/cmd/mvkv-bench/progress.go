package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mvkv/mvkv/bench/runner"
)

// isTerminal reports whether w is a terminal: the live line is drawn only
// there, never into a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// plainEvery is how often progress is written without a terminal: often
// enough that a log shows the run is alive, rarely enough to stay short.
const plainEvery = 5 * time.Second

// progress tells where the whole invocation stands: "run 7/84", the run's
// cell and round, its rate, and the time left. On a terminal it is one
// live line; elsewhere a plain line every plainEvery and one at the end.
type progress struct {
	w        io.Writer // nil: quiet
	live     bool
	bar      *progressbar.ProgressBar
	total    int
	finished int
	perRun   time.Duration // expected time of one run before any has ended
	start    time.Time
	lastLine time.Time
	round    string
	cur      runner.Progress
}

func newProgress(on bool, w io.Writer, total int, perRun time.Duration) *progress {
	p := &progress{total: total, perRun: perRun, start: time.Now()}
	if on {
		p.w, p.live = w, isTerminal(w)
	}
	if p.live {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(false),
		)
	}
	return p
}

// left estimates the time to the end from the runs finished so far (each
// run also opens and loads a database, which the settings do not show).
func (p *progress) left() time.Duration {
	per := p.perRun
	if p.finished > 0 {
		per = time.Since(p.start) / time.Duration(p.finished)
	}
	return (per * time.Duration(p.total-p.finished)).Round(time.Second)
}

func (p *progress) begin(round string) {
	p.round = round
	p.cur = runner.Progress{}
}

func (p *progress) update(s runner.Progress) {
	if p.w == nil {
		return
	}
	p.cur = s
	if p.live {
		p.bar.Describe(p.line())
		_ = p.bar.Set(p.finished)
	}
}

func (p *progress) line() string {
	s := p.cur
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Ops) / s.Elapsed.Seconds()
	}
	what := fmt.Sprintf("%.0f ops/s", rate)
	if s.Warmup {
		what = "warming up"
	}
	return fmt.Sprintf("run %d/%d %s %s %s %s: %s, about %v left",
		min(p.finished+1, p.total), p.total, s.Workload, s.Engine, s.Level, p.round, what, p.left())
}

func (p *progress) end(r runner.Result) {
	p.finished++
	if p.w == nil || p.live {
		return
	}
	if now := time.Now(); now.Sub(p.lastLine) >= plainEvery || p.finished == p.total {
		p.lastLine = now
		fmt.Fprintf(p.w, "run %d/%d (%s %s %s %s: %.0f ops/s), about %v left\n",
			p.finished, p.total, r.Workload, r.Engine, r.Level, p.round, r.Throughput, p.left())
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
