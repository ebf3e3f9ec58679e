package mvcc_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

const envReadOnlyChild = "MVKV_READONLY_CHILD" // the child's: the file to read

// Several processes read one file: while this process holds it open
// read-only, child processes open it read-only too and read it, and one
// that opens it read-write is refused with ErrLocked.
func TestReadOnlySeveralProcesses(t *testing.T) {
	if os.Getenv(envReadOnlyChild) != "" {
		t.Skip("this is a child process")
	}
	path := filepath.Join(t.TempDir(), "db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	ctPut(t, db, "k", "v")
	require.NoError(t, db.Close())

	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	for _, mode := range []string{"ro", "ro", "rw"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReadOnlyChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envReadOnlyChild+"="+path, "MVKV_READONLY_MODE="+mode)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Run(), out.String())
		want := "child: k=v"
		if mode == "rw" {
			want = "child: locked"
		}
		assert.Contains(t, out.String(), want)
	}
	assert.Equal(t, []string{"k=v"}, dump(t, ro))
}

// TestReadOnlyChild opens the file TestReadOnlySeveralProcesses gives it
// and prints what it read.
func TestReadOnlyChild(t *testing.T) {
	path := os.Getenv(envReadOnlyChild)
	if path == "" {
		t.Skip("runs only as TestReadOnlySeveralProcesses's child process")
	}
	ro := os.Getenv("MVKV_READONLY_MODE") == "ro"
	db, err := mvcc.Open(path, &mvcc.Options{ReadOnly: ro, LockTimeout: -1})
	if !ro {
		require.ErrorIs(t, err, mvcc.ErrLocked)
		fmt.Println("child: locked")
		return
	}
	require.NoError(t, err)
	fmt.Println("child: " + strings.Join(dump(t, db), ","))
	require.NoError(t, db.Close())
}
