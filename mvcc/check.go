package mvcc

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// check verifies that memory and the file agree, for tests (as bbolt's
// tests call Tx.Check): the index's own invariants; every record's and
// logged write's checksum; the log holding only commits after "applied"
// and none after the newest published one; the meta bucket's key count
// against the data bucket; and, for every key the index holds, that its
// newest version is where it should be: in the data bucket (the same
// timestamp, and value when memory has it; a tombstone: no record) when
// applied, in the log otherwise. With an empty log, the key count in
// memory must match the file's. It reads everything: not for production
// paths. Call it with no commit in flight.
func (db *DB) check() error {
	if err := db.index.Check(); err != nil {
		return err
	}
	// Between the steps of a checkpoint pass, and inside a group, the
	// file is sound but memory's marks may lag it: check a quiet file.
	db.ck.pass.Lock()
	defer db.ck.pass.Unlock()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	visible, applied := db.oracle.Visible(), db.applied.Load()
	return db.guard(func() error {
		return db.bolt.View(func(btx *bolt.Tx) error {
			data, meta, log := btx.Bucket(dataBucket), btx.Bucket(metaBucket), btx.Bucket(logBucket)
			if data == nil || meta == nil || log == nil {
				return fmt.Errorf("check: missing buckets")
			}
			var n int64
			err := data.ForEach(func(k, rec []byte) error {
				ts, _, err := decodeRecord(k, rec)
				if err != nil {
					return err
				}
				if ts > applied {
					return fmt.Errorf("check: key %s: record at ts %d, applied %d", quoteKey(k), ts, applied)
				}
				n++
				return nil
			})
			if err != nil {
				return err
			}
			if err := db.checkVersions(btx, true); err != nil {
				return err
			}
			// Open applies the log bucket's writes (a read-only DB holds
			// them in memory, pending, as the log's).
			if k, _ := log.Cursor().First(); k != nil && !db.opts.ReadOnly {
				return fmt.Errorf("check: the log bucket holds a write")
			}
			inLog := map[string]bool{}
			for _, t := range db.pending.head() {
				if t.ts <= applied || t.ts > visible {
					return fmt.Errorf("check: logged commit %d, applied %d, newest commit %d", t.ts, applied, visible)
				}
				for i := range t.writes {
					inLog[string(appendRev(nil, t.ts, uint32(i)))] = true
				}
			}
			if got, err := getMeta(meta, keysKey); err != nil || int64(got) != n {
				return fmt.Errorf("check: %d keys in the data bucket, meta says %d", n, got)
			}
			if len(inLog) == 0 && db.keys.Load() != n {
				return fmt.Errorf("check: %d keys in the file, memory says %d", n, db.keys.Load())
			}
			if ts, err := getMeta(meta, tsKey); err != nil || ts != applied && !db.opts.ReadOnly {
				return fmt.Errorf("check: meta timestamp %d, applied %d", ts, applied)
			}
			var ferr error
			db.index.Walk(nil, nil, ^uint64(0), false, func(it index.Item) bool {
				v := it.Version
				if v.TS > applied {
					if !inLog[string(appendRev(nil, v.TS, v.Seq))] {
						ferr = fmt.Errorf("check: key %s at ts %d, after applied %d, is not in the log", quoteKey(it.Key), v.TS, applied)
					}
					return ferr == nil
				}
				rec := data.Get(it.Key)
				switch {
				case v.Tombstone && rec != nil:
					ferr = fmt.Errorf("check: key %s deleted at ts %d, still in the file", quoteKey(it.Key), v.TS)
				case v.Tombstone:
				case rec == nil:
					ferr = fmt.Errorf("check: key %s at ts %d, not in the file", quoteKey(it.Key), v.TS)
				default:
					ts, val, err := decodeRecord(it.Key, rec)
					switch {
					case err != nil:
						ferr = err
					case ts != v.TS:
						ferr = fmt.Errorf("check: key %s: memory's newest at ts %d, the file's at %d", quoteKey(it.Key), v.TS, ts)
					case !v.InFile && !bytes.Equal(val, v.Value):
						ferr = fmt.Errorf("check: key %s at ts %d: memory and file values differ", quoteKey(it.Key), v.TS)
					}
				}
				return ferr == nil
			})
			return ferr
		})
	})
}
