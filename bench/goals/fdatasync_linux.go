package goals

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and its length, as the engine's log does.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
