// Package crash is the crash-recovery test: a child process runs a
// concurrent bank-transfer and counter workload on a durable database and
// is killed with SIGKILL at a random moment, many times over; after each
// kill the parent checks the file and the data.
//
// What must hold after every kill (package mvcc's documentation, "Durability"):
//
//   - The bbolt file is consistent (bbolt's Tx.Check finds nothing).
//   - Every commit the child acknowledged (Commit returned nil, and only
//     then the child reported it) is present.
//   - No transaction is partly applied: the balances always sum to their
//     initial total, and each balance equals its initial value plus the
//     transfers whose records are present (each transfer writes both
//     balances and its own record in one transaction).
//   - A counter is exactly its last acknowledged value, or one more (the
//     increment that was committing when the kill came).
//
// The child reports acknowledgements on a pipe of its own (file
// descriptor 3), one line per commit, written after Commit returned: a
// line the parent read is a commit that was acknowledged.
package crash
