package mvcc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds the data one bbolt transaction of Compact writes.
const compactTxSize = 64 << 20

// CompactStats reports what Compact did.
type CompactStats struct {
	// Vacuum is the vacuum pass run on the source before copying.
	Vacuum VacuumStats
	// SrcSize and DstSize are the file sizes before and after.
	SrcSize, DstSize int64
}

// Compact writes a compacted copy of the database at src to a new file
// dst: offline shrinking. Vacuum frees pages inside the file for reuse but
// never gives them back to the file system; after a burst of deletes or
// overwrites the file stays at its high-water mark. Compact rebuilds it
// with only what is live, packed.
//
// It opens src (so src must not be open elsewhere: it fails with ErrLocked
// after opts.LockTimeout), vacuums it completely (no transaction is open),
// copies every bucket with bbolt's Compact to a temporary file next to
// dst, syncs it, and only then gives it the name dst, which must not
// exist. A damaged source (a record that fails its checksum) fails with
// ErrCorrupt. A crash or a kill at any moment leaves either no dst or a
// complete one (and perhaps a temporary file named dst.tmp-*, which may be
// removed); a failure (a full disk) leaves no dst. src is left as it was,
// vacuumed; to shrink in place, rename dst over src afterwards, while no
// DB has src open:
//
//	st, err := mvcc.Compact("app.db.compact", "app.db", nil)
//	// check err, then:
//	err = os.Rename("app.db.compact", "app.db")
//
// A missing src fails with an error matching fs.ErrNotExist, an empty one
// with ErrCorrupt, and nothing is created or written (neither src nor
// dst). opts applies to opening src (NoSync
// also skips fsync of dst; with ReadOnly, src is opened read-only and not
// vacuumed, and a src whose log holds commits not yet applied is refused). It may be nil.
func Compact(dst, src string, opts *Options) (CompactStats, error) {
	var st CompactStats
	if _, err := os.Lstat(dst); err == nil {
		return st, fmt.Errorf("mvkv: compact: %s %w", dst, errExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("mvkv: compact: %w", err)
	}
	// Compact never creates its source: Open would make a new database
	// of a missing one.
	if fi, err := os.Stat(src); err != nil {
		return st, fmt.Errorf("mvkv: compact: %w", err)
	} else if fi.Size() == 0 {
		return st, fmt.Errorf("%w: %s: an empty file, not a database (Compact creates none)", ErrCorrupt, src)
	}
	o := opts.withDefaults()
	o.NoAutovacuum = true
	db, err := Open(src, &o)
	if err != nil {
		return st, err
	}
	defer db.Close() //nolint:errcheck // closed explicitly on success
	st.SrcSize = fileSize(src)
	if o.ReadOnly && db.applied.Load() < db.oracle.Visible() {
		return st, fmt.Errorf("mvkv: compact %s: its log holds commits a read-only open cannot apply: compact it read-write", src)
	}
	if !o.ReadOnly {
		if st.Vacuum, err = db.Vacuum(context.Background()); err != nil {
			return st, fmt.Errorf("mvkv: compact: vacuum %s: %w", src, err)
		}
	}
	// Every record is read through the checks of a scan first: a damaged
	// source fails with ErrCorrupt instead of being copied.
	if err := db.scanStore(nil, nil, db.oracle.Visible(), false, false, scanBorrowed, func(*storeItem) bool { return true }, nil); err != nil {
		return st, fmt.Errorf("mvkv: compact: %w", err)
	}
	// db holds src's file lock, so nobody writes it during the copy. The
	// copy keeps its freelist (bbolt's default), so opening it reads no
	// data page.
	err = writeNew(dst, &bolt.Options{NoSync: o.NoSync, FreelistType: bolt.FreelistMapType}, func(out *bolt.DB) error {
		return db.guard(func() error { return bolt.Compact(out, db.bolt, compactTxSize) })
	})
	if err != nil {
		return st, fmt.Errorf("mvkv: compact %s to %s: %w", src, dst, err)
	}
	if err := db.Close(); err != nil {
		return st, err
	}
	st.DstSize = fileSize(dst)
	return st, nil
}
