package elle_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/internal/elle"
)

func ok(id int, ops ...elle.Op) elle.Txn { return elle.Txn{ID: id, Status: elle.OK, Ops: ops} }

type list = []int

func TestCheckHandMadeHistories(t *testing.T) {
	r, a := elle.R, elle.A
	tests := []struct {
		name string
		h    elle.History
		want []elle.Kind
	}{
		{"serial history", elle.History{
			ok(1, r("x", nil), a("x", 1)),
			ok(2, r("x", list{1}), a("x", 2), r("y", nil)),
			ok(3, r("x", list{1, 2}), a("y", 3)),
			ok(4, r("x", list{1, 2}), r("y", list{3})),
		}, nil},
		{"reads of own appends", elle.History{
			ok(1, r("x", nil), a("x", 1), r("x", list{1}), a("x", 2), r("x", list{1, 2})),
			ok(2, r("x", list{1, 2})),
		}, nil},
		{"failed transaction never seen", elle.History{
			{ID: 1, Status: elle.Failed, Ops: []elle.Op{a("x", 1)}},
			ok(2, r("x", nil)),
		}, nil},
		{"unknown outcome seen is not G1a", elle.History{
			{ID: 1, Status: elle.Unknown, Ops: []elle.Op{a("x", 1)}},
			ok(2, r("x", list{1})),
		}, nil},
		{"G0 write cycle", elle.History{
			ok(1, a("x", 1), a("y", 2)),
			ok(2, a("x", 3), a("y", 4)),
			ok(3, r("x", list{1, 3}), r("y", list{4, 2})),
		}, []elle.Kind{elle.G0}},
		{"G1a aborted read", elle.History{
			{ID: 1, Status: elle.Failed, Ops: []elle.Op{a("x", 1)}},
			ok(2, r("x", list{1})),
		}, []elle.Kind{elle.G1a}},
		{"G1b intermediate read", elle.History{
			ok(1, a("x", 1), a("x", 2)),
			ok(2, r("x", list{1})),
		}, []elle.Kind{elle.G1b}},
		{"G1c circular information flow", elle.History{
			ok(1, a("x", 1), r("y", list{2})),
			ok(2, a("y", 2), r("x", list{1})),
		}, []elle.Kind{elle.G1c}},
		{"G-single read skew", elle.History{
			ok(1, r("x", nil), r("y", list{2})),
			ok(2, a("x", 1), a("y", 2)),
			ok(3, r("x", list{1})),
		}, []elle.Kind{elle.GSingle}},
		{"lost update, one version seen", elle.History{
			ok(1, r("x", nil), a("x", 1)),
			ok(2, r("x", nil), a("x", 2)),
			ok(3, r("x", list{2})),
		}, []elle.Kind{elle.LostUpdate}},
		{"lost update, both versions seen", elle.History{
			ok(1, r("x", nil), a("x", 1)),
			ok(2, r("x", nil), a("x", 2)),
			ok(3, r("x", list{2})),
			ok(4, r("x", list{1})),
		}, []elle.Kind{elle.LostUpdate, elle.G2Item, elle.IncompatibleOrder}},
		{"lost update after a fork", elle.History{
			ok(1, r("x", list{5}), a("x", 1)),
			ok(2, r("x", list{5}), a("x", 2)),
			ok(5, a("x", 5)),
			ok(3, r("x", list{5, 2})),
		}, []elle.Kind{elle.LostUpdate}},
		{"G2-item write skew", elle.History{
			ok(1, r("x", nil), r("y", nil), a("x", 1)),
			ok(2, r("x", nil), r("y", nil), a("y", 2)),
			ok(3, r("x", list{1}), r("y", list{2})),
		}, []elle.Kind{elle.G2Item}},
		{"duplicate elements", elle.History{
			ok(1, a("x", 1)),
			ok(2, r("x", list{1, 1})),
		}, []elle.Kind{elle.DuplicateElements}},
		{"duplicate append", elle.History{
			ok(1, a("x", 1)),
			ok(2, a("x", 1)),
		}, []elle.Kind{elle.DuplicateElements}},
		{"garbage read", elle.History{
			ok(1, r("x", list{9})),
		}, []elle.Kind{elle.GarbageRead}},
		{"internal inconsistency", elle.History{
			ok(1, r("x", nil), a("x", 1), r("x", nil)),
		}, []elle.Kind{elle.Internal}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := elle.Check(tt.h)
			assert.Equal(t, tt.want, rep.Kinds(), "%s", rep)
			assert.Equal(t, len(tt.want) == 0, rep.Valid())
		})
	}
}

