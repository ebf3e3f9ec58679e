package mvcc

import (
	"bytes"
	"fmt"

	"github.com/mvkv/mvkv/index"
)

// Reading a key at a snapshot.
//
// The index holds every version some open snapshot may need from memory;
// the file holds each key's newest committed version. A commit installs
// its versions in the index before its bbolt transaction commits, and the
// index lets a key go only when the horizon has passed its newest version
// (see package gc). Two consequences make reads simple:
//
//   - A key the index holds is answered by its chain: the version visible
//     at ts, absent if none. A visible version marked InFile is the key's
//     newest and its value is the file's.
//   - A key the index does not hold, read from a view that includes every
//     commit at or below ts: the file's version is the one visible at ts,
//     unless the file shows a version newer than ts or no version at all.
//     Either may be a commit that installed its versions after the index
//     was asked; such a commit is still in the index (the reader holds the
//     horizon below it), so a second look at the index answers.
//
// So a read asks the index, then the file, then (rarely) the index again.

// fileVersion is what the file holds for a key.
type fileVersion struct {
	ts      uint64
	value   []byte // the caller's copy
	present bool
}

// fileGet reads key's record from the file.
func (db *DB) fileGet(key []byte) (f fileVersion, err error) {
	v, err := db.acquireView()
	if err != nil {
		return fileVersion{}, err
	}
	defer v.release()
	err = db.guard(func() error {
		rec := v.data.Get(key)
		if rec == nil {
			return nil
		}
		ts, val, err := decodeRecord(key, rec)
		if err != nil {
			return err
		}
		f = fileVersion{ts: ts, value: cloneValue(val), present: true}
		return nil
	})
	return f, err
}

// readAt returns key's value visible at ts (a copy the caller owns), or
// present false. newer lists the commit timestamps of key's versions above
// ts, for SSI.
func (db *DB) readAt(key []byte, ts uint64) (value []byte, present bool, newer []uint64, err error) {
	for attempt := 0; attempt < 3; attempt++ {
		v, visible, held, nw := db.index.Lookup(key, ts)
		if held {
			switch {
			case !visible || v.Tombstone:
				return nil, false, nw, nil
			case !v.InFile:
				return cloneValue(v.Value), true, nw, nil
			}
		}
		f, err := db.fileGet(key)
		if err != nil {
			return nil, false, nil, err
		}
		if held {
			if f.present && f.ts == v.TS {
				return f.value, true, nw, nil
			}
			continue // a newer commit: the index now holds v's value
		}
		if f.present && f.ts <= ts {
			return f.value, true, nil, nil
		}
		// Absent, or newer than ts: ask the index again (see above).
		v, visible, held, nw = db.index.Lookup(key, ts)
		if !held {
			if !f.present {
				return nil, false, nil, nil
			}
			return nil, false, nil, fmt.Errorf("%w: key %s: the file holds a version at ts %d, newer than snapshot %d, that no snapshot was told of", ErrCorrupt, quoteKey(key), f.ts, ts)
		}
		switch {
		case !visible || v.Tombstone:
			return nil, false, nw, nil
		case !v.InFile:
			return cloneValue(v.Value), true, nw, nil
		case f.present && f.ts == v.TS:
			return f.value, true, nw, nil
		}
	}
	return nil, false, nil, fmt.Errorf("mvkv: key %s: no stable read after 3 attempts", quoteKey(key))
}

