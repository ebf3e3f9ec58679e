package report

import (
	"context"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mvkv/mvkv/bench/runner"
)

// Meta is the context a result needs to be read later or elsewhere: what
// was run, with which settings, on what, from which commit, when. Every
// output (table, JSON, CSV, HTML) carries it.
type Meta struct {
	Date       time.Time `json:"date"`
	Commit     string    `json:"commit,omitempty"` // "-dirty" when the work tree had changes
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	// Args is the command line; Settings every setting in effect, flags
	// left at their defaults included.
	Args     []string          `json:"args,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
}

// NewMeta describes this process and machine now.
func NewMeta(args []string, settings map[string]string) Meta {
	return Meta{
		Date: time.Now().UTC().Truncate(time.Second), Commit: commit(),
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Args: args, Settings: settings,
	}
}

// commit is the VCS revision the binary was built from; `go run` and `go
// test` stamp none, so it then asks git about the working directory.
func commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			return withDirty(rev, dirty)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	status, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	return withDirty(strings.TrimSpace(string(out)), err == nil && len(status) > 0)
}

func withDirty(rev string, dirty bool) string {
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// Report is everything one invocation measured: its context, one Summary
// per cell, and every round's runner.Result.
type Report struct {
	Meta      Meta            `json:"meta"`
	Summaries []Summary       `json:"summaries"`
	Ties      []Tie           `json:"ties,omitempty"`
	Runs      []runner.Result `json:"runs"`
}

// New summarizes results.
func New(meta Meta, results []runner.Result) Report {
	if results == nil {
		results = []runner.Result{}
	}
	sums := Summarize(results)
	return Report{Meta: meta, Summaries: sums, Ties: Ties(sums), Runs: results}
}

// Broken lists the cells whose invariant failed where the level promised
// it.
func (r Report) Broken() []Summary {
	var out []Summary
	for _, s := range r.Summaries {
		if s.Invariant.Broken() {
			out = append(out, s)
		}
	}
	return out
}

// singleRound reports whether some cell ran once: it has no spread.
func (r Report) singleRound() bool {
	for _, s := range r.Summaries {
		if s.Skipped == "" && s.Rounds == 1 {
			return true
		}
	}
	return false
}
