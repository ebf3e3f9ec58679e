package linear

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// MaxTxnKeys is the number of registers of the Txns model.
const MaxTxnKeys = 8

// TxnState is the Txns model's state: register i holds an integer, 0 when
// absent. It is comparable, so porcupine compares and caches it cheaply.
type TxnState [MaxTxnKeys]int

// TxnStep is one read or write inside a transaction.
type TxnStep struct {
	Write bool
	Key   int // 0 <= Key < MaxTxnKeys
	Value int // Write: the value written (non-zero); Read: what was read
}

// TxnInput is a committed transaction's steps, in program order, with the
// values its reads returned.
type TxnInput []TxnStep

// Txns is the model of a small multi-key store on which each committed
// transaction is one atomic operation. Reads inside a transaction see the
// transaction's own earlier writes. Transactions that did not commit must
// be left out of the history (they had no effect).
var Txns = porcupine.Model{
	Init: func() any { return TxnState{} },
	Step: func(state, input, _ any) (bool, any) {
		st := state.(TxnState)
		for _, s := range input.(TxnInput) {
			if s.Write {
				st[s.Key] = s.Value
			} else if st[s.Key] != s.Value {
				return false, state
			}
		}
		return true, st
	},
	DescribeOperation: func(input, _ any) string {
		var b strings.Builder
		for i, s := range input.(TxnInput) {
			if i > 0 {
				b.WriteString(" ")
			}
			if s.Write {
				fmt.Fprintf(&b, "w(k%d,%d)", s.Key, s.Value)
			} else {
				fmt.Fprintf(&b, "r(k%d)=%d", s.Key, s.Value)
			}
		}
		return b.String()
	},
	DescribeState: func(state any) string {
		st := state.(TxnState)
		var parts []string
		for i, v := range st {
			if v != 0 {
				parts = append(parts, fmt.Sprintf("k%d=%d", i, v))
			}
		}
		return "{" + strings.Join(parts, " ") + "}"
	},
}