// cloneValue copies a value for the caller; an empty value stays non-nil.
func cloneValue(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// storeItem is one key met by scanStore.
type storeItem struct {
	key, value []byte // the caller's copies
	present    bool   // a version is visible at ts and is not a tombstone
	newer      []uint64
}

// scanChunk is how many keys a scan reads from the file per view.
const scanChunk = 256

// fileChunk is one chunk of a scan read from the file: keys and values
// copied into one arena.
type fileChunk struct {
	keys, values [][]byte
	ts           []uint64
	more         bool // the chunk stopped at its size, not at the range's end
}

// readChunk reads up to scanChunk records of [from, end) (from excluded
// unless inclusive) from the file.
func (db *DB) readChunk(from, end []byte, inclusive bool, fc *fileChunk) error {
	fc.keys, fc.values, fc.ts, fc.more = fc.keys[:0], fc.values[:0], fc.ts[:0], false
	v, err := db.acquireView()
	if err != nil {
		return err
	}
	defer v.release()
	return db.guard(func() error { return readRecords(v, from, end, inclusive, fc) })
}

func readRecords(v *view, from, end []byte, inclusive bool, fc *fileChunk) error {
	c := v.data.Cursor()
	var k, rec []byte
	if from == nil {
		k, rec = c.First()
	} else {
		k, rec = c.Seek(from)
		if k != nil && !inclusive && bytes.Equal(k, from) {
			k, rec = c.Next()
		}
	}
	var arena []byte
	for ; k != nil; k, rec = c.Next() {
		if end != nil && bytes.Compare(k, end) >= 0 {
			return nil
		}
		if len(fc.keys) == scanChunk {
			fc.more = true
			return nil
		}
		ts, val, err := decodeRecord(k, rec)
		if err != nil {
			return err
		}
		if cap(arena)-len(arena) < len(k)+len(val) {
			arena = make([]byte, 0, max(16<<10, len(k)+len(val)))
		}
		s := len(arena)
		arena = append(arena, k...)
		arena = append(arena, val...)
		m := s + len(k)
		fc.keys = append(fc.keys, arena[s:m:m])
		fc.values = append(fc.values, arena[m:len(arena):len(arena)])
		fc.ts = append(fc.ts, ts)
	}
	return nil
}

// scanStore calls fn for the keys of [start, end) in ascending order, as
// the committed data stands at ts: every key with a version visible at ts,
// and, when all is true, the keys the index holds with none (absent at ts,
// but written after it: what SSI must hear of). It stops when fn returns
// false and returns the error that stopped it, if any.
//
// It reads the file in chunks, each under a view taken and released
// before the chunk's keys are passed on, and merges each chunk with the
// index's keys over the same span, read after the chunk (the order the
// point read argues for).
func (db *DB) scanStore(start, end []byte, ts uint64, all bool, fn func(storeItem) bool) error {
	var fc fileChunk
	from, inclusive := start, true
	for {
		if err := db.readChunk(from, end, inclusive, &fc); err != nil {
			return err
		}
		// The span of this chunk: up to its last key when more follow,
		// else to the range's end.
		hi := end
		if fc.more {
			last := fc.keys[len(fc.keys)-1]
			hi = append(append(make([]byte, 0, len(last)+1), last...), 0)
		}
		i := 0 // next file key to merge
		stopped := false
		var ferr error
		emitFile := func(upto []byte) bool {
			for ; i < len(fc.keys) && (upto == nil || bytes.Compare(fc.keys[i], upto) < 0); i++ {
				if fc.ts[i] > ts {
					// Not held by the index a moment ago, yet newer than ts:
					// a commit that raced the walk; the point read settles it.
					val, ok, nw, err := db.readAt(fc.keys[i], ts)
					if err != nil {
						ferr = err
						return false
					}
					if (ok || all) && !fn(storeItem{key: fc.keys[i], value: val, present: ok, newer: nw}) {
						return false
					}
					continue
				}
				if !fn(storeItem{key: fc.keys[i], value: fc.values[i], present: true}) {
					return false
				}
			}
			return true
		}
		db.index.Walk(from, hi, ts, all, func(it index.Item) bool {
			if !inclusive && bytes.Equal(it.Key, from) {
				return true
			}
			if !emitFile(it.Key) {
				stopped = true
				return false
			}
			var fv []byte
			var fts uint64
			inFile := i < len(fc.keys) && bytes.Equal(fc.keys[i], it.Key)
			if inFile {
				fv, fts = fc.values[i], fc.ts[i]
				i++
			}
			item := storeItem{key: bytes.Clone(it.Key), newer: it.Newer}
			switch v := it.Version; {
			case !it.Visible || v.Tombstone:
			case !v.InFile:
				item.value, item.present = cloneValue(v.Value), true
			case inFile && fts == v.TS:
				item.value, item.present = fv, true
			default:
				val, ok, _, err := db.readAt(it.Key, ts)
				if err != nil {
					ferr = err
					stopped = true
					return false
				}
				item.value, item.present = val, ok
			}
			if (item.present || all) && !fn(item) {
				stopped = true
				return false
			}
			return true
		})
		if ferr != nil {
			return ferr
		}
		if stopped {
			return nil
		}
		if !emitFile(nil) {
			return ferr
		}
		if !fc.more {
			return nil
		}
		from, inclusive = fc.keys[len(fc.keys)-1], false
	}
}
