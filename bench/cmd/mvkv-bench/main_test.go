package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench"
)

func TestJSONOutputParses(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{
		"-json", "-workload", "bank,ycsb-b", "-engines", "mvkv,bbolt", "-levels", "snapshot,serializable",
		"-threads", "2", "-duration", "100ms", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(),
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	var results []bench.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &results), stdout.String())
	// mvkv at two levels, bbolt at serializable plus one skipped row, per workload.
	require.Len(t, results, 2*4)
	for _, r := range results {
		if r.Skipped != "" {
			assert.Equal(t, "bbolt", r.Engine)
			assert.Equal(t, "snapshot", r.Level)
			continue
		}
		assert.Positive(t, r.Ops, "%s %s %s", r.Workload, r.Engine, r.Level)
		assert.False(t, r.Durable)
		assert.True(t, r.Invariant.Holds, r.Invariant.Detail)
	}
	assert.Empty(t, stderr.String(), "no progress line when stderr is not a terminal")
}

func TestCSVAndPlots(t *testing.T) {
	var stdout, stderr bytes.Buffer
	plots := filepath.Join(t.TempDir(), "plots")
	err := run(context.Background(), []string{
		"-csv", "-workload", "hotkey", "-hot-keys", "1,8", "-engines", "mvkv", "-levels", "snapshot",
		"-threads", "1,2", "-duration", "50ms", "-warmup", "0s", "-durable=false", "-dir", t.TempDir(), "-plot", plots,
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	rows, err := csv.NewReader(&stdout).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 1+2*2) // header, 2 hot-key counts × 2 thread counts
	entries, err := os.ReadDir(plots)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Contains(t, names, "contention-hotkey-abort-rate.svg")
	assert.Contains(t, names, "threads-hotkey-hot-keys8-throughput.svg")
}

func TestTableIsTheDefaultOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-workload", "writeskew", "-engines", "mvkv", "-levels", "snapshot",
		"-threads", "2", "-duration", "50ms", "-durable=false", "-dir", t.TempDir()}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	assert.Contains(t, stdout.String(), "ops/s")
	assert.Contains(t, stdout.String(), "writeskew")
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-workload", "nope"},
		{"-engines", "rocksdb"},
		{"-levels", "chaos"},
		{"-threads", "0"},
		{"-json", "-csv"},
		{"stray"},
		{"-plot-format", "gif", "-plot", "x", "-duration", "1ms", "-workload", "ycsb-c", "-engines", "mvkv", "-levels", "snapshot"},
	} {
		var stdout, stderr bytes.Buffer
		args = append(args, "-dir", t.TempDir())
		err := run(context.Background(), args, &stdout, &stderr)
		assert.Error(t, err, "%q", args)
	}
	var stdout, stderr bytes.Buffer
	assert.ErrorIs(t, run(context.Background(), []string{"-h"}, &stdout, &stderr), flag.ErrHelp)
	assert.Contains(t, stderr.String(), "-workload")
}
