package anomalies

import (
	"fmt"
	"strconv"
	"strings"
)

// Hermitage's tests (Martin Kleppmann, github.com/ept/hermitage) that the
// rest of the catalog does not already tell: the writes that close a read
// skew or race a predicate, and Fekete's cycle seen through three
// transactions. They run on Hermitage's own table, two rows 1 → 10 and
// 2 → 20, with the same interleavings; SQL's "update" and "delete ...
// where" become a scan and the writes the application derives from it.
// Hermitage runs them on PostgreSQL; mvkv's read committed, snapshot and
// serializable give what PostgreSQL's read committed, repeatable read and
// serializable give, except where a lesson says why not.

const table = "test/"

var hermitageSetup = []KV{{table + "1", "10"}, {table + "2", "20"}}

// deleteWhere is a predicate delete, "delete from test where value = v":
// it scans the table and deletes the rows worth v. v is computed when the
// step runs, from what the session read before the scan; label is how the
// timeline shows it ("value=20").
func deleteWhere(session, label string, v func(s *Session) int) Step {
	return Do(session, "delete where "+label, func(s *Session) (string, error) {
		want := strconv.Itoa(v(s))
		rows, err := s.scan(table)
		if err != nil {
			return "", err
		}
		var deleted []string
		for _, kv := range rows {
			if kv.Value == want {
				if err := s.Tx.Delete([]byte(kv.Key)); err != nil {
					return "", err
				}
				deleted = append(deleted, strings.TrimPrefix(kv.Key, table))
			}
		}
		s.Note("deleted", strings.Join(deleted, " "))
		if len(deleted) == 0 {
			return "no row worth " + want, nil
		}
		return "worth " + want + ": deleted " + strings.Join(deleted, " "), nil
	})
}

