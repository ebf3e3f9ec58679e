package anomalies

import (
	"fmt"
	"slices"
	"strings"
)

// The anomalies that need uncommitted data to be seen or overwritten: G0,
// G1a, G1b, G1c, and the observed-transaction-vanishes anomaly. mvkv
// buffers writes in the transaction until Commit and applies a commit's
// writes all at once, so none of them can happen at any level; the runs
// show it.

// DirtyWrite is G0: a write over another transaction's uncommitted write.
var DirtyWrite = &Anomaly{
	Name:    "dirty write",
	Code:    "G0",
	Test:    "TestDirtyWrite",
	Promise: "both rows of the purchase name the same buyer (no write lands on another transaction's uncommitted write)",
	Story: "Alice (T1) and Bob (T2) both buy car 42 at the same moment. Buying a car " +
		"writes two rows: the listing's buyer and the invoice's recipient. Whoever wins, " +
		"the two rows must name the same person.",
	Scenario: Scenario{
		Setup: []KV{{"car42/buyer", "nobody"}, {"car42/invoice", "nobody"}},
		Steps: []Step{
			Write("T1", "car42/buyer", "alice"),
			Write("T2", "car42/buyer", "bob"),
			Write("T1", "car42/invoice", "alice"),
			Commit("T1"),
			Write("T2", "car42/invoice", "bob"),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		buyer, invoice := o.Get("car42/buyer"), o.Get("car42/invoice")
		ev := fmt.Sprintf("the listing says %s bought the car and the invoice goes to %s", buyer, invoice)
		if buyer != invoice {
			return true, ev
		}
		return false, ev + stopped(o, "T2")
	},
	Lesson: "A dirty write is a write over data another transaction wrote but has not " +
		"committed yet. Had Bob's buyer row overwritten Alice's uncommitted one, and Alice's " +
		"invoice then landed after Bob's, the car would go to Bob and the bill to Alice. " +
		"Databases that write in place prevent it at every level by locking the row until " +
		"commit. mvkv prevents it at every level by construction: writes stay in the " +
		"transaction until Commit, which applies them all at once, so there is never " +
		"uncommitted data to overwrite. At read committed the last committer wins as a whole " +
		"(both rows say bob: Bob's purchase replaced Alice's whole, as if Alice had bought " +
		"first and Bob after, and the dependency graph has one ww edge, Alice to Bob, and no " +
		"cycle; neither read anything, so nothing was lost on the way); at snapshot and serializable first-committer-wins stops Bob with " +
		"ErrConflict as soon as he writes a row Alice committed after he began.",
}

// AbortedRead is G1a: reading data that is later rolled back.
var AbortedRead = &Anomaly{
	Name:    "dirty read of an aborted write",
	Code:    "G1a",
	Test:    "TestDirtyReadAborted",
	Promise: "no transaction reads data that a rollback then undoes",
	Story: "Order 17 is being paid (T1): the payment service marks it paid, then the card is " +
		"declined and the transaction rolls back. Meanwhile the warehouse (T2) looks at the " +
		"order to decide whether to ship it.",
	Scenario: Scenario{
		Setup: []KV{{"order17/status", "unpaid"}},
		Steps: []Step{
			Write("T1", "order17/status", "paid"),
			Read("T2", "order17/status"),
			Rollback("T1"),
			Read("T2", "order17/status"),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		seen := o.Session("T2").ReadsOf("order17/status")
		ev := "the warehouse read the status as " + strings.Join(seen, ", then ")
		return slices.Contains(seen, "paid"), ev
	},
	Lesson: "A dirty read of an aborted write means acting on data that never existed: the " +
		"warehouse would ship an order that was never paid. Every level forbids it. mvkv " +
		"cannot show uncommitted data to anyone, since a transaction's writes exist only " +
		"inside it until Commit; a rollback just drops them.",
}

// IntermediateRead is G1b: reading a value its writer later overwrote
// before committing.
var IntermediateRead = &Anomaly{
	Name:    "dirty read of an intermediate value",
	Code:    "G1b",
	Test:    "TestDirtyReadIntermediate",
	Promise: "no transaction reads a value that its writer replaced before committing",
	Story: "The checkout (T1) updates order 17's total in two steps: first 150 with a " +
		"provisional shipping cost, then 130 once the real cost is known. The invoicing job " +
		"(T2) reads the total meanwhile.",
	Scenario: Scenario{
		Setup: []KV{{"order17/total", "100"}},
		Steps: []Step{
			Write("T1", "order17/total", "150"),
			Read("T2", "order17/total"),
			Write("T1", "order17/total", "130"),
			Commit("T1"),
			Read("T2", "order17/total"),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		seen := o.Session("T2").ReadsOf("order17/total")
		ev := "the invoicing job read the total as " + strings.Join(seen, ", then ")
		return slices.Contains(seen, "150"), ev
	},
	Lesson: "An intermediate read sees a value its writer replaced before committing: 150 " +
		"was never the total of the order in any committed state. Every level forbids it; " +
		"in mvkv only the last value a transaction wrote to a key is committed, and nobody " +
		"sees it before the commit. At read committed the second read sees the committed 130 " +
		"(that change between two reads is allowed there); at snapshot and serializable it " +
		"still sees 100, the value as of the transaction's start.",
}

// CircularInformationFlow is G1c: two transactions each see the other's
// uncommitted write.
var CircularInformationFlow = &Anomaly{
	Name:    "circular information flow",
	Code:    "G1c",
	Test:    "TestDirtyReadCircular",
	Promise: "no two transactions each see the other's uncommitted write",
	Story: "Alice (T1) and Bob (T2) each mark themselves out of the office, then look " +
		"at the other's status. If each saw the other's change, each would have happened " +
		"before the other.",
	Scenario: Scenario{
		Setup: []KV{{"status/alice", "in"}, {"status/bob", "in"}},
		Steps: []Step{
			Write("T1", "status/alice", "out"),
			Write("T2", "status/bob", "out"),
			Read("T1", "status/bob"),
			Read("T2", "status/alice"),
			Commit("T1"),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		a, oka := o.Seen("T1", "status/bob")
		b, okb := o.Seen("T2", "status/alice")
		saw := func(who, whom, v string, ok bool) string {
			if !ok {
				return who + " did not read " + whom + "'s status"
			}
			return who + " saw " + whom + " " + v
		}
		ev := saw("Alice", "Bob", a, oka) + " and " + saw("Bob", "Alice", b, okb)
		return a == "out" || b == "out", ev + stopped(o, "T1", "T2")
	},
	Lesson: "Circular information flow is two transactions each reading the other's " +
		"uncommitted write, so neither can be ordered first. Every level forbids it, and in " +
		"mvkv no transaction ever sees another's uncommitted write. Under serializable the " +
		"pair is still not serializable, for another reason: each read what the other " +
		"overwrote (each one's read must come before the other's write), the pattern of write " +
		"skew, so SSI aborts one of them with ErrConflict. At read committed and snapshot " +
		"that write skew goes through: no uncommitted write was seen, yet the dependency " +
		"graph has its cycle of two rw edges.",
}

// ObservedTransactionVanishes is OTV (from Hermitage): a reader sees one of
// a transaction's writes and then, later, misses another.
var ObservedTransactionVanishes = &Anomaly{
	Name:    "observed transaction vanishes",
	Code:    "OTV",
	Test:    "TestObservedTransactionVanishes",
	Promise: "once a reader has seen a transaction's write, it never reads a key that transaction wrote as it was before it",
	Story: "Two transactions each set a pair of values: T1 writes x=11 y=19, T2 writes " +
		"x=12 y=18. A reader (T3) reads x and y one at a time while they commit. Once the " +
		"reader has seen something of T2, it must never see a value older than T2's for " +
		"the keys T2 wrote.",
	Scenario: Scenario{
		Setup: []KV{{"pair/x", "10"}, {"pair/y", "20"}},
		Steps: []Step{
			Write("T1", "pair/x", "11"),
			Write("T1", "pair/y", "19"),
			Write("T2", "pair/x", "12"),
			Commit("T1"),
			Read("T3", "pair/x"),
			Write("T2", "pair/y", "18"),
			Read("T3", "pair/y"),
			Commit("T2"),
			Read("T3", "pair/y"),
			Read("T3", "pair/x"),
			Commit("T3"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		t2 := map[string]string{"pair/x": "12", "pair/y": "18"}
		reads := o.Session("T3").Reads()
		var seq []string
		sawT2 := false
		vanished := ""
		for _, kv := range reads {
			seq = append(seq, strings.TrimPrefix(kv.Key, "pair/")+"="+kv.Value)
			if kv.Value == t2[kv.Key] {
				sawT2 = true
			} else if sawT2 && o.Committed("T2") && vanished == "" {
				vanished = kv.Key
			}
		}
		ev := "the reader saw " + strings.Join(seq, ", ")
		if vanished != "" {
			return true, ev + ": after seeing T2 it read " + vanished + " without T2's write"
		}
		return false, ev + stopped(o, "T2")
	},
	Lesson: "A transaction vanishes when a reader sees part of its effects and later " +
		"reads something from before it, as if it had been undone. It needs either dirty " +
		"reads or a commit that becomes visible key by key. In mvkv a commit's writes become " +
		"visible together, in commit order, and read committed reads always move forward in " +
		"time, so once T3 has seen T2 it keeps seeing it: prevented at every level. (T3's " +
		"reads at read committed still come from two moments, x before T2 and after it, a " +
		"non-repeatable read that read committed allows; the dependency graph shows its " +
		"cycle.) At " +
		"snapshot and serializable T2 does not even commit: it wrote y after T1 had " +
		"committed y, so first-committer-wins stops it with ErrConflict.",
}

// stopped describes, for the evidence, which of the sessions an error
// stopped and at which step ("" when none was).
func stopped(o *Outcome, sessions ...string) string {
	var parts []string
	for _, s := range sessions {
		if e, ok := o.FailedStep(s); ok {
			parts = append(parts, fmt.Sprintf("%s got %s at step %d (%s)", s, ErrName(e.Err), e.Seq, e.Op))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}
