package goals

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeviceWritesCountsWhatReachesTheDisk: a synced megabyte shows in the
// device's count (where the directory's file system has a device).
func TestDeviceWritesCountsWhatReachesTheDisk(t *testing.T) {
	dir := t.TempDir()
	dev := deviceWrites(dir)
	if dev == nil {
		t.Skip("no block device in /proc/diskstats for " + dir + " (tmpfs or an overlay): nothing to count")
	}
	before, ok := dev.read()
	require.True(t, ok)
	f, err := os.Create(filepath.Join(dir, "mb"))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	after, ok := dev.read()
	require.True(t, ok)
	assert.GreaterOrEqual(t, after-before, int64(1<<20), "the synced megabyte reached the device")

	var none deviceCounter
	_, ok = none.read()
	assert.False(t, ok, "no counter, no count")
}
