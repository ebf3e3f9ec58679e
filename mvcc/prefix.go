package mvcc

import "bytes"

// PrefixEnd returns the first key after every key that begins with
// prefix, or nil (unbounded) when there is none (prefix is empty or all
// 0xff bytes): the end bound of a scan over the prefix, as in
//
//	tx.ScanReverse(prefix, mvcc.PrefixEnd(prefix)) // ScanPrefix, descending
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
