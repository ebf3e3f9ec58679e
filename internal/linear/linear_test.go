package linear_test

import (
	"os"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/internal/linear"
)

func op(client int, in, out any, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
}

func get(k, v string, found bool) (linear.KVInput, linear.KVOutput) {
	return linear.KVInput{Op: linear.Get, Key: k}, linear.KVOutput{Value: v, Found: found}
}

func TestKVModel(t *testing.T) {
	put := func(k, v string) linear.KVInput { return linear.KVInput{Op: linear.Put, Key: k, Value: v} }
	del := func(k string) linear.KVInput { return linear.KVInput{Op: linear.Delete, Key: k} }
	app := func(k, suffix string) linear.KVInput { return linear.KVInput{Op: linear.Append, Key: k, Value: suffix} }
	none := linear.KVOutput{}
	read := func(v string, found bool) linear.KVOutput { return linear.KVOutput{Value: v, Found: found} }
	g := func(k, v string, found bool) (linear.KVInput, linear.KVOutput) { return get(k, v, found) }
	gi, go1 := g("x", "1", true)
	gi2, go0 := g("x", "", false)
	tests := []struct {
		name string
		h    []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"concurrent put and get, either order", []porcupine.Operation{
			op(0, put("x", "1"), none, 1, 4),
			op(1, gi2, go0, 2, 3),
			op(2, gi, go1, 2, 5),
		}, porcupine.Ok},
		{"stale read after the put returned", []porcupine.Operation{
			op(0, put("x", "1"), none, 1, 2),
			op(1, gi2, go0, 3, 4),
		}, porcupine.Illegal},
		{"delete then get", []porcupine.Operation{
			op(0, put("x", "1"), none, 1, 2),
			op(0, del("x"), none, 3, 4),
			op(1, gi2, go0, 5, 6),
		}, porcupine.Ok},
		{"keys are independent", []porcupine.Operation{
			op(0, put("x", "1"), none, 1, 2),
			op(1, put("y", "2"), none, 1, 2),
			op(1, gi, go1, 3, 4),
		}, porcupine.Ok},
		{"appends in sequence", []porcupine.Operation{
			op(0, app("x", "a"), read("", false), 1, 4),
			op(1, app("x", "b"), read("a", true), 2, 5),
			op(2, gi, read("ab", true), 6, 7),
		}, porcupine.Ok},
		{"lost update: both appends read the initial state", []porcupine.Operation{
			op(0, app("x", "a"), read("", false), 1, 4),
			op(1, app("x", "b"), read("", false), 2, 5),
		}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, porcupine.CheckOperationsTimeout(linear.KV, tt.h, 10*time.Second))
		})
	}
}

func TestTxnsModel(t *testing.T) {
	r := func(k, v int) linear.TxnStep { return linear.TxnStep{Key: k, Value: v} }
	w := func(k, v int) linear.TxnStep { return linear.TxnStep{Write: true, Key: k, Value: v} }
	tests := []struct {
		name string
		h    []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"serial transfers", []porcupine.Operation{
			op(0, linear.TxnInput{r(0, 0), w(0, 5), w(1, 7)}, nil, 1, 2),
			op(1, linear.TxnInput{r(0, 5), r(1, 7), w(1, 8)}, nil, 3, 4),
			op(2, linear.TxnInput{r(1, 8)}, nil, 3, 6),
		}, porcupine.Ok},
		{"reads see own writes", []porcupine.Operation{
			op(0, linear.TxnInput{w(2, 3), r(2, 3)}, nil, 1, 2),
		}, porcupine.Ok},
		{"write skew", []porcupine.Operation{
			op(0, linear.TxnInput{r(0, 0), r(1, 0), w(0, 1)}, nil, 1, 3),
			op(1, linear.TxnInput{r(0, 0), r(1, 0), w(1, 1)}, nil, 2, 4),
		}, porcupine.Illegal},
		{"fractured read", []porcupine.Operation{
			op(0, linear.TxnInput{w(0, 1), w(1, 1)}, nil, 1, 4),
			op(1, linear.TxnInput{r(0, 1), r(1, 0)}, nil, 2, 3),
		}, porcupine.Illegal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, porcupine.CheckOperationsTimeout(linear.Txns, tt.h, 10*time.Second))
		})
	}
}

func TestCheckWritesVisualizationOnlyOnFailure(t *testing.T) {
	dir := t.TempDir()
	gi, go0 := get("x", "", false)
	good := []porcupine.Operation{op(0, gi, go0, 1, 2)}
	res, err := linear.Check(linear.KV, good, time.Second, dir, "good")
	require.NoError(t, err)
	assert.Equal(t, porcupine.Ok, res.Outcome)
	assert.Empty(t, res.Visualization)

	bad := []porcupine.Operation{
		op(0, linear.KVInput{Op: linear.Put, Key: "x", Value: "1"}, linear.KVOutput{}, 1, 2),
		op(1, gi, go0, 3, 4),
	}
	res, err = linear.Check(linear.KV, bad, time.Second, dir, "bad")
	require.NoError(t, err)
	assert.Equal(t, porcupine.Illegal, res.Outcome)
	html, err := os.ReadFile(res.Visualization)
	require.NoError(t, err)
	assert.Contains(t, string(html), "<html")
	assert.Contains(t, string(html), "put(x,")
}

func TestRecorderClockOrdersOperations(t *testing.T) {
	var r linear.Recorder
	c1 := r.Now()
	r1 := r.Now()
	c2 := r.Now()
	gi, go0 := get("x", "", false)
	r.Add(0, gi, go0, c1, r1)
	r.Add(1, gi, go0, c2, r.Now())
	ops := r.Operations()
	require.Len(t, ops, 2)
	assert.Less(t, ops[0].Return, ops[1].Call)
}
