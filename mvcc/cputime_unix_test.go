//go:build unix

package mvcc_test

import (
	"syscall"
	"time"
)

// processCPU is the processor time the process has used so far, user and
// system, on all its threads (garbage collection included): a benchmark
// reports it per operation beside the wall-clock time, which a machine
// busy with other work inflates.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
