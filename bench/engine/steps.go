package engine

import "iter"

// stepTx is a transaction its caller drives one step at a time and ends
// itself, with mvcc's error conventions: the shape of the foreign
// adapters (PGTx, EtcdTx), which the cross-engine suites use directly
// and the benchmark through Txn.
type stepTx interface {
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	ScanN(start, end []byte, limit int) iter.Seq2[[]byte, []byte]
	Err() error
	Commit() error
	Rollback() error
}

// runTxn is Engine.Txn on a begun stepTx: fn, then Commit, or Rollback
// when fn fails.
func runTxn(tx stepTx, fn func(Tx) error) error {
	if err := fn(stepAdapter{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// stepAdapter is a stepTx as a workload's Tx.
type stepAdapter struct{ stepTx }

func (t stepAdapter) Scan(start, end []byte, limit int, fn func(key, value []byte) bool) error {
	for k, v := range t.ScanN(start, end, limit) {
		if !fn(k, v) {
			break
		}
	}
	return t.Err()
}
