//go:build unix

package mvcc

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// assertUnlocked fails t if some handle (bbolt's flock) still holds path.
func assertUnlocked(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB), "a failed Open left the file locked")
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
}
