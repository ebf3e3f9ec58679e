package mvcc

import "strconv"

// quoteKey renders a key for error messages, shortened when long.
func quoteKey(k []byte) string {
	if len(k) > 64 {
		return strconv.Quote(string(k[:64])) + "..."
	}
	return strconv.Quote(string(k))
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }
