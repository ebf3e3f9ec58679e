package mvcc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The write-ahead log: where commit groups go.
//
// A commit group is made durable by appending its transactions to the
// log, files beside the database, and one fdatasync: it writes no page
// of the bbolt file. bbolt has one writer at a time, and its commit costs
// two fsyncs and a page per key touched; with the log beside it, the
// checkpointer (checkpoint.go) applies the log to the data bucket in bbolt
// transactions of its own while groups keep appending, so no commit waits
// for a checkpoint, and a lone committer's commit costs one append and
// one fdatasync (PostgreSQL's WAL and checkpointer, etcd's WAL beside its
// bbolt backend).
//
// The log is a sequence of segments, files named after the database
// with ".wal." and a 16-digit hexadecimal sequence number. A segment is
// a header (walHeader bytes: the magic "mvkvwal1", its sequence number,
// the CRC-32C of both, 4 zero bytes), then one record per transaction:
//
//	0   body length (4 bytes BE)
//	4   CRC-32C of the body (4 bytes BE)
//	8   commit timestamp (8 bytes BE)
//	16  the group's wall-clock stamp (8 bytes BE, Unix ns; history.go)
//	24  CRC-32C of bytes 0 to 24 (4 bytes BE)
//	28  body: the transaction's writes in key order, each flags (1 byte,
//	    bit 0 = tombstone), uvarint key length, key, uvarint value length,
//	    value
//
// The committer encodes the body and its checksum in its own goroutine
// (prepareCommit); the pipeline adds the 28-byte header. Once a segment
// holds Options.CheckpointBytes, the next group starts a new one (the
// spare made ahead of need, walspare.go, else a new file; synced,
// directory included); a segment is removed once the
// checkpointer has applied every transaction in it, so the log holds
// about what memory holds of commits not yet applied (logBacklog), and
// Close, having applied everything, leaves none.
//
// Open reads the segments in order and applies the transactions after
// the data bucket's "applied" mark, in one bbolt transaction, before
// anything else (read-only: into memory). A group is acknowledged only
// after its fdatasync, and the next group appends only after that, so a
// crash can cut only the last group of the last segment: there, the first
// record cut short or failing a checksum ends the log, and the rest is
// cut off. Anywhere else such a record is damage: ErrCorrupt. (A bit
// flipped in the last segment's acknowledged records reads as such a cut,
// as in PostgreSQL's and etcd's logs: the records carry no later mark
// that could tell the two apart.)
const (
	walMagic  = "mvkvwal1"
	walHeader = 24 // a segment's header
	walRecord = 28 // a record's header
)

// wal is the open log. Appends come from the commit pipeline, one group
// at a time; the checkpointer retires segments. mu orders the two.
type wal struct {
	path     string // the database's: segments are path.wal.<seq>
	noSync   bool
	segBytes int64 // a segment is full past it

	mu       sync.Mutex
	f        *os.File // the segment appended to; nil until the first append
	size     int64    // where the next record goes in f
	prealloc bool     // f was a spare: zeros follow its records (walspare.go)
	segs     []walSeg // the segments on disk, oldest first; f's is the last
	next     uint64   // the sequence number of the next segment

	spare     *os.File       // the next segment, made ahead of need (walspare.go)
	preparing bool           // prepareSpare's goroutine runs
	prep      sync.WaitGroup // that goroutine
	closed    bool           // close began: no spare is kept
}

// walSeg is a segment on disk.
type walSeg struct {
	seq  uint64
	last uint64 // the last commit it holds (0: none)
}

// loggedTxn is a transaction in the log: durable, not yet applied to the
// data bucket.
type loggedTxn struct {
	ts     uint64
	stamp  int64   // its group's wall-clock stamp (history.go)
	writes []write // in key order
	size   int     // bytes it takes in the log
}

func segName(path string, seq uint64) string {
	return fmt.Sprintf("%s.wal.%016x", path, seq)
}

// errWALUnknown marks a failed append whose bytes may have reached the
// disk: the pipeline must stop (faults.go).
var errWALUnknown = errors.New("the log's state on disk is unknown")

