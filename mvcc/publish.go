package mvcc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Files appear complete or not at all.
//
// A new database and a compacted copy are written to a temporary file next
// to their destination, synced, and only then linked to their name, which
// must not exist yet (a hard link, unlike a rename, never replaces a file
// someone else created meanwhile). A crash at any moment leaves either no
// file under the name or a complete one; at worst a temporary file stays
// behind, named after the destination with a ".tmp-" suffix, which
// nothing opens and which may be removed.

// errExists says a destination already exists.
var errExists = errors.New("already exists")

// writeNew creates the bbolt file dst by running fill on a temporary one
// (opened with opts) and publishing it. It fails with errExists when dst
// exists, before or after the work.
func writeNew(dst string, opts *bolt.Options, fill func(*bolt.DB) error) (err error) {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s %w", dst, errExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The temporary file is no name the caller knows: what failed
			// is creating a file in dst's directory (missing, or not
			// writable).
			return &fs.PathError{Op: "directory", Path: filepath.Dir(dst), Err: pe.Err}
		}
		return err
	}
	tmp := f.Name()
	_ = f.Close()
	defer func() {
		if rerr := os.Remove(tmp); err == nil && rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}()
	bdb, err := bolt.Open(tmp, 0o600, opts)
	if err != nil {
		return err
	}
	if err := fill(bdb); err != nil {
		_ = bdb.Close()
		return err
	}
	if err := bdb.Close(); err != nil {
		return err
	}
	if !opts.NoSync {
		if err := syncPath(tmp); err != nil {
			return err
		}
	}
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s %w", dst, errExists)
		}
		// A file system without hard links: rename, after one more look
		// (a file created in between would be replaced).
		if _, serr := os.Lstat(dst); serr == nil {
			return fmt.Errorf("%s %w", dst, errExists)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
	}
	if !opts.NoSync {
		return syncPath(filepath.Dir(dst))
	}
	return nil
}

// syncPath fsyncs a file or a directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close() //nolint:errcheck // opened for reading
	return f.Sync()
}

// createDB writes a new, empty mvkv database at path, unless a file is
// there already (then it does nothing: Open opens that one).
func createDB(path string, o Options) error {
	err := writeNew(path, &bolt.Options{NoSync: o.NoSync, FreelistType: bolt.FreelistMapType}, func(bdb *bolt.DB) error {
		return bdb.Update(initLayout)
	})
	if errors.Is(err, errExists) {
		return nil
	}
	return err
}

// initLayout creates mvkv's buckets in an empty bbolt file.
func initLayout(btx *bolt.Tx) error {
	meta, err := btx.CreateBucket(metaBucket)
	if err != nil {
		return err
	}
	for _, b := range [][]byte{dataBucket, logBucket} {
		if _, err := btx.CreateBucket(b); err != nil {
			return err
		}
	}
	if err := meta.Put(formatKey, formatValue); err != nil {
		return err
	}
	for _, k := range [][]byte{keysKey, tsKey, appliedKey} {
		if err := putMeta(meta, k, 0); err != nil {
			return err
		}
	}
	return nil
}
