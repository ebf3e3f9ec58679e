package goals

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// deviceWrites returns a reader of the bytes written so far to the block
// device that holds dir, from /proc/diskstats (its sectors written, 512
// bytes each): what reached the disk, the file system's journal included,
// not what a process asked to write. The count is the device's, so it
// includes every other process's writes to it. It returns nil where no
// device can be named (a file system without one, such as tmpfs).
func deviceWrites(dir string) deviceCounter {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil
	}
	major, minor := unix.Major(st.Dev), unix.Minor(st.Dev)
	read := func() (int64, bool) {
		f, err := os.Open("/proc/diskstats")
		if err != nil {
			return 0, false
		}
		defer func() { _ = f.Close() }()
		s := bufio.NewScanner(f)
		for s.Scan() {
			// major minor name reads merged sectors ms writes merged sectors ...
			fs := strings.Fields(s.Text())
			if len(fs) < 10 || fs[0] != strconv.FormatUint(uint64(major), 10) || fs[1] != strconv.FormatUint(uint64(minor), 10) {
				continue
			}
			n, err := strconv.ParseInt(fs[9], 10, 64)
			return n * 512, err == nil
		}
		return 0, false
	}
	if _, ok := read(); !ok {
		return nil
	}
	return read
}