// PhantomWrite is Hermitage's PMP-write: a predicate delete racing an
// update that moves a row into the predicate.
var PhantomWrite = &Anomaly{
	Name:    "predicate delete racing an update",
	Code:    "PMP-write",
	Test:    "TestPhantomWrite",
	Promise: "in T2's own view, no row worth 20 survives its delete of every row worth 20",
	Story: "Hermitage's table: row 1 is worth 10, row 2 is worth 20. T1 adds 10 to every " +
		"row (update test set value = value + 10). Before T1 commits, T2 deletes every row " +
		"worth 20 (delete from test where value = 20); T1 commits; T2 looks at the table " +
		"again and commits. Whichever goes first, no row worth 20 may survive T2, and T1's " +
		"additions must not be lost.",
	Scenario: Scenario{
		Setup: hermitageSetup,
		Steps: []Step{
			Scan("T1", table),
			Add("T1", table+"1", 10),
			Add("T1", table+"2", 10),
			deleteWhere("T2", "value=20", func(*Session) int { return 20 }),
			Commit("T1"),
			Scan("T2", table),
			Commit("T2"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		state := "the table ends as " + formatKVs(o.Prefix(table), table)
		scans := o.Session("T2").ReadsOf(table + "*")
		if !o.Committed("T2") || len(scans) < 2 {
			return false, state + stopped(o, "T2")
		}
		after := scans[len(scans)-1]
		ev := fmt.Sprintf("after deleting every row worth 20, T2 found %s and committed; %s", after, state)
		if o.Committed("T1") && o.Get(table+"2") == Absent {
			ev += ", and T1's raise of row 2 to 30 was lost with the row"
		}
		for _, row := range strings.Fields(after) {
			if strings.HasSuffix(row, "=20") {
				return true, ev
			}
		}
		return false, ev
	},
	Lesson: "T2's delete chose its rows in the table as it was before T1's commit, and " +
		"T1 changed which rows match: T2 then finds, in its own transaction, a row worth 20 " +
		"right after deleting every row worth 20, and commits. No serial order shows T2 " +
		"that: run first, it sees 1 → 10 and deletes row 2; run second, it sees 1 → 20 and " +
		"2 → 30 and deletes row 1. Adya calls it PMP (predicate-many-preceders), here for a " +
		"predicate that a write evaluated. Read committed allows it. In mvkv T2 deletes row " +
		"2, the row that matched in what it read, and as the last committer it wins: T1's " +
		"raise of row 2 to 30, committed, is lost with the row. PostgreSQL at read " +
		"committed goes wrong differently, as Hermitage records: T2's delete waits for T1's " +
		"row lock, then re-checks row 2 alone, finds it worth 30 and deletes nothing, so " +
		"both rows survive. mvkv takes no lock on a write and re-checks nothing, since " +
		"writes are buffered until Commit. Snapshot and serializable prevent it, as " +
		"PostgreSQL's repeatable read does: T2's second look still sees its snapshot " +
		"(1 → 10), and T2 deleted a row that T1 committed after that snapshot, so " +
		"first-committer-wins gives T2 ErrConflict (at its commit in mvkv; at the delete in " +
		"PostgreSQL, where the write waits for the lock). The retry sees 1 → 20 and 2 → 30 " +
		"and deletes row 1.",
}

// singleWriteStart opens both G-single-write interleavings: T1 reads row 1,
// T2 reads the table and moves row 1 to 12.
func singleWriteStart(more ...Step) []Step {
	return append([]Step{
		Read("T1", table+"1"),
		Scan("T2", table),
		Write("T2", table+"1", "12"),
	}, more...)
}

// partnerOfRow1 is the value of row 2 that completes row 1 to 30, by
// what the session read of row 1.
func partnerOfRow1(s *Session) int { return 30 - s.SeenInt(table+"1") }

// ReadSkewDelete is Hermitage's G-single-write-1: a delete decided on a
// read from before a commit and carried out on the data after it.
var ReadSkewDelete = &Anomaly{
	Name:    "read skew closed by a delete",
	Code:    "G-single-write-1",
	Test:    "TestReadSkewDelete",
	Promise: "T1 deletes the partner of the row 1 it read, which in any serial order is row 2",
	Story: "Hermitage's table, whose two rows add up to 30: row 1 is worth 10, row 2 is " +
		"worth 20. T1 reads row 1 and deletes its partner, the row worth 30 minus row 1 " +
		"(delete from test where value = 20). Meanwhile T2 moves 2 from row 2 to row 1 " +
		"(12 and 18) and commits. Whichever runs first, T1 must delete row 2.",
	Scenario: Scenario{
		Setup: hermitageSetup,
		Steps: singleWriteStart(
			Write("T2", table+"2", "18"),
			Commit("T2"),
			deleteWhere("T1", "value=30−row 1", partnerOfRow1),
			Commit("T1"),
		),
	},
	Check: func(o *Outcome) (bool, string) {
		state := "the table holds " + formatKVs(o.Prefix(table), table)
		if !o.Committed("T1") {
			return false, state + stopped(o, "T1")
		}
		if o.Get(table+"2") != Absent {
			return true, fmt.Sprintf("T1 read row 1 as 10, looked for a row worth 20 after T2's "+
				"commit, found none and committed: %s, row 2 survives", state)
		}
		return false, state
	},
	Lesson: "This is read skew (TestReadSkew) where the skewed read decides a write, so " +
		"the damage is committed, not just shown: T1 took row 1 from before T2 and the rows " +
		"it deletes from after T2, and in that mixed state nothing matched. In either " +
		"serial order row 2 goes (T1 first: it is worth 20; T2 first: row 1 reads 12 and " +
		"row 2 is worth 18, again the partner). Read committed allows it: the delete's " +
		"scan sees what is committed when it runs. PostgreSQL's read committed gives the " +
		"same. Snapshot and serializable prevent it: the scan reads T1's snapshot, finds " +
		"row 2 worth 20 and deletes it, but T2 committed row 2 after that snapshot, so " +
		"first-committer-wins stops T1 with ErrConflict, as PostgreSQL's repeatable read " +
		"does (could not serialize access due to concurrent update); the retry reads 12 " +
		"and deletes the row worth 18.",
}

// ReadSkewDeleteRolledBack is Hermitage's G-single-write-2: the same
// delete, made while the other transaction is still running, then rolled
// back.
var ReadSkewDeleteRolledBack = &Anomaly{
	Name:    "read skew closed by a delete, rolled back",
	Code:    "G-single-write-2",
	Test:    "TestReadSkewDeleteRolledBack",
	Promise: "a rolled-back transaction leaves no trace: T2 commits both its rows",
	Story: "The same table (rows 10 and 20, adding up to 30) and the same two " +
		"transactions, interleaved tighter: T2 has written row 1 = 12 but not yet row 2 " +
		"when T1 deletes the partner of row 1; T2 then writes row 2 = 18; T1 rolls back " +
		"and T2 commits. T1's delete must leave no trace, and T2 must commit both rows.",
	Scenario: Scenario{
		Setup: hermitageSetup,
		Steps: singleWriteStart(
			deleteWhere("T1", "value=30−row 1", partnerOfRow1),
			Write("T2", table+"2", "18"),
			Rollback("T1"),
			Commit("T2"),
		),
	},
	Check: func(o *Outcome) (bool, string) {
		state := "the table holds " + formatKVs(o.Prefix(table), table)
		if o.Committed("T2") && o.Get(table+"1") == "12" && o.Get(table+"2") == "18" {
			return false, "T2 committed and " + state
		}
		return true, state + stopped(o, "T2")
	},
	Lesson: "Nothing T2 could see had changed when T1 chose what to delete, so T1's " +
		"read is not skewed yet; the test is whether the delete, which touches the row T2 " +
		"then writes, disturbs T2 once T1 is gone. It must not, at any level: a " +
		"rolled-back transaction never happened. In PostgreSQL T2's write of row 2 waits " +
		"for T1's row lock and goes on when T1 rolls back. In mvkv nobody waits: T1's delete " +
		"stays inside T1 until a commit that never comes, the rollback drops it, and " +
		"conflicts are judged against committed writes only, so T2 commits at every level. " +
		"Had T1 committed first, snapshot and serializable would stop T2 with ErrConflict " +
		"(it writes a row committed after its snapshot), and read committed would let T2's " +
		"write put row 2 back after T1 deleted it: the delete would be a lost update.",
}

// TwoAntiDependencies is Hermitage's G2-two-edges: Fekete's cycle with two
// read-write dependencies, seen through a third transaction.
var TwoAntiDependencies = &Anomaly{
	Name:    "anti-dependency cycle through three transactions",
	Code:    "G2-two-edges",
	Test:    "TestTwoAntiDependencies",
	Promise: "the three transactions are equivalent to some serial order",
	Story: "Hermitage's table: row 1 is worth 10, row 2 is worth 20. T1 reads both " +
		"rows. T2 adds 5 to row 2 and commits. T3 then reads both rows and commits. Last, " +
		"T1 sets row 1 to 0 and commits. The three must be equivalent to some serial order.",
	Scenario: Scenario{
		Setup: hermitageSetup,
		Steps: []Step{
			Scan("T1", table),
			Read("T2", table+"2"),
			Add("T2", table+"2", 5),
			Commit("T2"),
			Scan("T3", table),
			Commit("T3"),
			Write("T1", table+"1", "0"),
			Commit("T1"),
		},
	},
	Check: func(o *Outcome) (bool, string) {
		t1 := o.Session("T1").ReadsOf(table + "*")
		t3 := o.Session("T3").ReadsOf(table + "*")
		if len(t1) == 0 || len(t3) == 0 {
			return false, "a scan did not return" + stopped(o, "T1", "T3")
		}
		ev := fmt.Sprintf("T1 saw %s, T3 saw %s", t1[0], t3[0])
		if o.Committed("T1") && o.Committed("T2") && o.Committed("T3") &&
			t1[0] == "1=10 2=20" && t3[0] == "1=10 2=25" {
			return true, ev + ", and all three committed: T1 before T2 (it missed the +5), T2 " +
				"before T3 (T3 saw it), T3 before T1 (T3 missed the 0), a cycle"
		}
		return false, ev + stopped(o, "T1", "T2", "T3")
	},
	Lesson: "Each transaction is fine alone and every read saw committed data, yet " +
		"there is no serial order: T1 must come before T2, whose +5 it did not see; T2 " +
		"before T3, which saw it; and T3 before T1, whose 0 it did not see. Two of those " +
		"edges are read-write anti-dependencies (a transaction read what another then " +
		"overwrote), T3 → T1 and T1 → T2, which is Adya's G2 and the structure of Fekete, " +
		"O'Neil and O'Neil's read-only anomaly (TestReadOnlyAnomaly tells it as a bank " +
		"story); T2 and T1 write different rows, so no write conflict betrays it. Read " +
		"committed and snapshot allow it (T1 read before T2 committed, so even read " +
		"committed misses the +5). Serializable prevents it: T1 is the pivot, with an " +
		"anti-dependency in from T3 and one out to T2, and T2 committed first, the " +
		"dangerous structure SSI looks for, so T1 gets ErrConflict, as in PostgreSQL. " +
		"Remove T3 and the other two are serializable (T1 then T2): the cycle needs the " +
		"third transaction that only reads.",
}
