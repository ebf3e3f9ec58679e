package anomalies_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/mvcc"
)

// wellFormed parses svg as XML to its end.
func wellFormed(t *testing.T, svg, what string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err, "%s is not well-formed XML", what)
	}
}

// TestPictures checks every run's pictures (reusing the lessons' runs):
// well-formed SVG; a lane per session and a labelled mark per step in the
// timeline, every wait naming whom it waited for; in the graph an arrow per
// dependency, the cycle's in red, and the graph's finding in words.
func TestPictures(t *testing.T) {
	cyclePath := regexp.MustCompile(`<path d="M[^"]*Q[^"]*" fill="none" stroke="#d62728"`)
	edgePath := regexp.MustCompile(`<path d="M[^"]*Q[^"]*" fill="none"`)
	for _, r := range allResults(t) {
		o, at := r.Outcome, r.Anomaly.Test+" at "+r.Outcome.Target
		tl := anomalies.TimelineSVG(o)
		wellFormed(t, tl, "the timeline of "+at)
		for _, s := range o.Sessions {
			assert.Contains(t, tl, ">"+s+"</text>", "%s: a lane for %s", at, s)
		}
		for _, e := range o.Events {
			if e.Kind != anomalies.Cleanup {
				assert.Contains(t, tl, fmt.Sprintf(">%d</text>", e.Seq), "%s: row %d", at, e.Seq)
			}
			if e.Kind == anomalies.Resumed && e.By != "" {
				assert.Contains(t, tl, "(waited for "+e.By+")", at)
			}
		}
		g := o.Dependencies()
		svg := anomalies.GraphSVG(o)
		wellFormed(t, svg, "the graph of "+at)
		assert.Len(t, edgePath.FindAllString(svg, -1), len(g.Edges), "%s: an arrow per dependency", at)
		assert.Len(t, cyclePath.FindAllString(svg, -1), len(g.Cycle), "%s: the cycle in red", at)
		for _, e := range g.Edges {
			assert.Contains(t, svg, ">"+e.Kind+"("+e.Key+")</text>", at)
		}
		assert.Contains(t, svg, strings.SplitN(g.Summary(), " ", 3)[1], at)
	}
}

// TestLockingTimelineShowsTheWait draws a run whose step waits: the gap
// names the transaction it waited for, and the rows count in execution
// order.
func TestLockingTimelineShowsTheWait(t *testing.T) {
	r := recordedOrRunLocking(t, anomalies.ReadOnlyAnomaly)
	tl := anomalies.TimelineSVG(r.Outcome)
	assert.Contains(t, tl, ">waits for T2</text>")
	assert.Contains(t, tl, "(waited for T2)")
	assert.Contains(t, tl, "stroke-dasharray", "a dashed gap")
	for i, e := range r.Outcome.Events {
		if e.Kind != anomalies.Cleanup {
			assert.Equal(t, i+1, e.Seq, "rows in execution order")
		}
	}
}

// The dependency graph of a run: write skew at snapshot closes a cycle of
// two anti-dependencies.
func ExampleOutcome_Dependencies() {
	r, err := anomalies.WriteSkew.Run(mvcc.Snapshot, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	g := r.Outcome.Dependencies()
	for _, e := range g.Edges {
		fmt.Println(e)
	}
	fmt.Println(g.CycleKind, g.Serializable())
	// Output:
	// T1 -rw(oncall/bob)-> T2
	// T2 -rw(oncall/alice)-> T1
	// G2-item false
}
