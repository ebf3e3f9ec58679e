// Package mvcc is the mvkv storage engine: an embedded multiversion
// key-value store with per-transaction isolation levels.
//
//	db, err := mvcc.Open("app.db", nil) // durable commits by default
//	if err != nil { ... }
//	defer db.Close()
//	err = db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
//		v, err := tx.Get([]byte("counter"))
//		...
//		return tx.Put([]byte("counter"), next)
//	})
//
// # Data model and storage
//
// Keys and values are byte strings (keys 1..MaxKeySize bytes, values up to
// MaxValueSize). Every committed write creates a version stamped with its
// transaction's commit timestamp; a delete creates a tombstone version.
//
// The data lives in a bbolt file: one B+tree, in key order, holding each
// live key's newest applied version with its commit timestamp and a
// CRC-32C checksum (layout.go). Memory holds what concurrency needs (the
// way InnoDB and Oracle keep the newest row in the table and older ones
// in an undo store): an in-memory B-tree (package index) with the version
// chains of the keys written recently, that is the versions written since
// the oldest open snapshot began, the before-images those snapshots still
// read, and the commit timestamps that first-committer-wins and SSI check
// against. Vacuum trims the chains as snapshots end. Past
// Options.VersionMemoryLimit the older versions go to a version bucket in
// the same file, where the snapshots that need them read them (see "Long
// snapshots and history" below). So the data may be far larger than
// memory, memory is bounded whatever a snapshot's age (not growing with
// the data nor with the versions written since the oldest snapshot), and
// Open reads a few meta values: no snapshot survives a restart, and there
// is nothing to rebuild.
//
// Commits are durable in a write-ahead log beside the file (wal.go), not
// in the B+tree: a commit group appends its transactions to the log with
// one fdatasync whatever keys it wrote, and a background checkpointer
// applies the log to the B+tree (checkpoint.go; once it holds 8 MiB or
// 16,384 writes, when DB.Vacuum asks, every Options.AutovacuumInterval
// while autovacuum runs, and at Close) in bbolt transactions of its own,
// so that no commit waits for a checkpoint. Until then memory holds those
// versions, values included; Open applies what a crash left in the log,
// which is bounded, so Open is too, and Close leaves no log behind. A
// group of 256 KiB or more that finds the log empty (a bulk load) writes
// the B+tree itself: written once, not twice; and the keys it creates do
// not go into memory at all (a snapshot older than the group that meets
// one in the file knows it absent by its commit timestamp).
//
// A worked example. The data holds a=1@5 and b=1@5 (value@commit
// timestamp); no transaction is open, and memory holds nothing.
//
//	T1 begins (snapshot 5).
//	T2 puts a=2 and deletes b; it commits at 6. Before it queues, it reads
//	    the data's a=1@5 and b=1@5 (the before-images); the pipeline
//	    installs in memory
//	        a: [1@5] [2@6]
//	        b: [1@5] [tombstone@6]
//	    then appends "put a=2, delete b at 6" to the log, syncs it (one
//	    fdatasync), and only then publishes 6 to new snapshots.
//	T3 begins (snapshot 6).
//	T1 reads a: memory holds a; the version visible at 5 is 1@5: 1. It
//	    reads b: 1, also from memory.
//	T3 reads a: 2@6, from memory. It reads b: tombstone: absent. A read of
//	    c (in no chain) goes to the data: absent.
//	A checkpoint applies the log: the data now holds a=2@6 and no b.
//	T1 and T3 end; vacuum runs with horizon 6. Every snapshot now sees the
//	    newest versions, which the data holds: a and b leave memory.
//
// Reads ask memory first, then the data through a bbolt read transaction
// shared by all readers and renewed after each write of the file (view.go),
// held for one read or one chunk of a scan only; a scan walks the data in
// chunks and merges each with the chains of the same span. Read.go argues
// why a key memory does not hold is always found, at its newest version,
// in the data a reader reads, commits and checkpoints racing it included.
// Readers never wait for writers, and the file's pages are never pinned
// by a long snapshot (only Backup holds one read transaction for its
// whole length).
//
// Scan, ScanReverse and ScanPrefix walk a range in ascending or
// descending key order, merging the transaction's own writes; under
// Serializable each records the range it read (up to where the loop
// stopped, from either side), so a concurrent insert into it is a
// conflict.
//
// Slices returned by Get and yielded by Scan are copies the caller owns:
// modifying them changes nothing in the database or in what other
// transactions read. Each is capped to its length. Scan copies
// neighbouring keys and values into one allocation of at most 4 KiB
// (unless one key and value are larger), so a value kept for long keeps
// up to that much alive; bytes.Clone it to keep its own bytes only.
//
// Two more ways to scan, for speed. ScanFunc and ScanReverseFunc call a
// function with each key and value, lent for that one call only (as
// bbolt's cursor, Badger's Item.Value and database/sql's RawBytes do):
// no allocation per key; copy what you keep. ScanKeys yields keys alone
// and never reads a value, nor checks a checksum (they cover keys and
// values together). All three see what Scan sees.
//
// # Isolation levels
//
//	level          a read sees                        a commit guarantees
//	ReadCommitted  latest committed data at the read  no dirty reads or writes; last committer wins
//	Snapshot       one snapshot taken at Begin        also: of two concurrent writers of a key, one commits
//	Serializable   one snapshot taken at Begin        also: the committed history is serializable,
//	                                                  range reads (phantoms) included
//
// Serializable comes two ways. By default it is SSI (txn.SSI): reads never
// wait, and a transaction that would complete a dangerous structure of
// read-write dependencies fails with ErrConflict. With
// TxOptions{Isolation: Serializable, Locking: true} it is strict two-phase
// locking instead (see Locks): reads wait for writers and writers for
// readers, and conflicts are waits and deadlocks, not serialization
// failures. Locking with another level is refused (ErrInvalidLevel).
//
// Writes are buffered in the transaction until Commit, so no level ever
// reads or overwrites uncommitted data. Every transaction sees its own
// writes, in Get, GetForUpdate and Scan.
//
// Where ErrConflict comes from (errors.Is(err, ErrConflict)):
//   - Put or Delete, under Snapshot and Serializable, when the key already
//     has a version committed after the snapshot (the commit would fail),
//     except for a key memory let go whole after a spill (see "Long
//     snapshots and history"): its writes spare a read of the file, and
//     Commit finds the conflict;
//   - Commit, for the same write-write conflict found at commit time (first
//     committer wins), or for a serialization failure when the transaction
//     is the pivot of a dangerous structure (Serializable);
//   - Get, under Serializable, when the read itself completes a dangerous
//     structure; a Scan that does so keeps yielding its snapshot and the
//     failure is returned by the transaction's next call or Commit;
//   - GetForUpdate, under Snapshot and Serializable, when a newer version
//     was committed after the snapshot, or on a deadlock (also ErrDeadlock);
//   - any call that waits for a lock (GetForUpdate, Commit, and in a
//     locking transaction Get, Scan, Put and Delete) when waiting would
//     close a cycle (also ErrDeadlock).
//
// Every conflict is a *ConflictError: errors.As gives its Kind (write
// conflict, serialization failure, deadlock) and, where there is one, the
// key it was found on.
//
// After a conflict the transaction is finished: later calls return an
// error matching ErrTxnDone that also still matches ErrConflict, until
// Rollback (then plain ErrTxnDone). So a failure that a Scan found, and
// that some later call reported, is still a conflict to whoever checks
// last. DB.Update reruns its function on conflicts, with backoff.
//
// # Running transactions
//
// DB.UpdateTx runs a function in a transaction of any TxOptions and
// commits it, rerunning it on conflicts with backoff; DB.ViewTx does the
// same for a read-only one. Update and View are the short forms for a
// read-write transaction at a level and a read-only Snapshot one:
//
//	// Serializable by two-phase locking; a deadlock victim runs again.
//	err := db.UpdateTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable, Locking: true}, fn)
//	// Read-only and serializable: never the read-only anomaly View can see.
//	err = db.ViewTx(ctx, mvcc.TxOptions{Isolation: mvcc.Serializable}, fn)
//
// BeginTx (or Begin, with no context) hands the transaction to the
// caller, who commits or rolls it back. Its context is the transaction's
// until it ends, as in database/sql: it bounds the lock waits, and when it
// ends first the transaction is rolled back and its next call, Commit or
// Rollback included, fails (ErrTxnDone, with the context's error).
//
// # Locks
//
// Every writer respects the locks of others. The lock table (txn.LockTable)
// holds shared, exclusive and intent locks on keys and shared locks on key
// ranges, until their transaction ends:
//
//   - GetForUpdate takes an exclusive lock on its key.
//   - A plain Put or Delete takes no lock when it is called: writes are
//     buffered. At Commit the transaction takes an intent lock on every key
//     it writes, waiting for any shared or exclusive lock another holds on
//     it (and for range locks covering it), and keeps them until its
//     commit is published. Intent locks do not exclude each other: between
//     two plain writers, first-committer-wins (or, at read committed, the
//     last committer) decides as before. After the wait each level applies
//     its rule: read committed commits over what the holder committed;
//     Snapshot and Serializable fail with ErrConflict if the key has a
//     version committed after their snapshot.
//   - A locking transaction (TxOptions.Locking) is strict two-phase
//     locking: Get takes a shared lock on the key, Scan a shared lock on
//     the range [start, end) it was given (held whole even if the loop
//     stops early, so an insert anywhere in it waits: no phantoms),
//     GetForUpdate, Put and Delete an exclusive lock (upgrading a shared
//     one), each when it is called. Every read returns the newest committed
//     version under its lock: with the lock held nobody can commit a newer
//     one, so the transaction reads current data, not a snapshot from
//     Begin, and its commit skips first-committer-wins (it held its keys
//     since before it read them).
//
// Why plain writes lock at Commit and not at Put: buffered writes are
// invisible until Commit, so the lock is needed only from the moment the
// commit could publish them; taking it then costs one hold of the lock
// table's mutex per commit instead of one per write, and lets writers of
// the same key run side by side until the first commits, as before. The
// price: a plain writer learns of a lock at Commit, not at the write.
// Locking transactions lock at the call because two-phase locking needs
// its writes ordered against its reads.
//
// Waits are FIFO per key and range (a stream of readers cannot starve a
// waiting writer; an upgrade goes first), bounded by the context given to
// BeginTx, and never hold Txn.mu: a Rollback from another goroutine (or a
// cancelled context, or Close) ends a waiting call at once, with
// ErrTxnDone (the context's error; ErrClosed). A cycle of waiters, across
// all lock kinds, is found when it forms and broken by one victim, whose
// call fails at once with an error matching both ErrDeadlock and
// ErrConflict that names the cycle (each transaction and the lock it
// waits for), and which ends that transaction; the others wait on. The
// victim is the transaction whose wait closed the cycle: the one asking
// for a lock, or, when a transaction's end turns a waiter from the holder
// it waited for onto a request queued ahead of it, that waiter (see
// txn.LockTable). A lock the transaction holds already, or one that a
// lock it holds covers (a stronger lock on the key, a range over the key
// or over the range asked for), is granted at once, whatever waits.
// Stats reports the locks held (LocksHeld), the transactions waiting for
// one (LockWaiters) and the deadlocks found since Open (Deadlocks).
//
// Locking and SSI transactions in one database stay serializable
// together. The rule: a locking transaction is also tracked by SSI (its
// reads and ranges recorded, its commit checked), and every writer,
// SSI transactions included, waits for its locks. Nobody can then commit
// over what a locking transaction read while it runs, so it never becomes
// the pivot of a dangerous structure and SSI never aborts it; SSI still
// sees the dependencies that run through it and aborts an SSI pivot when
// a cycle could close through both kinds.
//
// # Durability
//
// Commits go through one pipeline that writes every transaction waiting to
// commit in a single append to the log with one fdatasync (group commit,
// with no timer), then acknowledges them all. The pipeline does only what must
// follow commit order (first-committer-wins, the timestamp, the install in
// memory, SSI's edge search, the log append); each committer has already
// sorted its writes, encoded their log records and read their
// before-images (commit.go). A committer that finds nobody committing and
// nothing queued runs its group of one itself, without the handoff to the
// pipeline's goroutine; those arriving meanwhile queue and go together
// next. A group goes to the log, which a background checkpointer applies
// to the data; while the log is empty, a very large group (a bulk load's)
// goes to the data directly, and is written once. Without Options.NoSync, a commit that
// returned nil survives a crash or power loss, and a crash never exposes
// part of a transaction, checkpoints included: each step of one is a
// bbolt transaction that leaves the file whole.
//
// # Garbage collection
//
// Versions stay in memory as long as an open transaction can see them
// there, or the log holds them; DB.Vacuum has the log applied, then gives
// back the rest (the rule is in the gc package's documentation); an
// autovacuum pass gives back what the checkpointer has applied, and never
// forces a checkpoint. It works
// in batches of a thousand versions, each one short hold of the index
// lock, so commits go on while it runs, and its cost grows with the
// versions it removes, not with the data. An autovacuum runs it in the background when the
// versions it could remove reach Options.AutovacuumThreshold +
// Options.AutovacuumScaleFactor * the ones it would keep, checked every
// Options.AutovacuumInterval and after any commit group that leaves more
// than the threshold in memory (Options.NoAutovacuum turns it off).
// Stats.MemVersions says how many versions memory holds, Stats.DiskVersions
// how many the version bucket holds, and Stats.HorizonAge (and
// OldestSnapshotAge) how long the transaction holding them back has been
// open: a forgotten transaction is the usual cause of growth.
//
// # Long snapshots and history
//
// The versions an open snapshot needs stay in memory up to
// Options.VersionMemoryLimit (Stats.MemVersionBytes). Past it, after a
// commit group, the pipeline spills the older versions of the chains to
// the "versions" bucket (versionstore.go, spill.go) and lets their values
// go from memory (a newest version the data holds keeps only its
// timestamp, and a key left with nothing else leaves memory whole); a
// reader whose snapshot is older than what memory and the data hold of a
// key reads the newest version at or below its snapshot there. First
// committer wins reads the newest timestamp of a key memory let go from
// the data. Each
// record is queued by the commit that superseded it, and a vacuum pass
// (after its checkpoint) removes those superseded at or below the horizon:
// its cost is what it removes, and the pages go back to bbolt for reuse.
// Options.MaxSnapshotAge ends a snapshot older than that with
// ErrSnapshotTooOld (snapage.go), so that a forgotten transaction holds
// nothing for long.
//
// With Options.HistoryRetention, each commit group records its wall-clock
// time in the file and each checkpoint writes the versions it replaces to
// the version bucket, tombstones included; vacuum keeps them for the
// retention. TxOptions{ReadOnly: true, AsOf: t} then reads the database as
// of the newest commit at or before t (history.go, asof.go), at
// ReadCommitted or Snapshot, after a reopen too; past the retention it
// fails with ErrHistoryGone. History begins where an Open with a
// retention finds none (the state then is the file's), and an Open for
// writing without one drops it: the commits after would leave a hole.
//
// Overwrites and deletes free pages in the file that bbolt reuses, so the
// file stops growing but does not shrink; Compact copies a closed database
// to a new, packed file. DB.Backup copies an open one, consistent as of
// one commit group, while it serves reads and commits.
//
// # Monitoring
//
// DB.Stats returns the engine's figures; Stats.Metrics, Stats.WritePrometheus
// and DB.StatsVar (an expvar.Var) export them for monitoring systems.
//
// # Damage and recovery
//
// What is detected. Every record in the file carries a CRC-32C of its
// key, commit timestamp and value, and every logged write, version record
// and clock entry one of its own (layout.go, versionstore.go, history.go);
// a lookup in the version bucket or the clock believes a miss only between
// sound neighbours, as a point read does: a damaged value, timestamp or key, and an element header
// that points a record at the wrong bytes, read as ErrCorrupt, from Get,
// Scan, ScanFunc (not ScanKeys, which reads no value), the commit that
// reads the before-image and the checkpoint. A
// point read that finds no key believes it only if the records on either
// side are sound and in order (a renamed record stays where its old name
// sorted); a scan checks that keys come strictly in order, and that each
// leaf page yielded as many records as its layout says it holds
// (leafcheck.go), so a damaged element count hides nothing. bbolt's
// cursor steps over a leaf page whose count reads 0, and its search stops
// at a first element moved onto another page's record: so a point read
// (and a lookup in the version bucket or the clock, and a scan's start)
// whose key falls between two pages replays bbolt's search on the branch
// pages and requires the leaf the key belongs to to be one of the two,
// and a scan requires each page it steps to, and the page it ends on, to
// be the one the branch pages put there (internal/boltfile, gap.go). A
// record length past MaxValueSize is damage, not an allocation.
//
// The values kept outside records (the meta bucket's last commit
// timestamp, applied mark and key count) carry a CRC-32C too, and Open
// checks them against each other and against the log: the applied mark
// decides which versions memory may let go, so a wrong one would lose
// commits silently. A flipped bit in any of them, or in the format name,
// fails Open with ErrCorrupt (the bit-flip campaign flips every bit of
// every one of them). Files of the previous format, "mvkv/2", whose meta
// values had no checksum, are upgraded in place by the first read-write
// Open (after the same range checks); a read-only Open reads them as
// they are.
//
// Damage that panics. bbolt trusts its pages: a damaged one can make it
// fault in its memory mapping or fail one of its own page checks, which
// panic. Reads and commits run under a guard (guard.go) that turns
// exactly those into ErrCorrupt: a memory fault at an address in bbolt's
// mapping (or as far past it as a damaged element can point), a fault in
// bbolt's own code following a damaged page id, and the panics of
// bbolt's page checks and page decoding (recognised by value and by the
// function that raised them; package internal/boltfile lists them, for
// the bbolt versions it was verified against). Any other panic is a bug,
// mvkv's or its caller's, and goes on as a panic: it never reads as
// damage. A panic of the io.Writer given to Backup is returned as a
// *WriterPanicError.
//
// What Open checks, at a cost that does not grow with the data (about
// 300 KB of reads, filecheck.go): bbolt's meta page and the file's
// length, the freelist page (every id in range, in order; bbolt would
// otherwise read past its mapping or hand out a live page again), the
// meta values, bbolt's bucket directory, and the top of the data and log
// trees and of the version store's (64 pages from the roots of each: every
// child pointer names a branch or leaf page in use, met once in all the
// trees, no cycle, keys in order and within the parent's separators, every
// leaf at one depth), and that a version store the meta values count
// records in has its bucket.
// Junk, truncated files, directories, named pipes, other applications'
// bbolt files (empty ones included) and files of another format fail
// Open with ErrCorrupt and are left as they were. Open never writes a
// file it refuses.
//
// What reads do not see, and DB.Check does. Below the top of a large
// tree, a damaged child pointer that names another sound page is not
// seen at Open; a scan through it usually fails its order check, but a
// point read may call a key absent, and one that names a page above it
// sends bbolt's descent round a cycle until the goroutine's stack
// overflows, which ends the process. A freelist id still in order that
// names a page in use is not seen either: a later commit may reuse that
// page and damage the tree. DB.Check reads the whole file (every page,
// every page accounted for, every record and logged write) while the
// database keeps serving, and finds these. bbolt's meta pages carry a
// checksum and there are two: a damaged newest one makes bbolt fall back
// to the other, so the database opens as of the commit before, silently,
// as bbolt does.
//
// What to do. ErrCorrupt means the file cannot be trusted: stop writing
// to it and restore the last backup (check it first with DB.Check, on a
// read-only Open of the copy). Keep the damaged file for inspection. A
// full disk damages nothing: a commit that cannot grow the file fails
// and leaves the file at the commit before, and the DB stays usable once
// space is back; a checkpoint that fails leaves the log, which keeps
// every commit, for the next one (so a vacuum pass, which asks for one
// first, fails and removes nothing); Compact builds its copy in a
// temporary file that is named only when complete and synced
// (publish.go), so a failure or a kill leaves no partial copy; a new
// database is created the same way. Stats.LastVacuumError,
// Stats.LastCheckpointError and Options.Logger report what failed in the
// background.
//
// # Read-only
//
// Options.ReadOnly opens a file for reading only, with bbolt's read-only
// mode: no write permission is needed, the lock is shared (several
// processes may read one file; a read-write DB excludes them and they
// it), nothing is created or written. Transactions are read-only
// (writes fail with ErrReadOnly), Update and Vacuum fail with
// ErrReadOnly, and commits a crash left in the log are read from memory.
// Backup and Check work.
//
// # Lock order
//
// Where one lock is taken while another is held, always in this order
// (later ones under earlier ones, never the reverse):
//
//	Txn.mu -> the lock table's mutex (never held while waiting: Txn.mu is
//	          released before a lock wait and taken again after it)
//	Txn.mu -> the lock table's gate, taken for writing and let go at once
//	          by the first strong locker (a drain, never under the lock
//	          table's mutex: see txn.LockTable)
//	the gate, held for reading by a plain commit from its intent check
//	          until its commit is published -> the commit pipeline's locks
//	Txn.mu -> Index.mu
//	Txn.mu -> an SSI partition's mutex -> a serializable transaction's mu,
//	          or an SSI writers' partition's mutex (one partition at a
//	          time: see txn.SSI)
//
// Beginning and ending a transaction takes no lock: the registry of
// snapshots (txn.Oracle) is claimed and freed with atomics, as the shared
// view is pinned and let go (view.go). Only a serializable transaction
// that is tracked also locks one SSI partition at its begin and its end.
//
// Index.mu is never held while another of these is taken: the commit
// pipeline takes it for first-committer-wins and the install, and lets it
// go before SSI's edge search.
//
// bbolt's writer lock is held only by the commit pipeline (the goroutine,
// or a lone committer leading its own commit, under DB.leadMu, taken
// before DB.writeMu) and the checkpointer, each under DB.writeMu (taken
// first; a checkpoint step also
// under the checkpoint pass lock, taken before it). Inside it the pipeline
// takes Index.mu, then releases it before SSI's edge search; no other lock
// is held while waiting for it. A shared view holds bbolt's
// mmap lock for reading for one read or one scan chunk, during which the
// reader takes no lock but Index.mu and releases the view before it calls
// back the caller or waits for anything.
package mvcc
