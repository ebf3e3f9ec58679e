package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mvkv/mvkv/bench"
)

// isTerminal reports whether w is a terminal: the live line is drawn only
// there, never into a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws one live line per run: which run, its elapsed share of
// the duration, operations so far and the rate.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	key string
}

func newProgress(on bool, w io.Writer) *progress {
	if !on {
		return &progress{}
	}
	return &progress{w: w}
}

func (p *progress) update(s bench.Progress) {
	if p.w == nil {
		return
	}
	key := s.Workload + "/" + s.Engine + "/" + s.Level
	if s.Warmup {
		key += "/warmup"
	}
	if p.bar == nil || key != p.key {
		p.finishBar()
		max := int64(s.Duration / time.Millisecond)
		if max <= 0 {
			max = -1 // an operation count: a spinner
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetPredictTime(false),
		)
		p.key = key
	}
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Ops) / s.Elapsed.Seconds()
	}
	what := "ops"
	if s.Warmup {
		what = "warm-up"
	}
	p.bar.Describe(fmt.Sprintf("%-10s %-11s %-14s %8d %s %9.0f/s", s.Workload, s.Engine, s.Level, s.Ops, what, rate))
	_ = p.bar.Set64(int64(s.Elapsed / time.Millisecond))
}

func (p *progress) finishBar() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

func (p *progress) done() { p.finishBar() }
