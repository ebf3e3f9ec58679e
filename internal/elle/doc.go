// Package elle checks multi-key transaction histories for isolation
// anomalies, in the spirit of Jepsen's Elle (Kingsbury & Alvaro, VLDB 2020).
//
// The workload is list-append: every key holds a list of integers, a
// transaction reads lists and appends elements, and every appended element
// is unique per key. Because elements are unique and lists only grow, each
// observed list names the version it came from, its writer is the
// transaction that appended its last element, and the order of the
// versions of a key can be read off the lists themselves: [1] precedes
// [1 2] precedes [1 2 3]. No clock and no cooperation from the database is
// needed.
//
// From the recovered version orders Check builds the dependency graph of
// the committed transactions (Adya, 1999):
//
//	T1 -ww-> T2   T2 appended to the version T1 wrote (write dependency)
//	T1 -wr-> T2   T2 read a version T1 wrote (read dependency)
//	T1 -rw-> T2   T1 read a version that T2 overwrote (anti-dependency)
//
// and names every cycle by the edges it needs:
//
//	G0        a cycle of ww edges only (dirty writes)
//	G1c       ww and wr edges, at least one wr (circular information flow)
//	G-single  exactly one rw edge (read skew, lost update)
//	G2-item   two or more rw edges (write skew)
//
// The report carries the graph itself (Report.Graph, one Edge per pair of
// transactions and type) and each cycle's edges in order (Anomaly.Cycle),
// so that a history can be drawn, its cycle highlighted.
//
// It also reports the anomalies that need no cycle: G1a (a committed read
// saw an element appended by a failed transaction), G1b (a committed read
// saw a version a transaction wrote and then overwrote itself), lost-update
// (two committed transactions read the same version of a key and both
// appended to it), incompatible-order (two observed lists of a key that are
// not prefixes of one another: the version history forked), and the
// structural ones: duplicate elements, garbage reads (an element nobody
// appended) and internal inconsistency (a transaction's read does not
// reflect its own earlier appends).
//
// What each level must prevent (Adya's PL levels as realized by
// multiversion engines): read committed prevents G0, G1a, G1b and G1c;
// snapshot isolation also prevents G-single and lost updates, leaving
// G2-item (write skew); serializable prevents every anomaly listed here.
//
// A tiny example, the write skew of snapshot isolation:
//
//	h := elle.History{
//		{ID: 1, Status: elle.OK, Ops: []elle.Op{elle.R("x", nil), elle.R("y", nil), elle.A("x", 1)}},
//		{ID: 2, Status: elle.OK, Ops: []elle.Op{elle.R("x", nil), elle.R("y", nil), elle.A("y", 2)}},
//	}
//	elle.Check(h).Has(elle.G2Item) // true: 1 -rw(y)-> 2 -rw(x)-> 1
//
// Applying an append as read-then-write of the whole list (as a key-value
// engine does) is compatible with all of the above: the read the append
// performs is recorded as a Read op before the Append, which is what makes
// lost updates visible.
package elle
