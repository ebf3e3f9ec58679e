package goals

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data and its length, as the engine's log does.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
