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
// go test ./internal/verify runs a CI-sized amount; MVKV_VERIFY_SCALE=10
// runs ten times as many rounds, -short half.
package verify
