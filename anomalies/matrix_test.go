package anomalies_test

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

var (
	update  = flag.Bool("update", false, "rewrite the README's anomaly table and pictures from this run")
	htmlDir = flag.String("html", "", "write the lessons' page, anomalies.html, into this directory")
)

const (
	readmePath  = "../README.md"
	picturesDir = "../docs/anomalies" // the README's pictures, from README.md
	beginMarker = "<!-- anomalies:begin -->"
	endMarker   = "<!-- anomalies:end -->"
)

// TestMatrix runs every lesson at every level (reusing the runs of the
// other tests), prints the table anomaly × level, checks that the levels
// are ordered (what a level prevents, every stronger level prevents too),
// and checks that the README carries the current table. With -update it
// rewrites the README's copy instead; with -html DIR it also writes the
// page of every lesson with its pictures, DIR/anomalies.html.
func TestMatrix(t *testing.T) {
	var all []*anomalies.Result
	for _, a := range append(anomalies.Catalog(), anomalies.Deadlock) {
		prevented := false
		for _, level := range anomalies.Levels {
			r := recordedOrRun(t, a, level)
			all = append(all, r)
			if !a.Fix {
				assert.False(t, prevented && r.Happened,
					"%s is prevented at a weaker level than %v but happens there: %s", a.Name, level, r.Evidence)
			}
			prevented = prevented || !r.Happened
		}
		if !a.Fix {
			assert.False(t, all[len(all)-1].Happened, "serializable must prevent %s", a.Name)
		}
		r := recordedOrRunLocking(t, a)
		all = append(all, r)
		assert.Equal(t, a.SnapshotOnly, r.Happened, "serializable by locking must prevent %s (unless it is a snapshot's promise only)", a.Name)
	}
	matrix := anomalies.Matrix(all)
	if testing.Verbose() {
		fmt.Println(matrix)
	}
	if *htmlDir != "" {
		page, err := anomalies.WriteHTMLFile(*htmlDir, "anomalies.html", all, pageOptions)
		require.NoError(t, err)
		t.Log("wrote " + page)
	}

	sample := recordedOrRun(t, anomalies.LostUpdate, mvcc.ReadCommitted)
	section := readmeSection(matrix, sample.Report())
	readme, err := os.ReadFile(readmePath)
	require.NoError(t, err)
	pictures := readmePictures(t)
	if *update {
		require.NoError(t, os.MkdirAll(picturesDir, 0o755))
		for name, svg := range pictures {
			require.NoError(t, os.WriteFile(filepath.Join(picturesDir, name), []byte(svg), 0o644))
		}
		require.NoError(t, os.WriteFile(readmePath, replaceSection(readme, section), 0o644))
		return
	}
	for name, svg := range pictures {
		got, err := os.ReadFile(filepath.Join(picturesDir, name))
		if assert.NoError(t, err, "the README's picture %s; run: go test ./anomalies -run TestMatrix -update", name) {
			if svg != string(got) { // not assert.Equal: a picture's diff is kilobytes of coordinates
				t.Errorf("docs/anomalies/%s is stale; run: go test ./anomalies -run TestMatrix -update", name)
			}
		}
	}
	got, ok := currentSection(readme)
	require.True(t, ok, "README.md has no %s ... %s section; run: go test ./anomalies -run TestMatrix -update", beginMarker, endMarker)
	if got != section {
		t.Errorf("README.md's anomaly section is stale; run: go test ./anomalies -run TestMatrix -update\n%s",
			lineDiff(got, section))
	}
}

// readmePictures are the pictures the README shows, by file name: write
// skew at snapshot, its timeline and the rw-rw cycle of its dependency
// graph. The run has no waits, so the pictures do not depend on timing.
func readmePictures(t *testing.T) map[string]string {
	r := recordedOrRun(t, anomalies.WriteSkew, mvcc.Snapshot)
	return map[string]string{
		"write-skew-snapshot-timeline.svg": anomalies.TimelineSVG(r.Outcome),
		"write-skew-snapshot-graph.svg":    anomalies.GraphSVG(r.Outcome),
	}
}

