package anomalies

import (
	"fmt"
	"strconv"
	"strings"
)

// Read skew and phantoms: a transaction that reads twice and sees the
// database at two different moments.

// NonRepeatableRead is P2, the fuzzy read: one key read twice, two
// committed values.
var NonRepeatableRead = &Anomaly{
	Name:    "non-repeatable (fuzzy) read",
	Code:    "P2",
	Test:    "TestNonRepeatableRead",
	Promise: "a row read twice in one transaction has one value (the fare does not change under Bob)",
	Story: "Bob is booking a flight (T1). His app reads the fare, 300, to show it, then " +
		"reads it again to print on the ticket. In between, the airline (T2) raises the " +
		"fare to 350 and commits. Within Bob's transaction the fare must not change.",
	Scenario: Scenario{
		Setup: []KV{{"flight/fare", "300"}},
		Steps: []Step{
			Read("T1", "flight/fare"),
			Write("T2", "flight/fare", "350"),
			Commit("T2"),
			Read("T1", "flight/fare"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		fares := o.Session("T1").ReadsOf("flight/fare")
		if len(fares) < 2 {
			return false, "Bob's second read did not return" + stopped(o, "T1")
		}
		ev := fmt.Sprintf("Bob read the fare as %s, then %s", fares[0], fares[1])
		return fares[0] != fares[1], ev
	},
	Lesson: "A non-repeatable (fuzzy) read is one row read twice by one transaction " +
		"with two different committed values, because another transaction updated it and " +
		"committed in between: Bob was shown 300 and ticketed at 350. It is P2 of Berenson " +
		"et al., the phenomenon that separates read committed from repeatable read in the " +
		"SQL standard. Read committed allows it: each read sees what is committed at that " +
		"moment. Snapshot and serializable prevent it: every read of the transaction sees " +
		"its snapshot, taken at Begin, so Bob reads 300 twice; the airline's commit is " +
		"not an error for either (Bob only read). Read skew (TestReadSkew) is the same " +
		"thing across two rows, and a phantom (TestPhantom) across a range.",
}

// ReadSkew is G-single with point reads: a reader sees one account before
// a transfer and the other after it.
var ReadSkew = &Anomaly{
	Name:    "read skew",
	Code:    "G-single",
	Test:    "TestReadSkew",
	Promise: "a transaction sees one consistent state (Alice's accounts add up to 1000)",
	Story: "Alice has 1000: 500 in checking and 500 in savings. While she looks at her " +
		"accounts one by one (T1), the bank moves 100 from savings to checking (T2). " +
		"Whatever the moment, her money adds up to 1000.",
	Scenario: Scenario{
		Setup: []KV{{"alice/checking", "500"}, {"alice/savings", "500"}},
		Steps: []Step{
			Read("T1", "alice/checking"),
			Read("T2", "alice/checking"),
			Read("T2", "alice/savings"),
			Add("T2", "alice/checking", 100),
			Add("T2", "alice/savings", -100),
			Commit("T2"),
			Read("T1", "alice/savings"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		c, okc := o.Seen("T1", "alice/checking")
		s, oks := o.Seen("T1", "alice/savings")
		if !okc || !oks {
			return false, "Alice's second read did not return" + stopped(o, "T1")
		}
		total := atoi(c) + atoi(s)
		ev := fmt.Sprintf("Alice saw checking %s + savings %s = %d", c, s, total)
		return total != 1000, ev
	},
	Lesson: "Read skew (a non-repeatable read across two rows): the reader sees the checking account before " +
		"the transfer and the savings account after it, so 100 seem to have vanished. " +
		"Nothing is corrupted (read again, it adds up), but a backup, a report or an " +
		"integrity check taken this way is wrong. Read committed allows it: each read sees " +
		"the data committed at that moment. Snapshot and serializable prevent it: every read " +
		"of the transaction sees the one snapshot taken when it began, so the transfer " +
		"is either wholly visible or not at all.",
}

// ReadSkewPredicate is G-single with predicate (range) reads: money moved
// into a new account counted twice.
var ReadSkewPredicate = &Anomaly{
	Name:    "read skew over predicates",
	Code:    "G-single",
	Test:    "TestReadSkewPredicate",
	Promise: "a transaction sees one consistent state (the audit finds 1000)",
	Story: "Alice has 1000: 500 in checking accounts and 500 in savings accounts. An " +
		"auditor (T1) sums all her checking accounts, then all her savings accounts (two " +
		"range reads). Meanwhile Alice (T2) moves 100 from checking into a new savings " +
		"account. The audit must find 1000.",
	Scenario: Scenario{
		Setup: []KV{{"checking/alice-1", "500"}, {"savings/alice-1", "500"}},
		Steps: []Step{
			Sum("T1", "checking/"),
			Read("T2", "checking/alice-1"),
			Add("T2", "checking/alice-1", -100),
			Write("T2", "savings/alice-2", "100"),
			Commit("T2"),
			Sum("T1", "savings/"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		c, s := o.Note("T1", "sum checking/"), o.Note("T1", "sum savings/")
		if c == "" || s == "" {
			return false, "the audit did not finish" + stopped(o, "T1")
		}
		total := atoi(c) + atoi(s)
		ev := fmt.Sprintf("the audit found checking %s + savings %s = %d", c, s, total)
		return total != 1000, ev
	},
	Lesson: "The same read skew with range reads: the first sum sees the checking accounts " +
		"before the move and the second sees the savings accounts after it, including a " +
		"row that did not exist when the audit began, so 100 are counted twice. Read " +
		"committed allows it. Snapshot and serializable prevent it: a range read, like a " +
		"point read, sees the transaction's snapshot, and rows inserted after it are " +
		"invisible.",
}

// Phantom is the phantom read (PMP, predicate-many-preceders): the same
// range read twice returns a new row.
var Phantom = &Anomaly{
	Name:    "phantom",
	Code:    "PMP",
	Test:    "TestPhantom",
	Promise: "a search repeated in one transaction returns the same rows",
	Story: "Room 123 has one booking today, Carol at 09:00. The receptionist (T1) lists " +
		"the room's bookings for the door sign, then lists them again to print the copy. " +
		"Meanwhile Bob (T2) books 12:00. Both listings of one transaction must agree.",
	Scenario: Scenario{
		Setup: []KV{{"room123/09:00", "carol"}},
		Steps: []Step{
			Scan("T1", "room123/"),
			Write("T2", "room123/12:00", "bob"),
			Commit("T2"),
			Scan("T1", "room123/"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		lists := o.Session("T1").ReadsOf("room123/*")
		if len(lists) < 2 {
			return false, "the second listing did not return" + stopped(o, "T1")
		}
		ev := fmt.Sprintf("the receptionist listed %q, then %q", lists[0], lists[1])
		return lists[0] != lists[1], ev
	},
	Lesson: "A phantom is a row that appears in (or vanishes from) the answer to a " +
		"search when the same search runs again in the same transaction: another " +
		"transaction inserted a row matching it and committed in between. Locking the rows " +
		"read cannot stop it, since the new row did not exist to be locked; a lock on the " +
		"range can (the serializable-locking column takes key-range locks, so Bob's insert " +
		"waits for the receptionist). Read committed allows it. Snapshot and serializable prevent it: the range read sees the " +
		"transaction's snapshot, so Bob's 12:00 booking, committed later, is invisible to " +
		"the receptionist until she starts a new transaction. (Phantoms that lead to " +
		"wrong writes are the write skew over a range, TestWriteSkewRange.)",
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}
