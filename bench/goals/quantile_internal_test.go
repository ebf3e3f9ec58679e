package goals

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/bench/report"
)

// quantile's median is report.Median's, and its ends are the extremes.
func TestQuantileMedianIsTheOneMedian(t *testing.T) {
	for _, lat := range [][]time.Duration{{1e6}, {1e6, 3e6}, {1e6, 2e6, 4e6}, {1e6, 2e6, 4e6, 8e6}} {
		ms := make([]float64, len(lat))
		for i, d := range lat {
			ms[i] = float64(d) / 1e6
		}
		assert.InDelta(t, report.Median(ms), quantile(lat, 0.5), 1e-9, "%v", lat)
		assert.InDelta(t, ms[0], quantile(lat, 0), 1e-9)
		assert.InDelta(t, ms[len(ms)-1], quantile(lat, 1), 1e-9)
	}
	assert.Zero(t, quantile(nil, 0.5))
}
