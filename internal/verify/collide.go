package verify

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mvkv/mvkv/internal/elle"
	"github.com/mvkv/mvkv/mvcc"
)

// Collision is a scripted interleaving of two list-append transactions on
// two keys, x and y: RunCollision performs its steps one at a time, in
// one goroutine, in the order written. So the two transactions overlap
// exactly as the script says whatever the machine's load, and the anomaly
// it is built to produce happens for certain wherever the level allows
// it (a random workload makes it only likely). No step waits for the
// other transaction: a write comes after the other's commit wherever a
// store that locks rows as it writes them (PostgreSQL) would make it wait.
type Collision struct {
	Name string
	// Shows is the anomaly the interleaving produces where the level
	// allows it; where the level forbids it, a transaction fails instead.
	Shows elle.Kind
	// ForUpdate says whether the script can run with GetForUpdate on every
	// append: it cannot where both transactions lock one key (the second
	// would wait for the first, in the same goroutine).
	ForUpdate bool
	steps     []step
}

// stepKind is what a step of a Collision does.
type stepKind int

const (
	read    stepKind = iota // read the key's list
	readFor                 // read it for an append (GetForUpdate with ForUpdate)
	write                   // write back the list last read, one element longer
	commit
)

// step is transaction tx (0 or 1) doing kind on key ("x" or "y").
type step struct {
	tx   int
	kind stepKind
	key  string
}

// Collisions are the scripted interleavings of the anomalies read
// committed and snapshot allow in list-append histories.
var Collisions = []Collision{
	{
		// Both read x before either writes it; the second write is
		// based on the read that the first commit made stale.
		Name: "lost update", Shows: elle.LostUpdate,
		steps: []step{{0, readFor, "x"}, {1, readFor, "x"}, {0, write, "x"}, {0, commit, ""}, {1, write, "x"}, {1, commit, ""}},
	},
	{
		// T0 reads x, T1 appends to x and y and commits, T0 reads y: it
		// saw x before T1 and y after it.
		Name: "read skew", Shows: elle.GSingle, ForUpdate: true,
		steps: []step{{0, read, "x"}, {1, readFor, "x"}, {1, write, "x"}, {1, readFor, "y"}, {1, write, "y"}, {1, commit, ""},
			{0, read, "y"}, {0, commit, ""}},
	},
	{
		// Both read x and y; T0 appends to x, T1 to y: each wrote what
		// the other read before it.
		Name: "write skew", Shows: elle.G2Item, ForUpdate: true,
		steps: []step{{0, read, "x"}, {0, read, "y"}, {1, read, "x"}, {1, read, "y"},
			{0, readFor, "x"}, {0, write, "x"}, {1, readFor, "y"}, {1, write, "y"}, {0, commit, ""}, {1, commit, ""}},
	},
}

// scripted is one transaction of a Collision as it goes.
type scripted struct {
	tx     Txn
	ops    []elle.Op
	last   map[string][]int // the list last read of each key
	failed bool
}

// RunCollision performs c with the transactions begin starts (client 0
// and 1; -1 for the final read) on the keys prefix+"x" and prefix+"y",
// with GetForUpdate on every append when forUpdate, and returns the
// history: a first transaction that gives each key one element (so that
// every write updates a row that exists), the two scripted ones, and a
// final read of both keys. A transaction that fails with ErrConflict is
// recorded as Failed with the operations it got through; any other error
// is returned.
func RunCollision(begin Begin, c Collision, prefix string, forUpdate bool) (elle.History, error) {
	if forUpdate && !c.ForUpdate {
		return nil, fmt.Errorf("verify: the %s script cannot run with GetForUpdate: both transactions lock one key", c.Name)
	}
	keys := []string{prefix + "x", prefix + "y"}
	setup := []elle.Op{elle.A(keys[0], 1), elle.A(keys[1], 1)}
	ops, status, err := runAppendTxn(begin, 0, false, setup)
	if err != nil {
		return nil, err
	}
	if status != elle.OK {
		return nil, fmt.Errorf("verify: the %s script's setup transaction failed", c.Name)
	}
	h := elle.History{{ID: 1, Status: elle.OK, Ops: ops}}

	var ts [2]*scripted
	for i := range ts {
		tx, err := begin(i)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback() //nolint:errcheck // no-op after Commit
		ts[i] = &scripted{tx: tx, last: map[string][]int{}}
	}
	next := 10 // elements appended by the script: 10, 11, ...
	for _, s := range c.steps {
		t := ts[s.tx]
		if t.failed {
			continue
		}
		key := prefix + s.key
		var err error
		switch s.kind {
		case read, readFor:
			get := t.tx.Get
			if s.kind == readFor && forUpdate {
				get = t.tx.GetForUpdate
			}
			var list []int
			if list, err = readList(get, key); err == nil {
				t.ops = append(t.ops, elle.R(key, list))
				t.last[key] = list
			}
		case write:
			next++
			if err = t.tx.Put([]byte(key), encodeList(append(t.last[key], next))); err == nil {
				t.ops = append(t.ops, elle.A(key, next))
			}
		case commit:
			err = t.tx.Commit()
		}
		if errors.Is(err, mvcc.ErrConflict) {
			t.failed = true
			_ = t.tx.Rollback()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("verify: %s, transaction %d, step %d on %s: %w", c.Name, s.tx, s.kind, key, err)
		}
	}
	for i, t := range ts {
		status := elle.OK
		if t.failed {
			status = elle.Failed
		}
		h = append(h, elle.Txn{ID: 2 + i, Status: status, Ops: t.ops})
	}
	final, status, err := runAppendTxn(begin, -1, false, []elle.Op{elle.R(keys[0], nil), elle.R(keys[1], nil)})
	if err != nil {
		return nil, err
	}
	return append(h, elle.Txn{ID: 4, Status: status, Ops: final}), nil
}

// CheckCollisions runs every Collision that can run with forUpdate on the
// transactions begin starts, each on keys of its own under prefix, and
// judges each history with elle: it returns an error naming the first
// collision that shows an anomaly of forbidden, or that does not show its
// own where expected lists it, or an anomaly of expected that no collision
// showed. The collisions are certain, so expected anomalies are claims a
// level's test can make, where a random workload can only report them.
func CheckCollisions(begin Begin, prefix string, forUpdate bool, forbidden, expected []elle.Kind) error {
	shown := map[elle.Kind]bool{}
	for i, c := range Collisions {
		if forUpdate && !c.ForUpdate {
			continue
		}
		h, err := RunCollision(begin, c, fmt.Sprintf("%s%d/", prefix, i), forUpdate)
		if err != nil {
			return err
		}
		rep := elle.Check(h)
		for _, k := range forbidden {
			if rep.Has(k) {
				return fmt.Errorf("verify: the %s collision shows %s, which is forbidden:\n%s", c.Name, k, rep)
			}
		}
		if slices.Contains(expected, c.Shows) {
			if !rep.Has(c.Shows) {
				return fmt.Errorf("verify: the %s collision does not show %s:\n%s", c.Name, c.Shows, rep)
			}
			shown[c.Shows] = true
		}
	}
	for _, k := range expected {
		if !shown[k] {
			return fmt.Errorf("verify: no collision shows %s", k)
		}
	}
	return nil
}
