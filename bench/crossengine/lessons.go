package crossengine

import "github.com/mvkv/mvkv/anomalies"

// Lesson says what engine does about a, where it differs from what the
// anomalies package's lesson (which explains mvkv) would lead one to
// expect; "" when there is nothing to add.
func Lesson(a *anomalies.Anomaly, engine string) string {
	if n := lessons[engine][a.Test]; n != "" {
		return n
	}
	if engine == "etcd" && a.Fix && a.Test != "TestWriteSkewFixedByWritingReads" {
		return etcdGetForUpdate
	}
	return ""
}

const etcdGetForUpdate = "etcd has no locking read: GetForUpdate is emulated with a " +
	"concurrency.Mutex on the key (an etcd lock kept alive by a lease), taken before the " +
	"read and released after the commit. It serializes the transactions that take it and " +
	"nothing else: a plain write does not wait for it, and a lock cycle is never detected " +
	"(it waits until a lease expires or the caller gives up). Because the STM's snapshot " +
	"starts at a transaction's first read, which comes after the lock, the waiter reads the " +
	"new value and nobody aborts."

var lessons = map[string]map[string]string{
	"postgres": {
		"TestDirtyWrite": "PostgreSQL locks a row as it writes it: T2's write waits until T1 " +
			"commits. At read committed it then goes ahead on the new row (Bob gets both " +
			"rows); at repeatable read and serializable the row changed after T2's snapshot, " +
			"so T2 fails with a serialization failure (SQLSTATE 40001).",
		"TestLostUpdate": "Read committed loses the update like mvkv's; repeatable read makes " +
			"the second writer wait for the first and then fail with 40001 (first-updater-" +
			"wins, where mvkv has first-committer-wins).",
		"TestWriteSkew": "Repeatable read is snapshot isolation and lets the write skew " +
			"through; serializable is SSI, the design mvkv's serializable follows, and aborts " +
			"one of the two with 40001.",
		"TestWriteSkewRange": "Serializable catches the double booking: SSI records the " +
			"scan as a predicate read (SIREAD locks on the index range), as mvkv records " +
			"its Scan ranges.",
	},
	"etcd": {
		"TestDirtyWrite": "The STM buffers writes until the commit, like mvkv. A transaction " +
			"that read nothing has nothing to compare, and its snapshot only starts at its " +
			"first read: even SerializableSnapshot lets both blind writers commit, the last " +
			"one winning as a whole, where mvkv's snapshot stops the second with ErrConflict.",
		"TestDirtyReadIntermediate": "From RepeatableReads up, T2's second read returns the " +
			"value it cached at its first (100), and its commit fails: a key it read changed.",
		"TestLostUpdate": "ReadCommitted commits without any check, so the last writer wins. " +
			"From RepeatableReads up the commit compares the revision of every key read, and " +
			"the second deposit fails.",
		"TestReadSkew": "At ReadCommitted and RepeatableReads each key is read at the latest " +
			"revision when first read, not from one snapshot: Alice sees 900. RepeatableReads " +
			"then refuses the commit (a key read has changed), but an application that acted " +
			"on what it read has acted on a total that never existed. Serializable and " +
			"SerializableSnapshot read from one snapshot, fixed at the first read, and abort.",
		"TestReadSkewPredicate": "As for read skew: ReadCommitted and RepeatableReads read " +
			"each key when first asked, so the scan mixes old and new values; RepeatableReads " +
			"only refuses the commit afterwards.",
		"TestPhantom": "The STM has no range read. A scan lists the keys with a plain range " +
			"read and reads each through the STM; at ReadCommitted and RepeatableReads the " +
			"new key shows up in the second scan. Serializable and SerializableSnapshot read " +
			"it at their snapshot, where it does not exist, and their commit then fails on " +
			"the key that appeared.",
		"TestWriteSkew": "RepeatableReads already prevents it: its commit checks that no " +
			"key read has changed, which is optimistic concurrency control and makes " +
			"committed STM transactions serializable as long as they only read single keys.",
		"TestWriteSkewRange": "Possible at every STM level, Serializable and " +
			"SerializableSnapshot included: the STM compares the keys a transaction read, " +
			"never the ranges it scanned, so a booking that did not exist when the other " +
			"transaction looked goes unnoticed. This is the one place where etcd's " +
			"\"serializable\" is not: materialize the conflict (one key per room, written by " +
			"every booking) to close it.",
		"TestReadOnlyAnomaly": "Prevented from RepeatableReads up: a read-only STM " +
			"transaction still commits a compare of what it read, so the report fails and " +
			"must run again.",
	},
}
