package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// The version store on disk.
//
// Memory holds the versions open snapshots need (package index) up to
// Options.VersionMemoryLimit; past it, the pipeline spills the older
// versions of the chains to the "versions" bucket of the same file, and
// the snapshots that need them read them there (InnoDB's undo
// tablespace, in a B+tree). With Options.HistoryRetention the checkpoint
// also writes there every version it supersedes in the data bucket, so
// that reads as of a past time find it, after a reopen too (history.go).
//
//	bucket "versions"  vkey(key, ts)          -> version record
//	bucket "vqueue"    until, vkey(key, ts)   -> CRC-32C (4 bytes BE) of the bucket key
//	bucket "mvkv"      vcount, vbytes -> versions held on disk, bytes they take (meta values)
//
// vkey is the key escaped so that one key's records are contiguous and
// keys keep their byte order (each 0x00 byte becomes 0x00 0xff, and 0x00
// 0x00 ends the key), then the commit timestamp, 8 bytes BE. A version
// record is: CRC-32C (4 bytes BE) of the bucket key followed by the rest,
// flags (1 byte: bit 0 = tombstone), the value. As in the data bucket, a
// damaged key, timestamp, flag or value reads as ErrCorrupt.
//
// "vqueue" orders the records by until, the commit timestamp of the
// version that superseded each one: no snapshot at or after until reads
// it. Vacuum consumes the queue's prefix up to the horizon (the oldest
// snapshot, capped by the retention and by every reader as of a past
// time) and deletes what it names: its cost is what it removes. A key's
// older records go before its newer ones (until grows with ts), so a
// reader between two batches never meets a stale version where a newer
// one was removed.
//
// An absence marker is a tombstone at ts 0 whose value is its until (8
// bytes BE): a key with one version and nothing before it leaves memory
// with one (index.PlanSpill), and it answers "absent" to the snapshots
// below that version.
//
// A record is never needed after a restart except as history: with no
// retention, the first vacuum after Open removes every record (their
// until is below any new snapshot).
var (
	versionsBucket = []byte("versions")
	vqueueBucket   = []byte("vqueue")
	vcountKey      = []byte("vcount")
	vbytesKey      = []byte("vbytes")
)

// vstore is the DB's view of the version bucket: counters for Stats,
// kept with every write to the bucket (in memory at once, in the meta
// bucket in the same bbolt transaction).
type vstore struct {
	count atomic.Int64 // records held
	bytes atomic.Int64 // their size, keys and values
	// nextUntil is at most the smallest until in the queue (0: unknown,
	// as after Open), for autovacuum's estimate (vacuumIndex); each
	// vacuum of the store sets it from the queue. Written under
	// DB.writeMu.
	nextUntil atomic.Uint64
}

// appendVKey appends the escaped key and ts.
func appendVKey(dst, key []byte, ts uint64) []byte {
	for _, b := range key {
		if b == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, b)
		}
	}
	dst = append(dst, 0, 0)
	return binary.BigEndian.AppendUint64(dst, ts)
}

// vkeyPrefix is appendVKey without the timestamp: every record of key
// begins with it.
func vkeyPrefix(key []byte) []byte {
	p := appendVKey(nil, key, 0)
	return p[:len(p)-8]
}

// splitVKey returns the key (a copy) and ts of a bucket key.
func splitVKey(vk []byte) (key []byte, ts uint64, ok bool) {
	n, ok := vkeyLen(vk)
	if !ok {
		return nil, 0, false
	}
	key = make([]byte, 0, n)
	body := vk[:len(vk)-10]
	for i := 0; i < len(body); i++ {
		key = append(key, body[i])
		if body[i] == 0 {
			i++ // the escape's 0xff
		}
	}
	return key, binary.BigEndian.Uint64(vk[len(vk)-8:]), true
}

