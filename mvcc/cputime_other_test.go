//go:build !unix

package mvcc_test

import "time"

// processCPU is not measured here: benchmarks omit what they derive from it.
func processCPU() time.Duration { return 0 }
