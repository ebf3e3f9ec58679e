//go:build !linux

package mvcc

import "os"

// readsRandom is a hint that only Linux takes here.
func readsRandom(*os.File) {}
