package mvcc_test

import (
	"os"
	"syscall"
)

// uncache asks the kernel to drop path's pages from the page cache
// (pages a process maps stay), so that the next reads go to the disk.
// It reports whether the kernel was asked.
func uncache(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	const fadvDontNeed = 4
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	return errno == 0
}

// faults returns the process's minor and major page faults so far.
func faults() [2]int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return [2]int64{ru.Minflt, ru.Majflt}
}
