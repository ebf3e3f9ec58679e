//go:build linux

package mvcc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const envDiskFullChild = "MVKV_FAULT_DISKFULL_DIR"

// TestFaultDiskFull makes bbolt itself fail: a child process lowers its
// file size limit (RLIMIT_FSIZE) so that growing the database file fails
// with EFBIG, as on a full disk. This is a real failure inside bbolt's
// commit, not an injected one. It runs in a child process because the
// limit is process-wide.
func TestFaultDiskFull(t *testing.T) {
	if os.Getenv(envDiskFullChild) != "" {
		t.Skip("this is the child process")
	}
	runChildTest(t, "TestFaultDiskFullChild", envDiskFullChild)
}

// runChildTest runs the test child in a child process of the test binary,
// with the environment variable env naming a fresh directory, and fails t
// unless it passes. A hang fails it in minutes, with the child's stacks.
func runChildTest(t *testing.T, child, env string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1", "-test.v", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), env+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: "+child)
}

func TestFaultDiskFullChild(t *testing.T) {
	dir := os.Getenv(envDiskFullChild)
	if dir == "" {
		t.Skip("runs only as TestFaultDiskFull's child process")
	}
	signal.Ignore(syscall.SIGXFSZ) // a write past the limit then fails with EFBIG
	path := filepath.Join(dir, "full.db")
	db, err := Open(path, nil)
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, faultPut(db, fmt.Sprintf("acked/%d", i), "v"))
	}
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	limit := old
	limit.Cur = uint64(fi.Size())
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit))

	// Commit 1 MiB values until the file must grow.
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	var failErr error
	var acked []string
	for i := 0; i < 64 && failErr == nil; i++ {
		key := fmt.Sprintf("big/%d", i)
		if err := faultPut(db, key, string(big)); err != nil {
			failErr = err
			break
		}
		acked = append(acked, key)
	}
	require.Error(t, failErr, "the file never had to grow")
	t.Logf("after %d acknowledged 1 MiB commits: %v", len(acked), failErr)
	// bbolt formats the cause with %s: compare the message.
	assert.Contains(t, failErr.Error(), syscall.EFBIG.Error())
	assert.NotErrorIs(t, failErr, ErrConflict)
	assert.NotErrorIs(t, failErr, ErrClosed, "nothing was written: the DB must stay usable")

	// Space comes back: the same DB, not reopened, goes on.
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	require.NoError(t, faultPut(db, "after", "1"), "the DB is usable once space is back")
	for _, k := range acked {
		assert.Len(t, faultGet(t, db, k), len(big))
	}
	require.NoError(t, db.Close())
	boltCheck(t, path)

	db, err = Open(path, nil)
	require.NoError(t, err)
	defer db.Close()
	for i := range 10 {
		assert.Equal(t, "v", faultGet(t, db, fmt.Sprintf("acked/%d", i)))
	}
	for _, k := range acked {
		assert.Len(t, faultGet(t, db, k), len(big), k)
	}
	assert.Empty(t, faultGet(t, db, fmt.Sprintf("big/%d", len(acked))), "the failed commit is absent")
	assert.Equal(t, "1", faultGet(t, db, "after"))
}
