package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// Reading a key at a snapshot.
//
// The index holds every version some open snapshot may need from memory,
// and every version the checkpoint has not yet applied to the data
// bucket; the data bucket holds each key's newest applied version. A
// commit installs its versions in the index before its bbolt transaction
// commits, and the index lets a key go only when its newest version is
// both at or below the horizon and applied, and applied as of the oldest
// applied mark an open transaction holds (checkpoint.go). A view taken by
// a transaction includes at least its mark. So:
//
//   - A key the index holds is answered by its chain: the version visible
//     at ts, absent if none, unless the chain says its older versions went
//     to the version bucket (spill.go): then that bucket answers. A
//     visible version marked InFile is the data's (a spill let its value
//     go from memory).
//   - A key the index did not hold when it was asked has its newest
//     version in every view the reader takes afterwards, at or below ts,
//     unless a spill took it out of memory whole (index.CompleteSpill):
//     then the data's version may be newer than ts, and the version
//     bucket holds the older ones; or unless a group that wrote the data
//     bucket itself created the key after ts and left it out of memory
//     (install in commit.go): then the data's version, newer than ts and
//     at or below DB.skipTS, is the key's first, and the key is absent
//     at ts.
//   - A view may also show a key newer than ts, or no key at all, for a
//     commit that installed its versions after the index was asked (and
//     the checkpoint that applied them). Such a commit is still in the
//     index: a second look answers.
//
// So a read asks the index, then the data, then (rarely) the index again.
// A scan reads a chunk of the data first and the index over the same span
// after; a key the index does not hold then was pruned before, so the
// chunk, read from a view at or above the reader's mark, has its newest
// version.

// fileVersion is what the file holds for a key.
type fileVersion struct {
	ts      uint64
	value   []byte // the caller's copy
	present bool
}

// fileGet reads key's record from the file.
//
// A damaged page can hide a key from bbolt's Get: a flipped bit in a key
// (or in its length or position) renames the record, and one in its flags
// makes it look like a nested bucket, and Get then answers "absent". So
// the read goes through a cursor, and a miss is believed only when the
// records on either side of where key would be are themselves sound and
// in order: a renamed record stays where its old name sorted, so it is
// one of those two, and its checksum (which covers the key) fails.
func (db *DB) fileGet(key []byte) (f fileVersion, err error) {
	v, err := db.acquireView()
	if err != nil {
		return fileVersion{}, err
	}
	defer v.release()
	c := v.cursor()
	err = db.guard(func() error {
		rec, err := getRecordAt(c, key, v.leaf)
		if rec == nil || err != nil {
			return err
		}
		// Key and record side by side in one buffer: one checksum call
		// over both (layout.go), and the value is a capped slice of it.
		// Appending to a full slice allocates without zeroing what the
		// copy overwrites.
		buf := append(key[:len(key):len(key)], rec[4:]...)
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(rec) {
			return fmt.Errorf("%w: record of key %s: checksum mismatch", ErrCorrupt, quoteKey(key))
		}
		ts := binary.BigEndian.Uint64(buf[len(key):])
		f = fileVersion{ts: ts, value: buf[len(key)+8 : len(buf) : len(buf)], present: true}
		return nil
	})
	if err == nil {
		v.putCursor(c) // after a fault it may be mid-way: never reused
	}
	return f, err
}

// getRecord returns key's record in b (the mmap), nil when b does not
// hold key, or ErrCorrupt when the records around where it would be are
// damaged or out of order (see fileGet). Call it under db.guard.
//
// A miss between two pages (or past either end) also checks the page
// before yielded all its records (see leafCheck: a lowered count hides a
// page's last records), and that the leaf page key belongs to is one of
// the two (leafCheck.gap: an empty page, or a first element moved away,
// hides a page's records from the cursor). lc is off (zero) in a write
// transaction, whose pages may be in memory.
func getRecord(b *bolt.Bucket, key []byte, lc leafCheck) ([]byte, error) {
	return getRecordAt(b.Cursor(), key, lc)
}

// getRecordAt is getRecord with a cursor of b.
func getRecordAt(c *bolt.Cursor, key []byte, lc leafCheck) ([]byte, error) {
	rec, _, err := getRecordEnd(c, key, lc)
	return rec, err
}

// getRecordEnd is getRecordAt, and also reports, for a key b does not
// hold, whether it sorts after b's last record (checked as every miss is):
// then so does every larger key.
func getRecordEnd(c *bolt.Cursor, key []byte, lc leafCheck) (rec []byte, pastEnd bool, err error) {
	k, rec := c.Seek(key)
	if bytes.Equal(k, key) {
		return rec, false, checkRecordSize(k, rec)
	}
	after := k
	if k != nil {
		if bytes.Compare(k, key) < 0 {
			return nil, false, fmt.Errorf("%w: key %s found looking for %s: keys out of order", ErrCorrupt, quoteKey(k), quoteKey(key))
		}
		if _, _, err := decodeRecord(k, rec); err != nil {
			return nil, false, err
		}
		k, rec = c.Prev()
	} else {
		k, rec = c.Last()
	}
	if k != nil {
		if bytes.Compare(k, key) >= 0 {
			return nil, false, fmt.Errorf("%w: key %s found before %s: keys out of order", ErrCorrupt, quoteKey(k), quoteKey(key))
		}
		if _, _, err := decodeRecord(k, rec); err != nil {
			return nil, false, err
		}
		if after != nil && addr(after) == addr(k)+uintptr(len(k)+len(rec)) {
			return nil, false, nil // side by side in one page
		}
		lc.start(c, k, rec)
		if err := lc.pageDone(); err != nil {
			return nil, false, err
		}
	}
	return nil, after == nil, lc.gap(key, k, after)
}

