package anomalies

import "fmt"

// Deadlock is not an anomaly but the price of locking: two transfers that
// lock the same two accounts in opposite orders. It is not in the Catalog
// (no level "allows" it); TestDeadlock runs it at every level.
var Deadlock = &Anomaly{
	Name:    "deadlock",
	Test:    "TestDeadlock",
	Promise: "a lock cycle ends at once, with one transaction told it is the deadlock victim and the other going on",
	Story: "Alice and Bob have 100 each. T1 moves 10 from Alice to Bob and T2 moves 20 from " +
		"Bob to Alice, both with GetForUpdate, each locking the account it takes money from " +
		"first. Each ends up waiting for a lock the other holds.",
	Scenario: Scenario{
		Setup: []KV{{"alice", "100"}, {"bob", "100"}},
		Steps: []Step{
			ReadForUpdate("T1", "alice"),
			ReadForUpdate("T2", "bob"),
			ReadForUpdate("T1", "bob"),
			ReadForUpdate("T2", "alice"),
			Add("T1", "alice", -10),
			Add("T1", "bob", 10),
			Commit("T1"),
			Add("T2", "bob", -20),
			Add("T2", "alice", 20),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		total := o.Int("alice") + o.Int("bob")
		ev := fmt.Sprintf("alice has %s and bob %s (total %d)", o.Get("alice"), o.Get("bob"), total)
		for _, s := range []string{"T1", "T2"} {
			if e, ok := o.FailedStep(s); ok && ErrName(e.Err) == "ErrDeadlock" {
				return total != 200, fmt.Sprintf("the deadlock was broken: %s was chosen as the victim at step %d; %s", s, e.Seq, ev)
			}
		}
		return true, ev + "; no transaction was told about the deadlock"
	},
	Lesson: "Each transaction holds one lock and waits for the other's: neither can go " +
		"on, a deadlock. mvkv keeps a graph of who waits for whom and checks it whenever a " +
		"GetForUpdate has to wait; the wait that would close a cycle fails at once (it does " +
		"not wait for a timeout) with an error that matches both ErrDeadlock and " +
		"ErrConflict, so that db.Update retries it like any conflict. The victim's locks " +
		"are released with its transaction and the other goes on. This happens at every " +
		"level, since every level takes the same locks; the cure is to lock in one agreed " +
		"order (say, by key), which makes cycles impossible.",
}
