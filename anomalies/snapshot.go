package anomalies

import (
	"fmt"
	"strconv"
)

// What snapshot isolation is, in Adya's terms (Adya, "Weak Consistency",
// MIT 1999, ch. 4): PL-SI forbids what PL-2 (read committed) forbids and
// two phenomena more, G-SIa and G-SIb, defined on the graph of
// dependencies plus "start" edges (Ti → Tj when Ti committed before Tj
// began). Read committed allows both; these lessons show each.

// Interference is G-SIa: a transaction reads and overwrites the work of a
// transaction that committed after it began.
var Interference = &Anomaly{
	Name:    "interference",
	Code:    "G-SIa",
	Test:    "TestInterference",
	Promise: "a snapshot's promise (a transaction sees the database as of its start, and writes only over data it could see)",
	Story: "A shop's prices: apples 2, pears 4, cherries 7. At 9:00 the manager (T1) " +
		"opens the price list and looks at the cherries. At 9:01 the nightly update (T2) " +
		"raises apples to 3 and pears to 5 and commits. Then the manager looks at the " +
		"apples and sets pears to 6. A transaction that began at 9:00 is to see the " +
		"prices of 9:00, and change only prices as it saw them.",
	Scenario: Scenario{
		Setup: []KV{{"price/apple", "2"}, {"price/cherry", "7"}, {"price/pear", "4"}},
		Steps: []Step{
			Read("T1", "price/cherry"),
			Write("T2", "price/apple", "3"),
			Write("T2", "price/pear", "5"),
			Commit("T2"),
			Read("T1", "price/apple"),
			Write("T1", "price/pear", "6"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		apple, _ := o.Seen("T1", "price/apple")
		ev := "the manager, who began before the update committed, read apples at " + apple
		if apple == "3" {
			ev += " (the update's price)"
		}
		if o.Committed("T1") {
			ev += " and replaced the update's pears at 5 with 6"
		}
		return apple == "3" || o.Committed("T1"), ev + stopped(o, "T1")
	},
	Lesson: "Interference (G-SIa) is a transaction reading or overwriting the writes of " +
		"another that committed after it began: here both, the manager read the update's " +
		"apple price and overwrote its pear price. It breaks no invariant and no serial " +
		"order: every dependency goes from the update to the manager, so the history is " +
		"the update then the manager, and a level that promises only committed data, as " +
		"read committed does, is right to allow it. What it breaks is a promise of " +
		"snapshots: a transaction sees the database as of its start, and nothing that " +
		"commits later, neither by reading it nor by writing over it; that is the first " +
		"half of Adya's definition of snapshot isolation. Snapshot and serializable keep " +
		"both halves: the " +
		"read sees the snapshot (apples at 2), and the write of pears, which the update " +
		"committed after that snapshot, fails with ErrConflict (first-committer-wins, even " +
		"for a write that read nothing). That is the rule that makes a snapshot " +
		"transaction's writes apply to the state it read; G-SIb (TestMissedEffects) shows " +
		"the damage when they do not. Read skew (TestReadSkew) is interference too, where " +
		"the reader also read something from before the other's commit. Serializable by " +
		"locking allows it, as every two-phase locking engine does: a locking transaction " +
		"has no snapshot, it reads the newest data under its locks, so the manager sees " +
		"apples at 3 and writes pears after the update; the history stays serializable " +
		"(T2 then T1), which is all that column promises.",
	SnapshotOnly: true,
}

// grossFromNet writes gross = net × 5/4 (a 25% tax) from the net price
// the session read.
func grossFromNet(session, net, gross string) Step {
	return Do(session, "write "+gross+" = read "+net+" × 1.25", func(s *Session) (string, error) {
		v := strconv.Itoa(s.SeenInt(net) * 5 / 4)
		return v, s.Tx.Put([]byte(gross), []byte(v))
	})
}

// MissedEffects is G-SIb: a cycle with a single anti-dependency, where a
// transaction misses another's write yet comes after it.
var MissedEffects = &Anomaly{
	Name:    "missed effects",
	Code:    "G-SIb",
	Test:    "TestMissedEffects",
	Promise: "the gross price is the net price plus 25%",
	Story: "A shop stores each price net and gross (net plus 25% tax): pears cost 4 " +
		"net, 5 gross. The tax job (T1) reads the net price to recompute the gross one. " +
		"Meanwhile a price change (T2) sets pears to 8 net, 10 gross, and commits. Then " +
		"the tax job writes the gross price it computed. The gross price must always be " +
		"the net price plus 25%.",
	Scenario: Scenario{
		Setup: []KV{{"gross/pear", "5"}, {"net/pear", "4"}},
		Steps: []Step{
			Read("T1", "net/pear"),
			Write("T2", "net/pear", "8"),
			Write("T2", "gross/pear", "10"),
			Commit("T2"),
			grossFromNet("T1", "net/pear", "gross/pear"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		net, gross := o.Int("net/pear"), o.Int("gross/pear")
		ev := fmt.Sprintf("pears cost %d net and %d gross", net, gross)
		return gross != net*5/4, ev + stopped(o, "T1")
	},
	Lesson: "The tax job missed the price change (it read the net price from before it) " +
		"and yet comes after it (its write of the gross price replaced the change's): two " +
		"edges in opposite directions, a cycle with exactly one anti-dependency, which " +
		"Adya calls G-SIb, missed effects. No serial order gives 8 net and 5 gross. Read " +
		"committed allows it, like its other forms, the lost update (TestLostUpdate) and " +
		"read skew (TestReadSkew). Snapshot and serializable prevent it: the tax job wrote " +
		"a key that the price change committed after the job's snapshot, so first-" +
		"committer-wins stops it with ErrConflict, and its retry computes 10. Together " +
		"with G-SIa (TestInterference) this is the whole definition: snapshot isolation " +
		"is read committed without interference and without missed effects, so every " +
		"cycle it still allows has at least two anti-dependencies, one after the other; " +
		"that is write skew (TestWriteSkew), and exactly the structure serializable " +
		"(SSI) looks for and breaks.",
}
