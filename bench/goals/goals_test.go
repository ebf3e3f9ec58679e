package goals_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/goals"
)

// TestMeasureGoalsSmall runs every goal measurement at a tiny size: it
// checks that each produces a figure, not what the figure is. Each
// measurement lasts 250ms: under -race on a loaded 2-core machine a
// 50ms YCSB-B run sometimes completed no operation at all.
func TestMeasureGoalsSmall(t *testing.T) {
	gs, err := goals.Measure(t.Context(), goals.Config{
		Dir: t.TempDir(), Duration: 250 * time.Millisecond, Rounds: 1, Writers: 8, Keys: 3000, StorageKeys: 5000,
	})
	require.NoError(t, err)
	require.Len(t, gs, 19+11, "the goals, then the scaling ones")
	for _, g := range gs {
		assert.Positive(t, g.Ours, g.Name)
		assert.Positive(t, g.Value, g.Name)
		assert.NotEmpty(t, g.Detail)
	}
}
