//go:build race

package mvcc_test

// raceEnabled: the race detector makes everything several times slower;
// the largest tests scale down under it.
const raceEnabled = true
