package mvcc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/mvkv/mvkv/internal/boltfile"
)

// Checking a file before bbolt trusts it. What these checks know of
// bbolt's format is in package boltfile.

// checkFile guards bbolt.Open against a truncated file. Opening read-write,
// bbolt walks every page below the high-water mark its meta page names (to
// rebuild the freelist) in a goroutine of its own; a page past the end of
// the file faults there (SIGBUS), where no recover can catch it, and the
// whole process dies. So before bbolt maps the file, read the meta page it
// will pick and check that the file is long enough. A file whose meta pages
// bbolt rejects by itself (bad magic, version or checksum) passes, for
// bbolt to report; so does a missing file, which bbolt creates.
//
// The meta pages are read before the size: a holder writing the file
// concurrently grows it before it writes a meta page naming the new pages,
// and bbolt never shrinks a file, so a live file always passes.
//
// It also reports whether bbolt's open will walk the pages: only when the
// file carries no freelist (written with NoFreelistSync, as mvkv/1 files
// were); mvkv/2 files carry one, and their open reads no data page.
func checkFile(path string) (walks bool, err error) {
	// Opening a named pipe blocks until a writer comes; a directory or a
	// device is no database either. Say so before anything opens it.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		what := "not a regular file"
		switch {
		case fi.IsDir():
			what = "a directory"
		case fi.Mode()&fs.ModeNamedPipe != 0:
			what = "a named pipe"
		case fi.Mode()&fs.ModeDevice != 0:
			what = "a device"
		case fi.Mode()&fs.ModeSocket != 0:
			what = "a socket"
		}
		return false, fmt.Errorf("%w: %s is %s, not a database file", ErrCorrupt, path, what)
	}
	f, err := os.Open(path)
	if err != nil {
		return false, nil // missing (created by bbolt), or an error bbolt reports
	}
	defer f.Close() //nolint:errcheck // opened for reading
	readsRandom(f)
	m, ok := boltfile.ReadMeta(f)
	fi, err := f.Stat()
	if err != nil {
		return false, nil
	}
	switch {
	case ok:
	case fi.Size() > 0 && fi.Size() < 2*4096:
		// bbolt would guess the page size and fail with an error of its
		// own making ("file size too small"): say what it is.
		return false, fmt.Errorf("%w: %s: %d bytes, too short for a database", ErrCorrupt, path, fi.Size())
	default:
		return false, nil
	}
	if need := m.Pgid * uint64(m.PageSize); uint64(fi.Size()) < need {
		return false, fmt.Errorf("%w: %s: truncated: %d bytes, its meta page needs %d", ErrCorrupt, path, fi.Size(), need)
	}
	if m.Freelist == boltfile.NoFreelist {
		return true, nil
	}
	if _, err := boltfile.CheckFreelist(f, m); err != nil {
		// A holder committing meanwhile rewrites the freelist: a live
		// file is left to bbolt's lock wait, not called damaged.
		if again, ok := boltfile.ReadMetaAt(f, int64(m.PageSize)*int64(m.TxID%2)); !ok || again != m {
			return false, nil
		}
		return false, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return false, nil
}

// checkPages guards bbolt.Open against a damaged page. The read-write open
// walks every reachable page in a goroutine of its own (see checkFile),
// where bbolt's assertion on a page that is not what its parent says
// ("page expected to be 12, but self identifies as ...") panics beyond any
// recover and kills the process. A read-only open walks nothing, so the
// same pages are read here first, through a read-only handle and in this
// goroutine, where a fault or a panic becomes ErrCorrupt. Missing and
// empty files pass (bbolt creates them); so does a file bbolt cannot open
// read-only for another reason, for the read-write open to report. The
// handle holds a shared lock: waiting for it past timeout is ErrLocked.
func checkPages(path string, timeout, lockTimeout time.Duration) (err error) {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || !fi.Mode().IsRegular() {
		return nil
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return lockedError(path, lockTimeout)
		}
		return nil
	}
	defer bdb.Close() //nolint:errcheck // opened read-only for the check
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			base, pageSize := mapping(bdb)
			if !boltfile.IsPageCheckPanic(r) && !boltfile.IsPageDecodePanic(r) && !boltfile.IsMappingFault(r, base, fileSize(path), 0, pageSize) && !boltfile.IsBoltFault(r, base) {
				panic(r)
			}
			err = fmt.Errorf("%w: %s: damaged page: %v", ErrCorrupt, path, r)
		}
	}()
	return bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			walkBucket(b)
			return nil
		})
	})
}

// walkBucket visits every page of b and of its nested buckets: a cursor
// going through all keys reads every branch and leaf page.
func walkBucket(b *bolt.Bucket) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				walkBucket(sub)
			}
		}
	}
}

// openBolt is bolt.Open, with a panic from bbolt's page checks or a fault
// in its code (a damaged file's pages read while it opens) turned into
// ErrCorrupt. No code but bbolt's runs inside bolt.Open, and the mapping
// it may have made is not known here: a fault anywhere but at a nil
// pointer is bbolt's reading of the file.
func openBolt(path string, opts *bolt.Options) (bdb *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if !boltfile.IsPageCheckPanic(r) && !boltfile.IsPageDecodePanic(r) && !boltfile.IsBoltFault(r, 0) {
				panic(r)
			}
			bdb, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// treeCheckBudget bounds the pages Open's check of the data and log
// trees reads (256 KiB at 4 KiB pages; with the meta and freelist pages
// and bbolt's own reads, Open reads about 300 KB of a closed file,
// measured by BenchmarkOpen, read together in batches so that a file out
// of the page cache costs a few milliseconds): Open costs the same
// whatever the size of the data. DB.Check reads everything.
const treeCheckBudget = 64

// checkTrees checks the top of bucket B+trees before any read goes
// through them: the bucket directory (bbolt's root bucket), then each
// group of root pages (the log and data buckets', then
// each of the version store's) breadth first from its roots, for at most
// treeCheckBudget pages a group (see boltfile.Walker for what each page
// must be). One walk covers every group, so a page met in two trees (a
// child pointer damaged to name a page of another bucket) fails too when
// both are within the budgets. Trees deeper than the budget reaches are
// checked at the top; reads check what they touch (record checksums,
// names, order, leaf counts), and DB.Check checks all. Called with the
// file locked (by the bbolt handle), so it is at rest.
func checkTrees(path string, groups ...[]uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close() //nolint:errcheck // opened for reading
	readsRandom(f)
	m, ok := boltfile.ReadMeta(f)
	if !ok || m.Freelist == boltfile.NoFreelist {
		return nil
	}
	free, err := boltfile.CheckFreelist(f, m)
	if err != nil {
		return err
	}
	w := boltfile.NewWalker(f, m, free)
	// First the bucket directory (the root bucket's tree, a page or a
	// few): a damaged element there hides a bucket from bbolt's lookup.
	w.Budget = treeCheckBudget
	if err := w.Bucket(m.Root); err != nil {
		return err
	}
	for _, roots := range groups {
		w.Budget = w.Reads + treeCheckBudget
		for _, root := range roots {
			if err := w.Bucket(root); err != nil {
				return err
			}
		}
	}
	return nil
}
