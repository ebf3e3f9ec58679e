package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/index"
)

// check verifies that memory and the file agree, for tests (as bbolt's
// tests call Tx.Check): the index's own invariants; every record's
// checksum; no record newer than the newest published commit; the key
// count and the last timestamp in the meta bucket; and, for every key the
// index holds, that its newest version is what the file holds (an InFile
// or in-memory value: the same timestamp, and the same value when memory
// has it; a tombstone: no record). It reads everything: not for
// production paths. Call it with no commit in flight.
func (db *DB) check() error {
	if err := db.index.Check(); err != nil {
		return err
	}
	visible := db.oracle.Visible()
	return db.guard(func() error {
		return db.bolt.View(func(btx *bolt.Tx) error {
			data, meta := btx.Bucket(dataBucket), btx.Bucket(metaBucket)
			if data == nil || meta == nil {
				return fmt.Errorf("check: missing buckets")
			}
			var n int64
			err := data.ForEach(func(k, rec []byte) error {
				ts, _, err := decodeRecord(k, rec)
				if err != nil {
					return err
				}
				if ts > visible {
					return fmt.Errorf("check: key %s: record at ts %d, newest commit %d", quoteKey(k), ts, visible)
				}
				n++
				return nil
			})
			if err != nil {
				return err
			}
			if got := int64(binary.BigEndian.Uint64(meta.Get(keysKey))); got != n || db.keys.Load() != n {
				return fmt.Errorf("check: %d keys in the file, meta says %d, memory %d", n, got, db.keys.Load())
			}
			if ts := binary.BigEndian.Uint64(meta.Get(tsKey)); ts != visible {
				return fmt.Errorf("check: meta timestamp %d, newest commit %d", ts, visible)
			}
			var ferr error
			db.index.Walk(nil, nil, ^uint64(0), false, func(it index.Item) bool {
				rec := data.Get(it.Key)
				v := it.Version
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
