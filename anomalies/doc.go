// Package anomalies reproduces the classic concurrency anomalies against
// mvkv and shows, level by level, which of them each isolation level lets
// through and which it prevents. It is meant to be read by running it:
//
//	go test ./anomalies -v -run 'TestLostUpdate$'
//
// prints the lesson: its story once, then for read committed, snapshot,
// serializable and serializable-locking (serializable by two-phase locking,
// TxOptions.Locking: the Locking column, MVKVLocking) in turn the
// interleaving as a timeline (one column per transaction, rows numbered
// in execution order), the data left behind, the dependency cycle if the
// history has one, and a verdict that names the lesson's Promise as kept
// or broken, and last, once,
// the explanation of what went wrong and which mechanism stops it
// (`-run 'TestLostUpdate$/snapshot'` picks one level; the `$` keeps the
// pattern from also running TestLostUpdateFixedWithGetForUpdate). `go test
// ./anomalies -v` walks through all of them; `-run TestMatrix` prints the
// summary table that the project README embeds (`-run TestMatrix -update`
// rewrites the README's copy, with its pictures under docs/anomalies).
//
// # Pictures
//
// Every run can be drawn. TimelineSVG draws the timeline: one lane per
// transaction, each step a mark labelled with what it read or wrote, a
// wait as a dashed gap naming whom it waited for, commits and aborts
// marked. Outcome.Dependencies is the run's dependency graph (Adya's ww,
// wr and rw edges between the committed transactions) and GraphSVG draws
// it, the cycle that makes the history non-serializable in red, or says
// that there is none and gives a serial order. The graph is not written
// by hand: the runner records every read, write, scan and commit the store
// acknowledged, below the steps, and the history is checked by
// internal/elle, the checker of the list-append histories (see Graph for
// how a key-value history becomes one), so it holds on any store a Target
// offers, PostgreSQL's and etcd's included. WriteHTML puts it all on one
// self-contained page: the table, each cell linking to its run's story,
// pictures, verdict and explanation; `go test ./anomalies -run TestMatrix
// -html DIR` writes DIR/anomalies.html.
//
// The pictures are plain SVG, written with the standard library (svg.go),
// not with the plotting library the benchmarks use: a timeline and a graph
// of three nodes need no axes or scales, only positions on a grid, and the
// anomalies package belongs to the engine's module, whose only
// dependencies are bbolt and btree. Plain text in a monospace font gives
// labels a known width, and the output is byte-for-byte deterministic, so
// tests can keep the README's copies in step with the code.
//
// # The scenario language
//
// A Scenario is a list of Steps. Each step belongs to a named session
// ("T1", "T2", ...) and is one operation of that session's transaction:
// Read, ReadForUpdate, Write, Add, Scan, Commit, Rollback, or Do for
// anything else. Run executes the steps in the order written, each session
// on its own goroutine, so the interleaving is exactly the script's. A
// session begins its transaction at its first step (that is when a snapshot
// is taken), and runs one transaction.
//
// A step that may wait for another session (ReadForUpdate: a GetForUpdate
// behind someone else's lock) and has not finished within Options.Grace is
// shown as blocked, and the script goes on with the other sessions; when
// it finishes, after a later step ended the transaction it was waiting
// for, the timeline shows it resuming. The timeline's rows are in
// execution order, so a step that waited, and the steps queued behind it,
// appear later than their place in the script. A truly blocked step waits
// for a step the script has not run yet, so it is always seen as blocked;
// timing only matters in the other direction (a lock taken without waiting
// but slower than the grace period), hence a generous default. Where the
// store can tell (its transactions are LockWaiters, as PostgreSQL's are in
// bench/crossengine), timing does not decide even that: the runner asks
// whether a step past the grace period waits for a lock, and waits for one
// that does not. Steps that cannot wait are simply waited for. A session
// that gets an error stops there: its later steps are shown as skipped,
// and a transaction the script leaves open is rolled back (a wait it
// leaves, cancelled through the BeginTx context) at the end.
//
// # The catalog
//
// Catalog lists one Anomaly per classic anomaly (Adya's G0, G1a, G1b,
// G1c, G-single, G2-item, G2, and G-SIa and G-SIb, which define snapshot
// isolation; Berenson et al.'s P2 fuzzy read and P4 lost update; the
// phantom; Hermitage's observed-transaction-vanishes, PMP-write,
// G-single-write-1 and -2 and G2-two-edges; Fekete et al.'s read-only
// anomaly), each told as a small story (a bank balance, doctors on call,
// a meeting-room booking) or on Hermitage's two-row table, plus the fixes
// users apply by hand (GetForUpdate, writing the rows read, materializing
// the conflict). P4C, the lost update through a cursor, has no lesson of
// its own: Scan, the only cursor, locks nothing, so it is P4, and cursor
// stability's row lock is GetForUpdate. An
// Anomaly's Check decides from an Outcome whether the anomaly happened and
// gives the evidence: the value that shows it, or the error that
// prevented it. Matrix turns a set of checked runs into the table
// anomaly × level.
//
// Writes in mvkv are buffered until Commit, so the anomalies that need a
// transaction to see or overwrite uncommitted data (G0, G1a, G1b, G1c)
// cannot happen at any level. They are still run at all three levels, and
// their verdicts say why they are prevented.
//
// The locking column prevents every anomaly by waits and deadlock
// victims, never by a serialization failure; any step may wait there
// (reads wait for writers), and a step that resumes names the session
// whose end released it. Interference (G-SIa), a promise of snapshots and
// not of serializability, is the one it allows (Anomaly.SnapshotOnly):
// there, as at read committed, its verdict says that nothing goes wrong,
// that a promise the level does not make was broken, and that the history
// is serializable.
package anomalies
