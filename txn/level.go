package txn

import (
	"fmt"
	"strings"
)

// Level is a transaction isolation level. The zero Level is
// ReadCommitted, the weakest, where lost updates are possible.
type Level uint8

const (
	// ReadCommitted: every read sees the latest committed data at the moment
	// of that read. Concurrent writers of one key both commit; the last wins.
	ReadCommitted Level = iota
	// Snapshot: all reads see one snapshot taken at Begin. Of two concurrent
	// transactions that write the same key, at most one commits.
	Snapshot
	// Serializable: Snapshot plus serializable-snapshot-isolation checks, so
	// that the committed history is equivalent to some serial order.
	Serializable
)

// String returns the level's canonical name.
func (l Level) String() string {
	switch l {
	case ReadCommitted:
		return "read-committed"
	case Snapshot:
		return "snapshot"
	case Serializable:
		return "serializable"
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Valid reports whether l is one of the three levels.
func (l Level) Valid() bool { return l <= Serializable }

// ErrBadLevel is returned by ParseLevel for an unknown name.
var ErrBadLevel = fmt.Errorf("unknown isolation level")

// ParseLevel returns the level a name stands for. It accepts the names
// String returns ("read-committed", "snapshot", "serializable"),
// "repeatable-read" for Snapshot (the name PostgreSQL uses for the same
// guarantee), and the abbreviations "rc", "si", "rr" and "ssi". Case,
// surrounding spaces and the choice of '-', '_' or ' ' as separator do
// not matter. Any other name fails with ErrBadLevel.
func ParseLevel(s string) (Level, error) {
	n := strings.NewReplacer("_", "-", " ", "-").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch n {
	case "read-committed", "rc":
		return ReadCommitted, nil
	case "snapshot", "si", "repeatable-read", "rr":
		return Snapshot, nil
	case "serializable", "ssi":
		return Serializable, nil
	}
	return 0, fmt.Errorf("%w %q (want read-committed, snapshot or serializable)", ErrBadLevel, s)
}
