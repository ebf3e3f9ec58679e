package linear

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// KVOp is the kind of a KV operation.
type KVOp uint8

// The operations of the KV model.
const (
	Get KVOp = iota
	Put
	Delete
	// Append reads the key and writes old value + Value in one atomic step
	// (a read-modify-write transaction).
	Append
)

func (o KVOp) String() string {
	return [...]string{"get", "put", "delete", "append"}[o]
}

// KVInput is one operation on one key.
type KVInput struct {
	Op    KVOp
	Key   string
	Value string // Put: the value; Append: the suffix
}

// KVOutput is what an operation observed: for Get the value read, for
// Append the value it read before appending. Put and Delete observe
// nothing.
type KVOutput struct {
	Value string
	Found bool
}

// register is one key's state in the KV model: the value a Get would
// return.
type register KVOutput

// KV is the model of a key-value store of registers, partitioned by key.
var KV = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make(map[string][]porcupine.Operation)
		var keys []string
		for _, op := range history {
			k := op.Input.(KVInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		parts := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() any { return register{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(register), input.(KVInput), output.(KVOutput)
		switch in.Op {
		case Get:
			return out == KVOutput(st), st
		case Put:
			return true, register{Value: in.Value, Found: true}
		case Delete:
			return true, register{}
		case Append:
			if out != KVOutput(st) {
				return false, st
			}
			return true, register{Value: st.Value + in.Value, Found: true}
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(KVInput), output.(KVOutput)
		switch in.Op {
		case Get:
			return fmt.Sprintf("get(%s) -> %s", in.Key, describe(out.Value, out.Found))
		case Put:
			return fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
		case Delete:
			return fmt.Sprintf("delete(%s)", in.Key)
		}
		return fmt.Sprintf("append(%s, %q) read %s", in.Key, in.Value, describe(out.Value, out.Found))
	},
	DescribeState: func(state any) string {
		st := state.(register)
		return describe(st.Value, st.Found)
	},
}

func describe(v string, found bool) string {
	if !found {
		return "<absent>"
	}
	return fmt.Sprintf("%q", v)
}
