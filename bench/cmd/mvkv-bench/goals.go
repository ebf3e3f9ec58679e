package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/mvkv/mvkv/bench/goals"
)

// runGoals measures the performance goals side by side with bbolt and
// prints each figure, its reference, the ratio and whether it is met.
func runGoals(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	cfg := goals.Config{Dir: o.dir, StorageKeys: o.goalKeys, ValueSize: o.wc.ValueSize, Only: o.goalOnly, Rounds: o.rounds}
	if o.durationSet && o.duration > 0 {
		cfg.Duration = o.duration
	}
	if o.wc.Records > 0 {
		cfg.Keys = o.wc.Records
	}
	if len(o.threads) > 0 && o.threadsSet {
		cfg.Writers = o.threads[0]
	}
	if o.progress {
		cfg.Progress = func(s string) { fmt.Fprintf(stderr, "measuring %s...\n", s) }
	}
	goals, err := goals.Measure(ctx, cfg)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(goals)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\tmvkv\treference\tvalue\ttarget\tmet\tdetail")
	for _, g := range goals {
		ref, target, met := "-", "report", "-"
		if g.Theirs > 0 {
			ref = num(g.Theirs)
		}
		if g.Target > 0 {
			op := "≥ "
			if g.AtMost {
				op = "≤ "
			}
			target = op + num(g.Target)
			met = map[bool]string{true: "yes", false: "MISSED"}[g.Met]
			if g.Unjudged != "" {
				met = "n/a"
				g.Detail = g.Unjudged + "; " + g.Detail
			}
		}
		value := num(g.Value)
		if g.Theirs > 0 {
			value = strconv.FormatFloat(g.Value, 'f', 2, 64) + "×"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t%s\n", g.Name, num(g.Ours), g.Unit, ref, value, target, met, g.Detail)
	}
	return tw.Flush()
}

func num(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
