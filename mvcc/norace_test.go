//go:build !race

package mvcc_test

const raceEnabled = false
