package crossengine_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/bench/crossengine"
	"github.com/mvkv/mvkv/internal/browser"
)

var (
	update  = flag.Bool("update", false, "rewrite the README's cross-engine anomaly table from this run")
	htmlDir = flag.String("html", "", "write the page of every run on every engine, crossengine.html, into this directory")
)

const (
	readmePath  = "../../README.md"
	beginMarker = "<!-- hermitage:begin -->"
	endMarker   = "<!-- hermitage:end -->"
)

// hermitage is what Hermitage (github.com/ept/hermitage)
// published for PostgreSQL, by the lesson that tells the same anomaly:
// whether it is possible at read committed, repeatable read, serializable.
var hermitage = map[string][3]bool{
	"TestDirtyWrite":                  {false, false, false}, // G0
	"TestDirtyReadAborted":            {false, false, false}, // G1a
	"TestDirtyReadIntermediate":       {false, false, false}, // G1b
	"TestDirtyReadCircular":           {false, false, false}, // G1c
	"TestObservedTransactionVanishes": {false, false, false}, // OTV
	"TestPhantom":                     {true, false, false},  // PMP
	"TestLostUpdate":                  {true, false, false},  // P4
	"TestReadSkew":                    {true, false, false},  // G-single
	"TestReadSkewPredicate":           {true, false, false},  // G-single, predicate read
	"TestWriteSkew":                   {true, true, false},   // G2-item
	"TestWriteSkewRange":              {true, true, false},   // G2
}

// TestMatrix runs every lesson on every engine at every level (mvkv,
// PostgreSQL, etcd; an engine whose server cannot be had is left out),
// prints the timelines of the other engines with -v, checks PostgreSQL
// against Hermitage and the strongest levels against what they promise,
// and checks that the README carries the table (only when every engine
// ran). With -update it rewrites the README's copy.
func TestMatrix(t *testing.T) {
	ts := targets(t)
	results := make([][]*anomalies.Result, len(ts))
	var wg sync.WaitGroup
	var printMu sync.Mutex
	for i, tg := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, a := range anomalies.Catalog() {
				r, err := a.RunOn(tg, nil)
				if !assert.NoError(t, err) {
					return
				}
				results[i] = append(results[i], r)
				if testing.Verbose() && tg.Engine != "mvkv" {
					printMu.Lock()
					fmt.Println(crossengine.Report(r, tg.Engine))
					printMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var all []*anomalies.Result
	for _, rs := range results {
		all = append(all, rs...)
	}
	for i, tg := range ts {
		for _, r := range results[i] {
			a := r.Anomaly
			if want, ok := hermitage[a.Test]; ok && tg.Engine == "postgres" {
				col := pgLevel(tg.Level)
				assert.Equal(t, want[col], r.Happened, "%s at %s: Hermitage says possible=%v; %s", a.Name, tg.Name(), want[col], r.Evidence)
			}
			// Serializable keeps its promise on mvkv and PostgreSQL. The
			// STM's range hole is asserted, so that a change shows.
			if !a.Fix && tg.Level == "serializable" {
				assert.False(t, r.Happened, "%s at %s: %s", a.Name, tg.Name(), r.Evidence)
			}
			if tg.Engine == "etcd" && strings.HasPrefix(tg.Level, "Serializable") {
				assert.Equal(t, a == anomalies.WriteSkewRange, r.Happened, "%s at %s: %s", a.Name, tg.Name(), r.Evidence)
			}
		}
	}
	for _, r := range all {
		// The dependency graph is computed from each engine's recorded
		// history: what went wrong and was committed left a cycle (etcd's
		// RepeatableReads shows a reader a skewed state, then refuses its
		// commit), and what serializable committed has none (but the STM's
		// range hole).
		g, at := r.Outcome.Dependencies(), r.Anomaly.Test+" at "+r.Outcome.Target
		if r.Happened && !r.Anomaly.SnapshotOnly && len(g.Aborted) == 0 {
			assert.False(t, g.Serializable(), "%s went wrong without a dependency cycle: %s", at, g.Summary())
		}
		if strings.HasSuffix(r.Outcome.Target, "serializable") || strings.Contains(r.Outcome.Target, "etcd Serializable") && r.Anomaly != anomalies.WriteSkewRange {
			assert.True(t, g.Serializable(), "%s committed a cycle: %s", at, g.Summary())
		}
	}
	matrix := crossengine.Matrix(ts, all)
	if testing.Verbose() {
		fmt.Println(matrix)
	}
	checkPage(t, ts, all)
	if pg == nil || etcd == nil {
		t.Logf("README not checked: not every engine ran (%s)", strings.TrimSpace(pgSkip+" "+etcdSkip))
		return
	}
	section := readmeSection(matrix)
	readme, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(readmePath, replaceSection(readme, section), 0o644))
		return
	}
	_, rest, ok := bytes.Cut(readme, []byte(beginMarker))
	got, _, ok2 := bytes.Cut(rest, []byte(endMarker))
	require.True(t, ok && ok2, "README.md has no %s ... %s section; run: go test ./bench/crossengine -run TestMatrix -update", beginMarker, endMarker)
	assert.Equal(t, section, string(got), "README.md's cross-engine anomaly section is stale; run: go test ./bench/crossengine -run TestMatrix -update")
}

