package mvcc

import (
	"os"
	"syscall"
)

// readsRandom tells the kernel that f is read at scattered offsets: Open's
// checks read a few pages here and there, and readahead would turn each
// into many (tens of kilobytes each, for a file out of the page cache).
func readsRandom(f *os.File) {
	const fadvRandom = 1
	_, _, _ = syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvRandom, 0, 0)
}
