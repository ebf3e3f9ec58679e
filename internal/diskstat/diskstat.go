// Package diskstat counts what reaches a disk: the bytes written to the
// block device that holds a directory, as the kernel counts them
// (/proc/diskstats' sectors written, on Linux), so that a benchmark can
// say how many bytes a commit cost the disk, its file system's journal
// included, rather than how many a process asked to write. The count is
// the device's: it includes every other process's writes to it.
package diskstat

// Counter reads the bytes written so far to one block device. A nil
// Counter counts nothing: Read reports false.
type Counter func() (int64, bool)

// Read returns the count, false when there is none.
func (c Counter) Read() (int64, bool) {
	if c == nil {
		return 0, false
	}
	return c()
}
