//go:build !linux

package mvcc_test

// uncache is a no-op here: the cold-cache benchmark runs on Linux.
func uncache(string) bool { return false }

func faults() [2]int64 { return [2]int64{} }
