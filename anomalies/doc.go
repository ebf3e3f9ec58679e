// Package anomalies reproduces the classic concurrency anomalies against
// mvkv and shows, level by level, which of them each isolation level lets
// through and which it prevents. It is meant to be read by running it:
//
//	go test ./anomalies -v -run TestLostUpdate
//
// prints, for read committed, snapshot and serializable in turn, the
// interleaving as a timeline (one column per transaction), the data left
// behind, and a verdict that says what went wrong and which mechanism stops
// it. `go test ./anomalies -v` walks through all of them;
// `-run TestMatrix` prints the summary table that the project README embeds.
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
// A step that does not finish within Options.Grace (a GetForUpdate waiting
// for a lock, say) is shown as blocked, and the script goes on with the
// other sessions; when it finishes, after a later step released what it
// was waiting for, the timeline shows it resuming. A blocked step is only
// ever waiting for a step the script has not run yet, so detection does
// not depend on timing beyond that grace period. A session that gets an
// error stops there: its later steps are shown as skipped and its
// transaction is rolled back at the end.
//
// # The catalog
//
// Catalog lists one Anomaly per classic anomaly (Adya's G0, G1a, G1b,
// G1c, G-single, G2-item, G2; Berenson et al.'s P4 lost update; the
// phantom; Hermitage's observed-transaction-vanishes; Fekete et al.'s
// read-only anomaly), each told as a small story (a bank balance, doctors
// on call, a meeting-room booking), plus the fixes users apply by hand
// (GetForUpdate, writing the rows read, materializing the conflict). An
// Anomaly's Check decides from an Outcome whether the anomaly happened and
// gives the evidence: the value that shows it, or the error that
// prevented it. Matrix turns a set of checked runs into the table
// anomaly × level.
//
// Writes in mvkv are buffered until Commit, so the anomalies that need a
// transaction to see or overwrite uncommitted data (G0, G1a, G1b, G1c)
// cannot happen at any level. They are still run at all three levels, and
// their verdicts say why they are prevented.
package anomalies