// appendBody appends w's body encoding (see above) to dst.
func appendBody(dst []byte, w write) []byte {
	var flags byte
	if w.tombstone {
		flags = flagTombstone
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(w.key)))
	dst = append(dst, w.key...)
	dst = binary.AppendUvarint(dst, uint64(len(w.value)))
	return append(dst, w.value...)
}

// appendRecordHeader appends a record's header for a body of n bytes
// whose checksum is sum.
func appendRecordHeader(dst []byte, n int, sum uint32, ts uint64, stamp int64) []byte {
	s := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = binary.BigEndian.AppendUint32(dst, sum)
	dst = binary.BigEndian.AppendUint64(dst, ts)
	dst = binary.BigEndian.AppendUint64(dst, uint64(stamp))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[s:], castagnoli))
}

// decodeBody returns the writes of a record's body; they alias b.
func decodeBody(b []byte) ([]write, error) {
	var ws []write
	for len(b) > 0 {
		flags := b[0]
		if flags&^flagTombstone != 0 {
			return nil, errors.New("unknown flags")
		}
		n, w := binary.Uvarint(b[1:])
		if w <= 0 || n == 0 || n > MaxKeySize || uint64(len(b)-1-w) < n {
			return nil, errors.New("bad key length")
		}
		key := b[1+w : 1+w+int(n)]
		b = b[1+w+int(n):]
		n, w = binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return nil, errors.New("bad value length")
		}
		value := b[w : w+int(n)]
		b = b[w+int(n):]
		if len(ws) > 0 && bytes.Compare(ws[len(ws)-1].key, key) >= 0 {
			return nil, errors.New("writes out of key order")
		}
		ws = append(ws, write{key: key, value: value, tombstone: flags&flagTombstone != 0})
	}
	if len(ws) == 0 {
		return nil, errors.New("no write")
	}
	return ws, nil
}

// append writes the records b, whose last commit is last, at the end of
// the log and syncs them (unless NoSync). On failure it reports whether
// they may have reached the disk (an error matching errWALUnknown) or
// certainly did not: a failed write is cut off again, and the log goes on
// as before.
func (l *wal) append(b []byte, last uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil || l.size >= l.segBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.f.WriteAt(b, l.size); err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			return fmt.Errorf("%w: %w (and cutting it off failed: %w)", errWALUnknown, err, terr)
		}
		l.prealloc = false
		return err
	}
	if !l.noSync {
		if err := fdatasync(l.f); err != nil {
			// The kernel may have dropped the pages it failed to write:
			// what the disk holds is unknown.
			return fmt.Errorf("%w: %w", errWALUnknown, err)
		}
	}
	l.size += int64(len(b))
	l.segs[len(l.segs)-1].last = last
	return nil
}

// rotate starts a new segment: the spare made ahead of need, if one is
// ready, else a new file. On failure nothing changed but for the
// segment appended to so far being cut to its records (walspare.go).
func (l *wal) rotate() error {
	seq := l.next
	hdr := make([]byte, 0, walHeader)
	hdr = append(hdr, walMagic...)
	hdr = binary.BigEndian.AppendUint64(hdr, seq)
	hdr = binary.BigEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	hdr = append(hdr, 0, 0, 0, 0)
	if l.f != nil && l.prealloc {
		// Only the last segment may end in zeros.
		if err := l.f.Truncate(l.size); err != nil {
			return err
		}
		if err := fdatasync(l.f); err != nil {
			return err
		}
		l.prealloc = false
	}
	if l.f == nil && l.preparing {
		// The first segment since Open is being made (walspare.go):
		// wait for it rather than start one that grows.
		l.mu.Unlock()
		l.prep.Wait()
		l.mu.Lock()
	}
	f, err := l.useSpare(seq, hdr)
	if err != nil {
		return err
	}
	prealloc := f != nil
	if f == nil {
		name := segName(l.path, seq)
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(hdr, 0)
		if err == nil && !l.noSync {
			if err = fdatasync(f); err == nil {
				err = syncDir(filepath.Dir(l.path))
			}
		}
		if err != nil {
			_ = f.Close()
			_ = os.Remove(name)
			return err
		}
	}
	if l.f != nil {
		_ = l.f.Close() // synced with its last group
	}
	l.f, l.size, l.next, l.prealloc = f, walHeader, seq+1, prealloc
	l.segs = append(l.segs, walSeg{seq: seq})
	l.prepareSpare(false)
	return nil
}

