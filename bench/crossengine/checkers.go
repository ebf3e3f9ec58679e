package crossengine

import (
	"context"

	"github.com/anishathalye/porcupine"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/internal/elle"
	"github.com/mvkv/mvkv/internal/verify"
)

// The history checkers' workloads, on any store, so that internal/elle's
// cycle checker and internal/linear's porcupine models judge PostgreSQL and
// etcd by the same rules as mvkv: the list-append and register workloads
// are internal/verify's own, given transactions of an anomalies.Store.

// RunListAppend runs internal/verify's list-append workload on s (see
// verify.ListAppend) and returns its history. cfg.Level and
// cfg.LockingClients do not apply: s's level is s's.
func RunListAppend(s anomalies.Store, cfg verify.ListAppendConfig) (elle.History, error) {
	return verify.ListAppend(func(int) (verify.Txn, error) {
		tx, err := s.Begin(context.Background(), false)
		if err != nil {
			return nil, err
		}
		return tx, nil
	}, cfg)
}

// RunRegister runs internal/verify's register workload on s (see
// verify.Register) and returns the history of the operations that took
// effect, for linear.KV. cfg.Level and cfg.Locking do not apply: s's
// level is s's.
func RunRegister(s anomalies.Store, cfg verify.RegisterConfig) ([]porcupine.Operation, error) {
	return verify.Register(func(readOnly bool) (verify.Txn, error) {
		tx, err := s.Begin(context.Background(), readOnly)
		if err != nil {
			return nil, err
		}
		return tx, nil
	}, cfg)
}
