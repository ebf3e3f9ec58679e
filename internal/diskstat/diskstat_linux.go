package diskstat

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// For returns the Counter of the block device that holds dir, or nil where
// /proc/diskstats names none (a file system without a device, such as
// tmpfs or an overlay).
func For(dir string) Counter {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return nil
	}
	dev := uint64(st.Dev) //nolint:unconvert // its type differs between architectures
	// The kernel's encoding of a device number (glibc's gnu_dev_major and
	// gnu_dev_minor).
	major := strconv.FormatUint(dev>>8&0xfff|dev>>32&^0xfff, 10)
	minor := strconv.FormatUint(dev&0xff|dev>>12&^0xff, 10)
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
			if len(fs) < 10 || fs[0] != major || fs[1] != minor {
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