// retire removes the segments, but the one appended to, whose every
// transaction is at or below applied: the data bucket holds them, synced.
func (l *wal) retire(applied uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.segs) > 1 && l.segs[0].last <= applied {
		if err := os.Remove(segName(l.path, l.segs[0].seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return // tried again at the next step; Open skips what is applied
		}
		l.segs = l.segs[1:]
	}
}

// close closes the log; with all, every transaction in it is applied,
// and its segments go.
func (l *wal) close(all bool) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.prep.Wait() // a spare being made is removed by its goroutine
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spare != nil {
		_ = l.spare.Close()
		l.spare = nil
	}
	_ = removeSpare(l.path)
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	if all {
		_ = l.removeSegments() // what stays, Open finds applied
	}
}

// removeSegments removes every segment listed, oldest first (a crash
// among them leaves the newest, and no gap): the caller vouches that the
// data bucket holds all they hold, synced. Called with mu held, or by
// Open before any append.
func (l *wal) removeSegments() error {
	for len(l.segs) > 0 {
		if err := os.Remove(segName(l.path, l.segs[0].seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		l.segs = l.segs[1:]
	}
	return nil
}

// walSegments lists the sequence numbers of path's segments, in order.
func walSegments(path string) ([]uint64, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	prefix := base + ".wal."
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || len(rest) != 16 {
			continue
		}
		seq, err := strconv.ParseUint(rest, 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return seqs, nil
}

// walContents is what Open found in the log.
type walContents struct {
	seqs  []uint64
	txns  []loggedTxn // after the applied mark, in commit order
	last  uint64      // the last commit in the log (0: none)
	stamp int64       // the last stamp in the log
}

// readWAL reads path's log (see above): the transactions after applied.
// The values alias what was read.
func readWAL(path string, applied uint64) (wc walContents, err error) {
	wc.seqs, err = walSegments(path)
	if err != nil || len(wc.seqs) == 0 {
		return wc, err
	}
	for i, seq := range wc.seqs {
		if i > 0 && seq != wc.seqs[i-1]+1 {
			return wc, fmt.Errorf("%w: %s: log segment %d follows %d: one is missing", ErrCorrupt, path, seq, wc.seqs[i-1])
		}
		name := segName(path, seq)
		b, err := os.ReadFile(name)
		if err != nil {
			return wc, fmt.Errorf("mvkv: read the log: %w", err)
		}
		lastSeg := i == len(wc.seqs)-1
		bad := func(off int, what string) error {
			return fmt.Errorf("%w: %s: at byte %d: %s", ErrCorrupt, name, off, what)
		}
		if len(b) < walHeader || string(b[:8]) != walMagic ||
			binary.BigEndian.Uint64(b[8:]) != seq || binary.BigEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
			if lastSeg && len(b) < walHeader {
				break // created, its header cut short by a crash: nothing in it
			}
			return wc, bad(0, "not a log segment of this database")
		}
		off := walHeader
		for off < len(b) {
			h := b[off:]
			torn := len(h) < walRecord || binary.BigEndian.Uint32(h[24:]) != crc32.Checksum(h[:24], castagnoli)
			var n int
			if !torn {
				n = int(binary.BigEndian.Uint32(h))
				torn = len(h)-walRecord < n || crc32.Checksum(h[walRecord:walRecord+n], castagnoli) != binary.BigEndian.Uint32(h[4:])
			}
			if torn {
				if !lastSeg {
					return wc, bad(off, "a record cut short or failing its checksum")
				}
				break
			}
			ts, stamp := binary.BigEndian.Uint64(h[8:]), int64(binary.BigEndian.Uint64(h[16:]))
			if ts <= wc.last {
				return wc, bad(off, fmt.Sprintf("commit %d after commit %d", ts, wc.last))
			}
			writes, err := decodeBody(h[walRecord : walRecord+n])
			if err != nil {
				return wc, bad(off, err.Error())
			}
			wc.last, wc.stamp = ts, max(wc.stamp, stamp)
			if ts > applied {
				wc.txns = append(wc.txns, loggedTxn{ts: ts, stamp: stamp, writes: writes, size: walRecord + n})
			}
			off += walRecord + n
		}
	}
	return wc, nil
}
