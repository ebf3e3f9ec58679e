package anomalies

import (
	"fmt"
	"strconv"
)

// The read-only anomaly of Fekete, O'Neil and O'Neil ("A Read-Only
// Transaction Anomaly Under Snapshot Isolation", SIGMOD Record 2004): two
// updating transactions whose history is serializable on its own, made
// non-serializable by a reader that only looks.

// withdraw takes 10 from checking, charging a 1 overdraft fee when, by what
// the session read, checking plus savings would go below zero.
func withdraw(session string) Step {
	return Do(session, "withdraw 10, fee 1 if total<10", func(s *Session) (string, error) {
		c, sv := s.SeenInt("checking"), s.SeenInt("savings")
		v := c - 10
		if c+sv < 10 {
			v--
			s.Note("fee", "charged")
		}
		out := strconv.Itoa(v)
		return "checking=" + out, s.Tx.Put([]byte("checking"), []byte(out))
	})
}

// ReadOnlyAnomaly is the read-only transaction anomaly: a report that
// shows a state no serial order of the updates goes through.
var ReadOnlyAnomaly = &Anomaly{
	Name:    "read-only anomaly",
	Code:    "G2 (read-only)",
	Test:    "TestReadOnlyAnomaly",
	Promise: "the statement shows a state that some serial order of the updates goes through, so a customer shown the deposit is not charged the overdraft fee",
	Story: "A customer has a checking and a savings account, both at 0. The bank charges " +
		"a fee of 1 when a withdrawal takes the customer's total below zero. A withdrawal of " +
		"10 from checking (T2) reads both balances; a deposit of 20 into savings (T1) runs " +
		"and commits; a read-only statement job (T3) prints both balances; then the " +
		"withdrawal, computed from what it read, commits.",
	Scenario: Scenario{
		Setup:    []KV{{"checking", "0"}, {"savings", "0"}},
		ReadOnly: []string{"T3"},
		Steps: []Step{
			Read("T2", "checking"),
			Read("T2", "savings"),
			Read("T1", "savings"),
			Add("T1", "savings", 20),
			Commit("T1"),
			Read("T3", "checking"),
			Read("T3", "savings"),
			Commit("T3"),
			withdraw("T2"),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		c, _ := o.Seen("T3", "checking")
		s, _ := o.Seen("T3", "savings")
		report := fmt.Sprintf("the statement showed checking %s, savings %s", c, s)
		if o.Committed("T3") && c == "0" && s == "20" && o.Committed("T2") && o.Note("T2", "fee") == "charged" {
			return true, report + fmt.Sprintf(", yet the withdrawal then charged the overdraft fee "+
				"(checking %s): the deposit the customer saw should have covered it", o.Get("checking"))
		}
		return false, report + fmt.Sprintf("; the accounts end at checking %s, savings %s", o.Get("checking"), o.Get("savings")) +
			stopped(o, "T1", "T2", "T3")
	},
	Lesson: "Without the statement, the two updates are serializable: the withdrawal " +
		"read the balances before the deposit, so it counts as running first, and charging " +
		"the fee is correct in that order. The statement breaks this: it saw the deposit " +
		"done and the withdrawal not, which places the deposit before the withdrawal; the " +
		"customer holds a statement with 20 in savings and is then charged a fee as if it " +
		"were not there. No serial order explains all three. Read committed and snapshot " +
		"allow it (each read saw committed data, the writers wrote different keys). " +
		"Serializable prevents it: SSI sees the withdrawal with a read-write dependency in " +
		"(the statement read checking, which it overwrites) and one out (it read savings, " +
		"which the already committed deposit overwrote), the dangerous structure, and " +
		"aborts a transaction with ErrConflict. A read-only transaction can be part of a " +
		"serialization failure, which is why read-only transactions at serializable may " +
		"abort (and db.View, which never does, reads at snapshot).",
}
