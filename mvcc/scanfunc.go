package mvcc

import (
	"fmt"
	"iter"
)

// Scans that copy less than Scan.
//
// Scan hands its caller a copy of every key and value, one allocation per
// key, which the caller owns for good. ScanFunc and ScanReverseFunc copy
// nothing for the caller: they lend it, for one call of fn, the scan's
// own buffer, the way bbolt's cursor, Badger's Item.Value and
// database/sql's RawBytes do, and run at the speed of the file's walk.
// ScanKeys never reads a value at all.
//
// What is lent is memory of that one scan's, never the database's nor
// another scan's: a caller that writes to a slice, or keeps one past its
// step, sees garbage in it afterwards, but cannot change the database or
// what anyone else reads. (The scan copies each key and value into that
// memory as it lends them: a few nanoseconds, where Scan allocates.)

// ScanFunc calls fn for each key in [start, end) visible to the
// transaction, with its value, in ascending order, until fn returns false;
// nil start or end is unbounded. It sees what Scan sees: the transaction's
// own writes included, the range recorded under Serializable (up to where
// fn stopped).
//
// THE SLICES ARE VALID ONLY UNTIL fn RETURNS. The next step reuses their
// memory: copy what you keep (bytes.Clone, or append to a buffer of your
// own). Writing to them is allowed and changes nothing in the database.
//
// It returns nil when the scan ran, fn's stopping included; a nil fn
// fails with ErrNilArgument. Otherwise it returns why the transaction
// could not scan, as a read would (it is finished, the DB closed, a lock
// wait failed: the wait's error, as Get's), or the error Err reports when
// it ended during the scan (fn's Commit or Rollback, the DB's Close; a
// damaged record, ErrCorrupt; a serialization failure found while
// scanning, which ErrConflict matches).
func (tx *Txn) ScanFunc(start, end []byte, fn func(key, value []byte) bool) error {
	return tx.scanFunc(start, end, false, fn)
}

// ScanReverseFunc is ScanFunc in descending order: from the last key below
// end down to start. The slices are valid only until fn returns, as for
// ScanFunc.
func (tx *Txn) ScanReverseFunc(start, end []byte, fn func(key, value []byte) bool) error {
	return tx.scanFunc(start, end, true, fn)
}

func (tx *Txn) scanFunc(start, end []byte, desc bool, fn func(key, value []byte) bool) error {
	if fn == nil {
		return fmt.Errorf("%w: ScanFunc's function is nil", ErrNilArgument)
	}
	if err := tx.scanRange(start, end, desc, scanBorrowed, fn); err != nil {
		return err
	}
	return tx.Err()
}

// ScanKeys yields the keys in [start, end) visible to the transaction, in
// ascending order, as Scan does, without their values: it reads no value
// of the records it walks, nor verifies their checksums (they cover each
// key with its value), so it costs no more than a walk of the keys. (A key
// whose newest record is newer than the transaction's snapshot is the
// exception: the older version the snapshot sees is looked up, as Get
// does, and verified.)
// The keys are the caller's copies, as Scan's: neighbours share one
// allocation of at most 4 KiB (a key kept for long keeps that much alive;
// bytes.Clone it to keep only its own bytes). Everything else is as for Scan:
// own writes included, the range recorded under Serializable, breaking
// out allowed, Err reporting what ended the scan.
//
// A record damaged on disk can go unnoticed by ScanKeys (a key renamed by
// a flipped bit is yielded as it reads, in or out of order); Scan,
// ScanFunc and Get report it as ErrCorrupt.
func (tx *Txn) ScanKeys(start, end []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		_ = tx.scanRange(start, end, false, scanKeys, func(k, _ []byte) bool { return yield(k) })
	}
}