// readAt returns key's value visible at ts (a copy the caller owns), or
// present false. newer lists the commit timestamps of key's versions above
// ts, for SSI.
func (db *DB) readAt(key []byte, ts uint64) (value []byte, present bool, newer []uint64, err error) {
	return db.read(key, ts, false)
}

// read is readAt; hist says ts may be below the vacuum horizon (a
// transaction as of a past time, history.go): then what neither memory
// nor the data bucket shows at ts is in the version bucket.
//
// A visible version InFile is the data bucket's: a commit that superseded
// it meanwhile gave memory its value back (index.Writer.Install), or, if
// memory spilled it since, the version bucket holds it; the next attempt
// finds it either way.
func (db *DB) read(key []byte, ts uint64, hist bool) (value []byte, present bool, newer []uint64, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		it, held := db.index.LookupItem(key, ts)
		v := it.Version
		if held {
			if value, present, newer, done, err := db.inMemory(key, ts, it, hist); done {
				return value, present, newer, err
			}
		}
		f, err := db.fileGet(key)
		if err != nil {
			return nil, false, nil, err
		}
		if held {
			if f.present && f.ts == v.TS {
				return f.value, true, it.Newer, nil
			}
			continue // a newer commit: memory or the disk now holds v
		}
		if f.present && f.ts <= ts {
			return f.value, true, nil, nil
		}
		// Absent, or newer than ts: ask the index again (see above).
		it, held = db.index.LookupItem(key, ts)
		v = it.Version
		if !held {
			switch {
			case hist:
				return db.readDisk(key, ts, fileNewer(f, ts))
			case !f.present:
				return nil, false, nil, nil
			case db.vs.count.Load() > 0:
				// Spilled out of memory whole: the disk has the rest.
				d, err := db.diskRead(key, ts)
				if err != nil {
					return nil, false, nil, err
				}
				if d.anyRecord {
					return d.value, d.present, appendNewer(d.newer, fileNewer(f, ts)), nil
				}
			}
			if f.ts <= db.skipTS.Load() {
				// Created after ts by a group that left it out of memory.
				return nil, false, fileNewer(f, ts), nil
			}
			return nil, false, nil, fmt.Errorf("%w: key %s: the file holds a version at ts %d, newer than snapshot %d, that no snapshot was told of", ErrCorrupt, quoteKey(key), f.ts, ts)
		}
		if value, present, newer, done, err := db.inMemory(key, ts, it, hist); done {
			return value, present, newer, err
		}
		if f.present && f.ts == v.TS {
			return f.value, true, it.Newer, nil
		}
	}
	return nil, false, nil, fmt.Errorf("mvkv: key %s: no stable read after 3 attempts", quoteKey(key))
}

// inMemory answers a read at ts from what memory holds of key (it, held),
// as read does; done false says the visible version is InFile: its value
// is the data bucket's.
func (db *DB) inMemory(key []byte, ts uint64, it index.Item, hist bool) (value []byte, present bool, newer []uint64, done bool, err error) {
	v := it.Version
	switch {
	case it.Visible && v.Tombstone:
		return nil, false, it.Newer, true, nil
	case it.Visible && !v.InFile:
		return cloneValue(v.Value), true, it.Newer, true, nil
	case !it.Visible && (it.Older || hist):
		value, present, newer, err = db.readDisk(key, ts, it.Newer)
		return value, present, newer, true, err
	case !it.Visible:
		return nil, false, it.Newer, true, nil
	}
	return nil, false, nil, false, nil
}

// readDisk reads key at ts from the version bucket, for a reader that
// memory sent there; memNewer are the newer versions memory holds.
func (db *DB) readDisk(key []byte, ts uint64, memNewer []uint64) ([]byte, bool, []uint64, error) {
	d, err := db.diskRead(key, ts)
	if err != nil {
		return nil, false, nil, err
	}
	return d.value, d.present, appendNewer(d.newer, memNewer), nil
}

// appendNewer appends to newer (ascending) the timestamps of more above
// its last.
func appendNewer(newer, more []uint64) []uint64 {
	for _, n := range more {
		if len(newer) == 0 || n > newer[len(newer)-1] {
			newer = append(newer, n)
		}
	}
	return newer
}

// fileNewer is the file's version's timestamp when it is above ts.
func fileNewer(f fileVersion, ts uint64) []uint64 {
	if f.present && f.ts > ts {
		return []uint64{f.ts}
	}
	return nil
}

// cloneValue copies a value for the caller; an empty value stays non-nil.
// Appending to an empty slice allocates without zeroing what the copy
// overwrites (make would clear it first).
func cloneValue(v []byte) []byte {
	return append([]byte{}, v...)
}