// vkeyLen reports whether vk is a well-formed bucket key (appendVKey's:
// a non-empty key with each zero byte escaped as 0 0xff, then 0 0, then
// 8 bytes of timestamp) and the length of the key it names. It allocates
// nothing: reads check the records they land on with it.
func vkeyLen(vk []byte) (n int, ok bool) {
	if len(vk) < 11 || vk[len(vk)-10] != 0 || vk[len(vk)-9] != 0 {
		return 0, false
	}
	body := vk[:len(vk)-10]
	for i := 0; i < len(body); i++ {
		if body[i] == 0 {
			if i+1 >= len(body) || body[i+1] != 0xff {
				return 0, false
			}
			i++
		}
		n++
	}
	return n, true
}

// flagUntil says a version record carries its until (8 bytes BE) before
// the value.
const flagUntil = 2

// appendVRecord appends vk's record; until, when not 0, is the commit
// timestamp that superseded the version.
func appendVRecord(dst, vk, value []byte, tombstone bool, until uint64) []byte {
	s := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	var flags byte
	if tombstone {
		flags = flagTombstone
	}
	if until != 0 {
		flags |= flagUntil
	}
	dst = append(dst, flags)
	if until != 0 {
		dst = binary.BigEndian.AppendUint64(dst, until)
	}
	dst = append(dst, value...)
	binary.BigEndian.PutUint32(dst[s:], crc32.Update(crc32.Checksum(vk, castagnoli), castagnoli, dst[s+4:]))
	return dst
}

// decodeVRecord checks a version record and returns its parts (until 0:
// the record does not say); value aliases rec.
func decodeVRecord(vk, rec []byte) (value []byte, tombstone bool, until uint64, err error) {
	if len(rec) < 5 || len(rec) > 13+MaxValueSize || len(vk) > 2*MaxKeySize+10 ||
		crc32.Update(crc32.Checksum(vk, castagnoli), castagnoli, rec[4:]) != binary.BigEndian.Uint32(rec) {
		return nil, false, 0, fmt.Errorf("%w: version record %x: checksum mismatch", ErrCorrupt, vk)
	}
	flags := rec[4]
	if flags&^(flagTombstone|flagUntil) != 0 {
		return nil, false, 0, fmt.Errorf("%w: version record %x: unknown flags", ErrCorrupt, vk)
	}
	value = rec[5:]
	if flags&flagUntil != 0 {
		if len(value) < 8 || binary.BigEndian.Uint64(value) == 0 {
			return nil, false, 0, fmt.Errorf("%w: version record %x: bad until", ErrCorrupt, vk)
		}
		until, value = binary.BigEndian.Uint64(value), value[8:]
	}
	return value, flags&flagTombstone != 0, until, nil
}

// vwriter writes versions into the version bucket inside one bbolt write
// transaction; commit its counters with done once the transaction has
// committed.
type vwriter struct {
	vs                    *vstore
	versions, queue, meta *bolt.Bucket
	count, bytes          int64 // change in the counters
}

func newVWriter(btx *bolt.Tx, vs *vstore) (*vwriter, error) {
	versions, err := btx.CreateBucketIfNotExists(versionsBucket)
	if err != nil {
		return nil, err
	}
	queue, err := btx.CreateBucketIfNotExists(vqueueBucket)
	if err != nil {
		return nil, err
	}
	return &vwriter{vs: vs, versions: versions, queue: queue, meta: btx.Bucket(metaBucket)}, nil
}

// put records key's version v, superseded at until (no snapshot at or
// after it reads v). Writing a record that is already there changes
// nothing.
func (w *vwriter) put(key []byte, v index.Version, until uint64) error {
	vk := appendVKey(nil, key, v.TS)
	rec := appendVRecord(nil, vk, v.Value, v.Tombstone, until)
	if w.versions.Get(vk) == nil {
		w.count++
		w.bytes += int64(len(vk) + len(rec))
	}
	if err := w.versions.Put(vk, rec); err != nil {
		return err
	}
	if n := w.vs.nextUntil.Load(); n != 0 && until < n {
		w.vs.nextUntil.Store(until)
	}
	qk := binary.BigEndian.AppendUint64(nil, until)
	qk = append(qk, vk...)
	return w.queue.Put(qk, binary.BigEndian.AppendUint32(nil, crc32.Checksum(qk, castagnoli)))
}