// pgLevel is the index of the PostgreSQL level named name.
func pgLevel(name string) int {
	for i, l := range crossengine.PostgresLevels {
		if l.Name == name {
			return i
		}
	}
	panic("no PostgreSQL level " + name)
}

func targets(t *testing.T) []anomalies.Target {
	var ts []anomalies.Target
	for _, l := range anomalies.Levels {
		ts = append(ts, anomalies.MVKV(l, t.TempDir()))
	}
	if pg != nil {
		ts = append(ts, pg.Targets()...)
	}
	if etcd != nil {
		ts = append(ts, etcd.Targets()...)
	}
	return ts
}

func readmeSection(matrix string) string {
	return `
## The executable Hermitage: mvkv, PostgreSQL and etcd, level by level

The same lessons, unchanged, on the two distributed stores mvkv's users grow into:
PostgreSQL 15 (through pgx; reads are ` + "`SELECT`" + `, ` + "`GetForUpdate`" + ` is ` + "`SELECT ... FOR UPDATE`" + `,
each session a connection) and a three-member etcd cluster (through ` + "`clientv3/concurrency`" + `'s
STM at each of its four levels, driven one step at a time). **yes**: the anomaly
happened; –: it did not; waits, aborts: how it was prevented (a transaction waited for a lock,
or got a serialization failure or a failed STM commit). PostgreSQL's columns agree with
[Hermitage](https://github.com/ept/hermitage)'s published results for every anomaly both test
(G0, G1a–c, OTV, PMP, P4, G-single, G2-item, G2), which the test asserts.

` + matrix + `
What the etcd columns teach, from the STM's source and these runs:

- ` + "`RepeatableReads`" + ` does not read from a snapshot: each key is read at the latest revision the
  first time it is asked for, then cached. So read skew and phantoms are *seen*; the commit then
  fails because a key read has changed, but an application that acted on what it read has
  already acted. In exchange its commit-time check of every key read already prevents lost
  updates, write skew and the read-only anomaly: committed STM transactions are serializable.
- ` + "`Serializable`" + ` and ` + "`SerializableSnapshot`" + ` read one snapshot, taken at the first read (not at the
  start), and prevent everything item-based. The STM has **no range read**: a scan lists keys
  outside the transaction and reads each, and the commit compares keys, never ranges, so the
  double booking (G2 over a range) goes through at every etcd level. Materialize the conflict.
- A transaction that read nothing compares nothing: two blind writers both commit, last one
  wins, even at ` + "`SerializableSnapshot`" + ` (row G0).
- ` + "`GetForUpdate`" + ` has no etcd equivalent; the fix rows use a ` + "`concurrency.Mutex`" + ` per key instead
  (a lease-held lock, no deadlock detection).
- The test client talks to one member. etcd's ` + "`ReadCommitted`" + ` and ` + "`RepeatableReads`" + ` use serializable
  (member-local) reads, which, balanced over several members, can go back in time.

Run ` + "`go test ./bench/crossengine -v -run TestMatrix`" + ` for every timeline with its verdict,
` + "`go test ./bench/crossengine -run TestMatrix -html DIR`" + ` for one page, DIR/crossengine.html, with every
run's timeline and dependency graph drawn, and
` + "`go test ./bench/crossengine -run TestMatrix -update`" + ` to regenerate this section (the test fails
when it is stale, whenever PostgreSQL is installed).
`
}

// replaceSection puts section between the markers, appending the markers
// at the end of the README when they are missing.
func replaceSection(readme []byte, section string) []byte {
	before, rest, ok := bytes.Cut(readme, []byte(beginMarker))
	if !ok {
		return []byte(strings.TrimRight(string(readme), "\n") + "\n\n" + beginMarker + section + endMarker + "\n")
	}
	_, after, _ := bytes.Cut(rest, []byte(endMarker))
	return []byte(string(before) + beginMarker + section + endMarker + string(after))
}

// checkPage writes the page of every run (into -html's directory, or a
// temporary one) and, where Chromium is installed, checks that every
// picture renders and every link resolves.
func checkPage(t *testing.T, ts []anomalies.Target, all []*anomalies.Result) {
	dir := *htmlDir
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	page := filepath.Join(dir, "crossengine.html")
	var buf bytes.Buffer
	require.NoError(t, crossengine.WriteHTML(&buf, ts, all))
	require.NoError(t, os.WriteFile(page, buf.Bytes(), 0o644))
	if *htmlDir != "" {
		t.Log("wrote " + page)
	}
	for _, tg := range ts {
		assert.Contains(t, buf.String(), "<th>"+tg.Name()+"</th>", "a column for %s", tg.Name())
	}
	chromium, err := browser.Find()
	if err != nil {
		t.Log("page not rendered: " + err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dom, err := browser.DumpDOM(ctx, chromium, page, t.TempDir())
	require.NoError(t, err)
	want := strconv.Itoa(2 * len(all))
	for name, v := range map[string]string{
		"data-pictures": want, "data-pictures-rendered": want, "data-links-broken": "0",
	} {
		got, ok := browser.Attr(dom, name)
		assert.True(t, ok, "the page's script did not set %s", name)
		assert.Equal(t, v, got, name)
	}
}
