package engine

import "github.com/mvkv/mvkv/mvcc"

// noopEngine stores nothing: a transaction calls the workload's function
// on a Tx whose reads find one fixed record and whose writes vanish. Its
// row is the harness's ceiling: what the runner, the workload's request
// generation and the goroutines cost without an engine. A real row near
// it means the harness, not the engine, is measured.
type noopEngine struct{}

func (noopEngine) Name() string         { return "noop" }
func (noopEngine) Levels() []mvcc.Level { return engineInfo["noop"].levels }
func (noopEngine) Note() string         { return engineInfo["noop"].note }
func (noopEngine) Abort(error) string   { return "" }
func (noopEngine) Close() error         { return nil }

func (noopEngine) Txn(_ mvcc.Level, _ bool, fn func(Tx) error) error { return fn(noopTx{}) }

// noopRecord is what every read finds: long enough for any YCSB field a
// workload rewrites (it copies the record before changing it). Shared by
// all readers, so the no-op engine breaks the Tx contract that the slice is
// the caller's: the workloads never write into what Get returns.
var noopRecord = make([]byte, 64<<10)

type noopTx struct{}

func (noopTx) Get([]byte) ([]byte, error) { return noopRecord, nil }
func (noopTx) Put(_, _ []byte) error      { return nil }
func (noopTx) Delete([]byte) error        { return nil }
func (noopTx) Scan(_, _ []byte, limit int, fn func(key, value []byte) bool) error {
	for range max(limit, 1) {
		if !fn(noopRecord[:16], noopRecord) {
			break
		}
	}
	return nil
}
