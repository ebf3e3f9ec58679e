package verify_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

var levels = []mvcc.Level{mvcc.ReadCommitted, mvcc.Snapshot, mvcc.Serializable}

// scale sizes a test's number of rounds: n by default, half with -short,
// MVKV_VERIFY_SCALE times n when that is set (long runs).
func scale(n int) int {
	if s, err := strconv.Atoi(os.Getenv("MVKV_VERIFY_SCALE")); err == nil && s > 0 {
		return n * s
	}
	if testing.Short() {
		return max(1, n/2)
	}
	return n
}

func openDB(t *testing.T) *mvcc.DB {
	t.Helper()
	db, err := mvcc.Open(filepath.Join(t.TempDir(), "verify.db"), &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// visDir is where porcupine visualizations go: MVKV_PORCUPINE_DIR, or
// mvkv-porcupine in the system temporary directory. They are kept after
// the test so that a failure can be looked at.
func visDir() string {
	if d := os.Getenv("MVKV_PORCUPINE_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "mvkv-porcupine")
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