// markerUntil reports whether vk's record rec is an absence marker (a
// tombstone at ts 0, index.PlanSpill) and if so the until it was written
// for: a key can leave memory, come back and leave again, each time with
// a marker under the same name, and only the newest marker's queue entry
// may remove it.
func markerUntil(vk, rec []byte) (until uint64, marker bool, err error) {
	if _, ts, ok := splitVKey(vk); !ok || ts != 0 {
		return 0, false, nil
	}
	_, tomb, until, err := decodeVRecord(vk, rec)
	if err != nil || !tomb {
		return 0, false, err
	}
	return until, true, nil
}

// flush writes the counters to the meta bucket, as of the in-memory ones
// plus this transaction's changes.
func (w *vwriter) flush(vs *vstore) error {
	if w.count == 0 && w.bytes == 0 {
		return nil
	}
	if err := putMeta(w.meta, vcountKey, uint64(max(vs.count.Load()+w.count, 0))); err != nil {
		return err
	}
	return putMeta(w.meta, vbytesKey, uint64(max(vs.bytes.Load()+w.bytes, 0)))
}

// done applies the transaction's changes to the counters, once it has
// committed.
func (w *vwriter) done(vs *vstore) {
	vs.count.Add(w.count)
	vs.bytes.Add(w.bytes)
}

// readVCount reads the counters from the meta bucket (zero before the
// version store was first written).
func readVCount(meta *bolt.Bucket) (count, size int64, err error) {
	if meta.Get(vcountKey) == nil {
		return 0, 0, nil
	}
	c, err := getMeta(meta, vcountKey)
	if err != nil {
		return 0, 0, err
	}
	b, err := getMeta(meta, vbytesKey)
	return int64(c), int64(b), err
}

// load reads the counters at Open.
func (vs *vstore) load(meta *bolt.Bucket) error {
	c, b, err := readVCount(meta)
	vs.count.Store(c)
	vs.bytes.Store(b)
	return err
}

// diskVersion is what the version bucket holds for a key at a snapshot.
type diskVersion struct {
	value     []byte // the caller's copy
	present   bool   // a version is visible and is not a tombstone
	newer     []uint64
	anyRecord bool // the bucket holds some record of the key
}

// diskRead returns key's version visible at ts from the version bucket
// (the newest record at or below ts), and the timestamps of its records
// above ts.
func (db *DB) diskRead(key []byte, ts uint64) (d diskVersion, err error) {
	ts = min(ts, ^uint64(0)-1)
	v, err := db.acquireView()
	if err != nil {
		return d, err
	}
	defer v.release()
	err = db.guard(func() error {
		b := v.tx.Bucket(versionsBucket)
		if b == nil {
			return nil
		}
		prefix := vkeyPrefix(key)
		c := b.Cursor()
		bk, brec, after, err := seekBelow(c, newLeafCheck(db.bolt, b), appendVKey(nil, key, ts+1), decodeVRecordErr)
		if err != nil {
			return err
		}
		// The records above ts: SSI must hear of their writers.
		for k := after; k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
			d.newer = append(d.newer, binary.BigEndian.Uint64(k[len(prefix):]))
			d.anyRecord = true
		}
		if bk == nil || !bytes.HasPrefix(bk, prefix) || len(bk) != len(prefix)+8 {
			return nil
		}
		val, tomb, until, err := decodeVRecord(bk, brec)
		if err != nil {
			return err
		}
		d.anyRecord = true
		// A record superseded at or below ts answers "absent": what
		// superseded it is neither on disk (it would be the newest record
		// at or below ts) nor where the reader looked before (memory, the
		// file), so it was a tombstone that vacuum took from memory once
		// every snapshot saw it.
		if !tomb && (until == 0 || until > ts) {
			d.value, d.present = cloneValue(val), true
		}
		return nil
	})
	return d, err
}

func errBadVKey(vk []byte) error {
	return fmt.Errorf("%w: version record %x: bad name", ErrCorrupt, vk)
}

