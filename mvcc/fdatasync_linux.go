package mvcc

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and the metadata needed to read it (its
// length), not its times: one disk flush where fsync may take two.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