func TestCheckCycleDetail(t *testing.T) {
	r, a := elle.R, elle.A
	rep := elle.Check(elle.History{
		ok(1, r("x", nil), r("y", list{2})),
		ok(2, a("x", 1), a("y", 2)),
		ok(3, r("x", list{1})),
	})
	require.Equal(t, 1, rep.Count(elle.GSingle), "%s", rep)
	got := rep.Anomalies[0]
	assert.ElementsMatch(t, []int{1, 2}, got.Txns)
	assert.Contains(t, []string{"T1 -rw(x)-> T2 -wr(y)-> T1", "T2 -wr(y)-> T1 -rw(x)-> T2"}, got.Detail)
	assert.Equal(t, 3, rep.Committed)
	assert.Equal(t, 3, rep.Edges) // T1 -rw-> T2, T2 -wr-> T1, T2 -wr-> T3
}

// The report carries the graph it searched and each cycle's edges, so
// that a picture of the history can draw them.
func TestCheckExposesGraphAndCycle(t *testing.T) {
	r, a := elle.R, elle.A
	rep := elle.Check(elle.History{
		ok(1, r("x", nil), r("y", nil), a("x", 1)),
		ok(2, r("x", nil), r("y", nil), a("y", 2)),
		ok(3, r("x", list{1}), r("y", list{2})),
	})
	assert.Equal(t, []elle.Edge{
		{From: 1, To: 2, Type: elle.RW, Key: "y"},
		{From: 1, To: 3, Type: elle.WR, Key: "x"},
		{From: 2, To: 1, Type: elle.RW, Key: "x"},
		{From: 2, To: 3, Type: elle.WR, Key: "y"},
	}, rep.Graph)
	require.Equal(t, []elle.Kind{elle.G2Item}, rep.Kinds(), "%s", rep)
	cyc := rep.Anomalies[0].Cycle
	require.Len(t, cyc, 2)
	for i, e := range cyc {
		assert.Equal(t, elle.RW, e.Type)
		assert.Equal(t, cyc[(i+1)%len(cyc)].From, e.To, "the cycle's edges follow each other")
	}
	assert.True(t, strings.HasPrefix(rep.Anomalies[0].Detail, cyc[0].String()), "%s starts with %s", rep.Anomalies[0].Detail, cyc[0])
}

// A long chain of serial transactions stays clean, and breaking a single
// read in the middle is caught: the checker is not fooled by volume.
func TestCheckLongSerialChain(t *testing.T) {
	var h elle.History
	var xs []int
	for i := 1; i <= 500; i++ {
		h = append(h, ok(i, elle.R("x", append([]int(nil), xs...)), elle.A("x", i)))
		xs = append(xs, i)
	}
	require.True(t, elle.Check(h).Valid())
	// Transaction 300 now claims to have read the state before 299's append:
	// it read a stale version and overwrote it (a lost update).
	h[299].Ops[0].List = xs[:297]
	rep := elle.Check(h)
	assert.True(t, rep.Has(elle.LostUpdate), "%s", rep)
}

func ExampleCheck() {
	h := elle.History{
		{ID: 1, Status: elle.OK, Ops: []elle.Op{elle.R("x", nil), elle.R("y", nil), elle.A("x", 1)}},
		{ID: 2, Status: elle.OK, Ops: []elle.Op{elle.R("x", nil), elle.R("y", nil), elle.A("y", 2)}},
		{ID: 3, Status: elle.OK, Ops: []elle.Op{elle.R("x", []int{1}), elle.R("y", []int{2})}},
	}
	rep := elle.Check(h)
	fmt.Println(rep.Kinds())
	// Output: [G2-item]
}