// decodeVRecordErr checks a record a read landed on: well named (a child
// pointer damaged to name a page of another bucket lands a read among
// records of another format, whose checksums may be sound) and sound.
func decodeVRecordErr(vk, rec []byte) error {
	if _, ok := vkeyLen(vk); !ok {
		return errBadVKey(vk)
	}
	_, _, _, err := decodeVRecord(vk, rec)
	return err
}

// seekBelow finds the last record before target in c's bucket and
// returns it (nil when none) and the key of the first at or after target
// (nil when none); the cursor is left on that first one. As getRecord
// does for the data, it believes the pair only if both records are sound
// (check) and in order, and, when they are not side by side in one page,
// the page of the one before yielded all its records and the leaf page
// target belongs to is one of the two (leafCheck): damage that renames or
// hides a record then reads as ErrCorrupt, not as an older version.
func seekBelow(c *bolt.Cursor, lc leafCheck, target []byte, check func(k, v []byte) error) (bk, bv, after []byte, err error) {
	after, av := c.Seek(target)
	if after != nil {
		if bytes.Compare(after, target) < 0 {
			return nil, nil, nil, fmt.Errorf("%w: record %x found seeking %x: out of order", ErrCorrupt, after, target)
		}
		if err := check(after, av); err != nil {
			return nil, nil, nil, err
		}
		bk, bv = c.Prev()
	} else {
		bk, bv = c.Last()
	}
	if bk != nil {
		if bytes.Compare(bk, target) >= 0 {
			return nil, nil, nil, fmt.Errorf("%w: record %x found before %x: out of order", ErrCorrupt, bk, target)
		}
		if err := check(bk, bv); err != nil {
			return nil, nil, nil, err
		}
		if after == nil || addr(after) != addr(bk)+uintptr(len(bk)+len(bv)) {
			lc.start(c, bk, bv)
			if err := lc.pageDone(); err != nil {
				return nil, nil, nil, err
			}
			if err := lc.gap(target, bk, after); err != nil {
				return nil, nil, nil, err
			}
		}
	} else if err := lc.gap(target, nil, after); err != nil {
		return nil, nil, nil, err
	}
	// Leave the cursor on after for the caller's walk up.
	if after != nil {
		c.Seek(target)
	}
	return bk, bv, after, nil
}

// checkQueueEntry checks a queue entry's checksum (which covers its key,
// the entry's whole content: until and the version's name).
func checkQueueEntry(qk, qv []byte) error {
	if len(qk) < 18 || len(qv) != 4 || crc32.Checksum(qk, castagnoli) != binary.BigEndian.Uint32(qv) {
		return fmt.Errorf("%w: version queue entry %x: checksum mismatch", ErrCorrupt, qk)
	}
	return nil
}

// checkVersions verifies the version store of btx: every record sound
// and well named, every queue entry sound (its checksum) and naming a
// version at or below its until, and the counters exact: the meta
// bucket's, and with memory the DB's (for DB.check, with no commit in
// flight).
func (db *DB) checkVersions(btx *bolt.Tx, memory bool) error {
	var count, size int64
	if b := btx.Bucket(versionsBucket); b != nil {
		err := b.ForEach(func(vk, rec []byte) error {
			if err := decodeVRecordErr(vk, rec); err != nil {
				return err
			}
			count++
			size += int64(len(vk) + len(rec))
			return nil
		})
		if err != nil {
			return err
		}
	}
	if q := btx.Bucket(vqueueBucket); q != nil {
		err := q.ForEach(func(qk, qv []byte) error {
			if err := checkQueueEntry(qk, qv); err != nil {
				return err
			}
			_, ts, ok := splitVKey(qk[8:])
			if !ok || ts > binary.BigEndian.Uint64(qk) {
				return fmt.Errorf("%w: version queue entry %x", ErrCorrupt, qk)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	c, b, err := readVCount(btx.Bucket(metaBucket))
	if err != nil {
		return err
	}
	if memory {
		c, b = db.vs.count.Load(), db.vs.bytes.Load()
	}
	if c != count || b != size {
		return fmt.Errorf("%w: the version store holds %d records of %d bytes, its counters say %d and %d", ErrCorrupt, count, size, c, b)
	}
	return nil
}
