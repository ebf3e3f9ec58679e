package anomalies_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/anomalies"
)

// TestVerdictsAgreeWithTheGraph checks every lesson at every level (reusing
// the lessons' runs): the verdict names the promise the lesson is about,
// as broken where the anomaly happened and kept where it did not; an
// anomaly that breaks an invariant leaves a dependency cycle behind; one
// that breaks only a snapshot's promise is not called wrong and leaves a
// serializable history; and serializable, by SSI or by locking, never
// commits a cycle.
func TestVerdictsAgreeWithTheGraph(t *testing.T) {
	for _, a := range append(anomalies.Catalog(), anomalies.Deadlock) {
		assert.NotEmpty(t, a.Promise, "%s says what it promises", a.Name)
		var rs []*anomalies.Result
		for _, level := range anomalies.Levels {
			rs = append(rs, recordedOrRun(t, a, level))
		}
		rs = append(rs, recordedOrRunLocking(t, a))
		for _, r := range rs {
			v, g, at := r.Verdict(), r.Outcome.Dependencies(), a.Test+" at "+r.Outcome.Target
			switch {
			case r.Happened && a.SnapshotOnly:
				assert.NotContains(t, v, "GOES WRONG", at)
				assert.Contains(t, v, "allowed", at)
				assert.Contains(t, v, "Broken: "+a.Promise, at)
				assert.True(t, g.Serializable(), "%s: %s", at, g.Summary())
			case r.Happened:
				assert.Contains(t, v, "GOES WRONG. Broken: "+a.Promise, at)
				if a != anomalies.Deadlock {
					assert.False(t, g.Serializable(), "%s went wrong without a dependency cycle: %s", at, g.Summary())
				}
			default:
				assert.Contains(t, v, "prevented. Kept: "+a.Promise, at)
			}
			if r.Outcome.Target == "serializable" || r.Outcome.Target == anomalies.Locking {
				assert.True(t, g.Serializable(), "%s committed a cycle: %s", at, g.Summary())
			}
		}
	}
}
