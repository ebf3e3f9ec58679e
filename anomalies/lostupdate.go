package anomalies

import "fmt"

// The bank balance: two deposits, each a read-modify-write done in the
// application's code.

// LostUpdate is P4: two read-modify-write cycles on one key, the second
// overwriting the first without seeing it.
var LostUpdate = &Anomaly{
	Name:    "lost update",
	Code:    "P4",
	Test:    "TestLostUpdate",
	Promise: "every committed deposit is in the final balance",
	Story: "Alice's balance is 100. Two deposits arrive at the same moment: T1 adds 50, " +
		"T2 adds 20. Each reads the balance, adds its amount in the application, and writes " +
		"the sum back. Every committed deposit must be in the final balance.",
	Scenario: Scenario{
		Setup: []KV{{"balance", "100"}},
		Steps: []Step{
			Read("T1", "balance"),
			Read("T2", "balance"),
			Add("T1", "balance", 50),
			Add("T2", "balance", 20),
			Commit("T1"),
			Commit("T2"),
		},
	},
	Check: checkDeposits,
	Lesson: "A lost update happens when two transactions read the same value, each " +
		"computes a new one from it, and the second write silently replaces the first: the " +
		"bank keeps one deposit and forgets the other. Read committed allows it: each read " +
		"sees committed data, and the last committer wins. Snapshot prevents it by " +
		"first-committer-wins: of two concurrent transactions that write the same key only " +
		"the first to commit succeeds, the other gets ErrConflict and must run again on " +
		"fresh data (db.Update does that retry). Serializable includes that rule. At read " +
		"committed the fix is to lock the row you are about to update with GetForUpdate (see " +
		"TestLostUpdateFixedWithGetForUpdate), or to retry at snapshot.",
}

// LostUpdateFixedWithGetForUpdate is the lost update with the read done by
// GetForUpdate: the second deposit waits for the first.
var LostUpdateFixedWithGetForUpdate = &Anomaly{
	Name:    "lost update, fixed with GetForUpdate",
	Test:    "TestLostUpdateFixedWithGetForUpdate",
	Promise: "every committed deposit is in the final balance",
	Fix:     true,
	Story: "The same two deposits (T1 adds 50, T2 adds 20 to a balance of 100), but each " +
		"reads the balance with GetForUpdate, which locks the key until the transaction ends.",
	Scenario: Scenario{
		Setup: []KV{{"balance", "100"}},
		Steps: []Step{
			ReadForUpdate("T1", "balance"),
			ReadForUpdate("T2", "balance"),
			Add("T1", "balance", 50),
			Commit("T1"),
			Add("T2", "balance", 20),
			Commit("T2"),
		},
	},
	Check: checkDeposits,
	Lesson: "GetForUpdate takes an exclusive lock on the key, so the second deposit waits " +
		"at its read until the first one commits, and the read-modify-write cycles run one " +
		"after the other. At read committed the waiter then reads the new balance (150) and " +
		"both deposits count: the lost update is fixed without any retry. At snapshot and " +
		"serializable the waiter's snapshot is older than the balance it would now read, so " +
		"it gets ErrConflict instead and must retry; the lock then spares it the wasted work " +
		"of running to its commit only to fail there.",
}

// checkDeposits: the final balance must be 100 plus every committed
// deposit.
func checkDeposits(o *Outcome) (bool, string) {
	want := 100
	if o.Committed("T1") {
		want += 50
	}
	if o.Committed("T2") {
		want += 20
	}
	got := o.Int("balance")
	if got != want {
		return true, fmt.Sprintf("the balance is %d, but 100 plus the committed deposits is %d: "+
			"a deposit was lost%s", got, want, stopped(o, "T1", "T2"))
	}
	return false, fmt.Sprintf("the balance is %d, every committed deposit included%s", got, stopped(o, "T1", "T2"))
}
