package mvcc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Open's errors read well to someone who just tried it: each names the
// path once, the directory when that is what is missing, and says what a
// negative LockTimeout did.
func TestOpenErrorMessages(t *testing.T) {
	dir := t.TempDir()

	path := filepath.Join(dir, "held.db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	defer db.Close()
	_, err = mvcc.Open(path, &mvcc.Options{LockTimeout: -1})
	require.ErrorIs(t, err, mvcc.ErrLocked)
	assert.NotContains(t, err.Error(), "-1ns")
	assert.Contains(t, err.Error(), "did not wait")

	missing := filepath.Join(dir, "no", "such", "dir")
	_, err = mvcc.Open(filepath.Join(missing, "x.db"), nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), ".tmp-", "the temporary file is no name the caller knows")
	assert.Contains(t, err.Error(), missing)
	assert.NotContains(t, err.Error(), "\n")

	if os.Geteuid() == 0 {
		t.Skip("root reads any file: no permission error to see")
	}
	unreadable := filepath.Join(dir, "unreadable.db")
	require.NoError(t, os.WriteFile(unreadable, nil, 0o000))
	_, err = mvcc.Open(unreadable, nil)
	require.ErrorIs(t, err, os.ErrPermission)
	assert.Equal(t, 1, strings.Count(err.Error(), unreadable), err.Error())

	closed := filepath.Join(dir, "closed")
	require.NoError(t, os.Mkdir(closed, 0o500))
	_, err = mvcc.Open(filepath.Join(closed, "x.db"), nil)
	require.ErrorIs(t, err, os.ErrPermission)
	assert.NotContains(t, err.Error(), ".tmp-")
}