// lineDiff lists the lines only in the README ("-") and only in the
// generated text ("+").
func lineDiff(readme, generated string) string {
	in := func(lines []string, l string) bool { return slices.Contains(lines, l) }
	a, b := strings.Split(readme, "\n"), strings.Split(generated, "\n")
	var out strings.Builder
	for _, l := range a {
		if !in(b, l) {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range b {
		if !in(a, l) {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// TestCatalogNamesItsTests checks that every lesson's Test (the README's
// "test" column) is a test function of this package.
func TestCatalogNamesItsTests(t *testing.T) {
	fset := token.NewFileSet()
	tests := make(map[string]bool)
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				tests[fn.Name.Name] = true
			}
		}
	}
	for _, a := range append(anomalies.Catalog(), anomalies.Deadlock) {
		assert.True(t, tests[a.Test], "%s names %s, which is not a test here", a.Name, a.Test)
	}
}

// readmeSection is the README text between the markers.
func readmeSection(matrix, sample string) string {
	return `
## Anomalies, level by level

Every classic concurrency anomaly is a test in [anomalies/](anomalies/) that replays it as a
scripted interleaving, at each isolation level, and checks what must happen there.
` + "`go test ./anomalies -v -run 'TestWriteSkew$'`" + ` prints the lesson it names: the story, then
each level's run as a timeline (one column per transaction, rows in execution order) with the
data left behind, the dependency cycle if the history has one, and a verdict naming the promise
kept or broken, then, once, the explanation of why the levels differ. In the table, computed
from those runs: **possible**, the run showed the anomaly; prevented, it did not happen
(waits: a transaction waited for a lock; deadlock victim: one got ` + "`ErrDeadlock`" + `; aborts: one
got ` + "`ErrConflict`" + ` otherwise).
Rows in italics show the remedies applied by hand. The last row is no anomaly but the price
of locking: a lock cycle, broken at every level by aborting one waiter (the deadlock victim).
The last column, ` + "`serializable-locking`" + `, is serializable by strict two-phase locking with
key-range locks (` + "`TxOptions{Isolation: Serializable, Locking: true}`" + `): it prevents every
anomaly by waits and deadlock victims instead of SSI's aborts, except interference, a promise of
snapshots that a serializable history without snapshots may break; its timelines show which
transaction's end let a blocked step resume.

P4C, the lost update through a cursor, has no row: mvkv's only cursor is ` + "`Scan`" + `, which locks
nothing, so reading a row through it and writing the row back is the plain lost update
(` + "`TestLostUpdate`" + `); the remedy cursor stability brings, a lock on the row read until it is
written, is ` + "`GetForUpdate`" + ` (` + "`TestLostUpdateFixedWithGetForUpdate`" + `).

` + matrix + `
Each run can be seen as well as read. Write skew at snapshot: on the left the timeline, one
lane per transaction in execution order, each read and write with its key and value; on the
right the dependency graph of the committed transactions that internal/elle's history checker
finds in the recorded history. Each doctor's transaction read the row the other then
overwrote: two rw anti-dependencies (dashed) that close a cycle, G2-item, so no serial order
explains the history, and nothing at snapshot looks for it (serializable's SSI does):

<p><img src="docs/anomalies/write-skew-snapshot-timeline.svg" alt="Write skew at snapshot: timeline" height="300">
<img src="docs/anomalies/write-skew-snapshot-graph.svg" alt="Write skew at snapshot: the rw-rw dependency cycle" height="300"></p>

` + "`go test ./anomalies -run TestMatrix -html DIR`" + ` writes every lesson this way on one
self-contained page, DIR/anomalies.html: the table, each cell linking to its run's story,
timeline, graph, verdict and explanation (waits show as dashed gaps naming whom they waited
for). Regenerate this section and its pictures with
` + "`go test ./anomalies -run TestMatrix -update`" + ` (a test fails when they are stale).
One lesson as it prints,
` + "`go test ./anomalies -v -run 'TestLostUpdate$/read-committed'`" + ` (less the ` + "`=== RUN`" + ` and
` + "`--- PASS`" + ` lines of go test itself):

` + "```text\n" + sample + "```" + `
`
}

func currentSection(readme []byte) (string, bool) {
	_, rest, ok := bytes.Cut(readme, []byte(beginMarker))
	if !ok {
		return "", false
	}
	section, _, ok := bytes.Cut(rest, []byte(endMarker))
	return string(section), ok
}

// replaceSection puts section between the markers, appending the markers
// at the end of the README when they are missing.
func replaceSection(readme []byte, section string) []byte {
	before, rest, ok := bytes.Cut(readme, []byte(beginMarker))
	if !ok {
		out := strings.TrimRight(string(readme), "\n") + "\n\n" + beginMarker + section + endMarker + "\n"
		return []byte(out)
	}
	_, after, ok := bytes.Cut(rest, []byte(endMarker))
	if !ok {
		after = nil
	}
	var b bytes.Buffer
	b.Write(before)
	b.WriteString(beginMarker)
	b.WriteString(section)
	b.WriteString(endMarker)
	b.Write(after)
	return b.Bytes()
}
