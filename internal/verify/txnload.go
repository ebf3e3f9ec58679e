package verify

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"

	"github.com/anishathalye/porcupine"

	"github.com/mvkv/mvkv/internal/linear"
	"github.com/mvkv/mvkv/mvcc"
)

// TxnConfig shapes a multi-key workload whose transactions are checked as
// single operations on the linear.Txns model.
type TxnConfig struct {
	Level   mvcc.Level
	Clients int
	Txns    int // per client
	Keys    int // at most linear.MaxTxnKeys
	MaxOps  int // steps per transaction, at least 1
	Seed    uint64
	// Prefix namespaces the keys, so that rounds can share a database.
	Prefix string
}

// RunTxns runs the workload once (no retries) and returns the committed
// transactions as a porcupine history. Aborted transactions had no effect
// and are left out.
func RunTxns(db *mvcc.DB, cfg TxnConfig) ([]porcupine.Operation, error) {
	if cfg.Keys > linear.MaxTxnKeys {
		return nil, fmt.Errorf("at most %d keys", linear.MaxTxnKeys)
	}
	var rec linear.Recorder
	err := runClients(cfg.Clients, cfg.Seed, func(c int, rng *rand.Rand) error {
		for i := range cfg.Txns {
			value := (c+1)*1_000_000 + i*100 // unique per write below
			if err := record(&rec, c, func() (any, any, error) {
				steps, err := oneTxn(db, cfg, rng, value)
				return steps, nil, err
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec.Operations(), nil
}

// oneTxn runs one transaction of the workload and returns its steps as
// it observed them.
func oneTxn(db *mvcc.DB, cfg TxnConfig, rng *rand.Rand, value int) (linear.TxnInput, error) {
	tx, err := db.Begin(cfg.Level)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	n := 1 + rng.IntN(cfg.MaxOps)
	steps := make(linear.TxnInput, 0, n+1)
	for j := range n {
		s := linear.TxnStep{Key: rng.IntN(cfg.Keys), Write: rng.IntN(2) == 0}
		key := []byte(cfg.Prefix + strconv.Itoa(s.Key))
		switch {
		case s.Write && rng.IntN(3) == 0:
			// A delete, blind: the key may well be absent (value 0 in the
			// model), and it is a write all the same.
			err = tx.Delete(key)
		case s.Write && rng.IntN(4) == 0:
			// Put then delete: the transaction's net effect on the key
			// is its absence, whatever was there before.
			s.Value = value + j + 1
			if err = tx.Put(key, []byte(strconv.Itoa(s.Value))); err == nil {
				steps = append(steps, s)
				s.Value = 0
				err = tx.Delete(key)
			}
		case s.Write:
			s.Value = value + j + 1
			err = tx.Put(key, []byte(strconv.Itoa(s.Value)))
		default:
			var v []byte
			v, err = tx.Get(key)
			if errors.Is(err, mvcc.ErrNotFound) {
				err = nil
			} else if err == nil {
				s.Value, err = strconv.Atoi(string(v))
			}
		}
		if err != nil {
			break
		}
		steps = append(steps, s)
		runtime.Gosched() // let the other clients interleave
	}
	if err == nil {
		err = tx.Commit()
	}
	return steps, err
}
