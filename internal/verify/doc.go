// Package verify runs concurrent workloads against an mvkv database and
// turns what the clients saw into histories for the checkers: single-key
// and whole-transaction histories for porcupine (package linear) and
// list-append histories for the anomaly checker (package elle).
//
// The workloads record only what a client can observe: the operations it
// issued, the values its reads returned, whether its commit succeeded,
// and (for porcupine) when each call started and returned. They trust
// nothing inside the engine.
//
// The tests in this package run every checker at every isolation level:
//
//	go test ./internal/verify -v                        CI-sized runs
//	MVKV_VERIFY_SCALE=10 go test ./internal/verify -v   ten times as many rounds
//	go test ./internal/verify -short                    half
//
// What they assert:
//
//   - list-append (elle): read committed never shows G0, G1a, G1b, G1c and
//     does show lost updates, G-single and G2-item; with GetForUpdate on
//     every append no lost update either; snapshot shows G2-item (write
//     skew) and nothing weaker; serializable shows nothing at all. What a
//     level must never show is checked on random concurrent runs; what it
//     does show, on scripted collisions (Collisions: lost update, read
//     skew, write skew, each an interleaving performed step by step in one
//     goroutine), because random runs make an anomaly likely, never
//     certain: they only report the ones they found.
//   - single-key registers (porcupine, partitioned by key): get, put,
//     delete and Update read-modify-writes are linearizable at every
//     level (at read committed the read-modify-write locks with
//     GetForUpdate).
//   - whole transactions on three keys (porcupine, one operation per
//     transaction), with reads, puts, blind deletes (of keys that may be
//     absent) and put-then-delete: serializable histories are strictly
//     serializable; a scripted write skew at snapshot is caught failing. The list-append
//     workload has no deletes: its checker orders versions by list
//     prefixes, which a delete would break; absence is a plain value in
//     this model, so blind deletes are checked here.
//
// A porcupine failure writes an HTML visualization to MVKV_PORCUPINE_DIR
// (default: mvkv-porcupine in the system temporary directory) and names
// the file in the failure message. TestLostUpdateVisualization always
// writes one, lost-update-read-committed.html, for a deliberately
// non-linearizable history: two read-modify-writes at read committed, one
// of which is lost.
package verify
