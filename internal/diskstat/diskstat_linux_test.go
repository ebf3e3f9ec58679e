package diskstat

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForCountsWhatReachesTheDisk: a synced megabyte shows in the
// device's count (where the directory's file system has a device).
func TestForCountsWhatReachesTheDisk(t *testing.T) {
	dir := t.TempDir()
	dev := For(dir)
	if dev == nil {
		t.Skip("no block device in /proc/diskstats for " + dir + " (tmpfs or an overlay): nothing to count")
	}
	before, ok := dev.Read()
	require.True(t, ok)
	f, err := os.Create(filepath.Join(dir, "mb"))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	after, ok := dev.Read()
	require.True(t, ok)
	assert.GreaterOrEqual(t, after-before, int64(1<<20), "the synced megabyte reached the device")

	var none Counter
	_, ok = none.Read()
	assert.False(t, ok, "no counter, no count")
}
