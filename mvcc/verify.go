package mvcc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/internal/boltfile"
)

// Check reads the whole database file and checks it, while the database
// keeps serving reads and commits. It checks what Open checks (bbolt's
// meta and freelist pages, the meta values) and what Open leaves to the
// reads that touch it: every page of every tree (a branch or leaf page in
// use, met once, keys in order and within the parent's separators, an
// element count that matches the page), every page accounted for
// (reachable, free, or bbolt's own), and every record and logged write
// (checksum, and commit timestamps consistent with the meta values and
// the key count), version record, version queue entry and clock entry. It
// returns nil or the first damage found, as an error matching ErrCorrupt;
// ctx's error if ctx ends first.
//
// Its cost grows with the file: it reads all of it once, and holds one
// bbolt read transaction meanwhile (pages it sees stay pinned: commits
// take new pages, and one that must grow the mapping waits; see Backup).
// Run it when a damage report comes in, before trusting a backup, or
// periodically at a quiet time.
func (db *DB) Check(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	for attempt := 0; ; attempt++ {
		if db.closed.Load() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := db.checkOnce(ctx)
		if !errors.Is(err, errMetaMoved) || attempt >= 100 {
			return err
		}
	}
}

// errMetaMoved: commits overwrote the meta page of the transaction being
// checked before it could be read; Check begins again.
var errMetaMoved = errors.New("mvkv: check: the file moved on")

func (db *DB) checkOnce(ctx context.Context) error {
	btx, err := db.bolt.Begin(false)
	if err != nil {
		if db.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("mvkv: check %s: %w", db.path, err)
	}
	defer btx.Rollback() //nolint:errcheck // a read transaction
	f, err := os.Open(db.path)
	if err != nil {
		return fmt.Errorf("mvkv: check %s: %w", db.path, err)
	}
	defer f.Close() //nolint:errcheck // opened for reading
	corrupt := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err) }
	// The pages of this transaction's state stay as they are while it
	// is open (bbolt reuses a page only once no reader can see it), but
	// its meta page is overwritten two commits later: find it now.
	var m boltfile.Meta
	found := false
	for off := range int64(2) {
		if mm, ok := boltfile.ReadMetaAt(f, off*int64(db.bolt.Info().PageSize)); ok && mm.TxID == uint64(btx.ID()) {
			m, found = mm, true
		}
	}
	if !found {
		if mm, ok := boltfile.ReadMeta(f); !ok || mm.TxID <= uint64(btx.ID()) {
			return corrupt(fmt.Errorf("no valid meta page for transaction %d", btx.ID()))
		}
		return errMetaMoved
	}
	if m.Freelist == boltfile.NoFreelist {
		return corrupt(fmt.Errorf("the file carries no freelist"))
	}
	free, err := boltfile.CheckFreelist(f, m)
	if err != nil {
		return corrupt(err)
	}
	w := boltfile.NewWalker(f, m, free)
	w.Nested = true
	w.Stop = ctx.Err
	if err := w.Bucket(m.Root); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return corrupt(err)
	}
	if err := w.Unaccounted(); err != nil {
		return corrupt(err)
	}
	// Every page is sound: bbolt may read them.
	return db.guard(func() error { return db.checkRecords(ctx, btx) })
}

// checkRecords checks the meta values and every record and logged write
// of btx.
func (db *DB) checkRecords(ctx context.Context, btx *bolt.Tx) error {
	meta, data, log := btx.Bucket(metaBucket), btx.Bucket(dataBucket), btx.Bucket(logBucket)
	if meta == nil || data == nil || log == nil {
		return fmt.Errorf("%w: %s: missing buckets", ErrCorrupt, db.path)
	}
	old := false
	switch f := meta.Get(formatKey); {
	case string(f) == string(format2):
		old = true
	case string(f) == string(format3):
	case string(f) != string(formatValue):
		return fmt.Errorf("%w: %s: unknown format %q", ErrCorrupt, db.path, f)
	}
	mv, err := readMetaValues(meta, old)
	if err == nil {
		err = checkMeta(mv, log, fileSize(db.path))
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, db.path, err)
	}
	var n uint64
	var prev []byte
	c := data.Cursor()
	for k, rec := c.First(); k != nil; k, rec = c.Next() {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if prev != nil && bytes.Compare(k, prev) <= 0 {
			return fmt.Errorf("%w: %s: key %s after %s: keys out of order", ErrCorrupt, db.path, quoteKey(k), quoteKey(prev))
		}
		prev = k
		ts, _, err := decodeRecord(k, rec)
		if err != nil {
			return err
		}
		if ts > mv.applied {
			return fmt.Errorf("%w: %s: key %s: record of commit %d, after the applied mark %d", ErrCorrupt, db.path, quoteKey(k), ts, mv.applied)
		}
		n++
	}
	if n != mv.keys {
		return fmt.Errorf("%w: %s: %d keys in the data, the meta bucket says %d", ErrCorrupt, db.path, n, mv.keys)
	}
	var last uint64
	c = log.Cursor()
	for rev, b := c.First(); rev != nil; rev, b = c.Next() {
		ts, _, _, _, err := decodeLogged(rev, b)
		if err != nil {
			return err
		}
		if ts < last || ts <= mv.applied || ts > mv.ts {
			return fmt.Errorf("%w: %s: logged write of commit %d, out of order or outside (%d, %d]", ErrCorrupt, db.path, ts, mv.applied, mv.ts)
		}
		last = ts
	}
	// The version store and the clock (versionstore.go, history.go).
	if err := db.checkVersions(btx, false); err != nil {
		return err
	}
	if clock := btx.Bucket(clockBucket); clock != nil {
		return clock.ForEach(checkClock)
	}
	return nil
}
