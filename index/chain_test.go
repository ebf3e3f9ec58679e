package index

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func v(ts uint64, val string) Version { return Version{TS: ts, Value: []byte(val)} }

func tomb(ts uint64) Version { return Version{TS: ts, Tombstone: true} }

func chainOf(vs ...Version) *chain {
	c := &chain{key: []byte("k")}
	for _, x := range vs {
		c.add(x)
	}
	return c
}

func tss(vs []Version) []uint64 {
	out := make([]uint64, len(vs))
	for i, x := range vs {
		out[i] = x.TS
	}
	return out
}

func TestChainVisible(t *testing.T) {
	c := chainOf(v(2, "a"), v(5, "b"), tomb(7), v(9, "c"))
	tests := []struct {
		ts        uint64
		ok        bool
		wantTS    uint64
		tombstone bool
	}{
		{ts: 0, ok: false},
		{ts: 1, ok: false},
		{ts: 2, ok: true, wantTS: 2},
		{ts: 4, ok: true, wantTS: 2},
		{ts: 5, ok: true, wantTS: 5},
		{ts: 7, ok: true, wantTS: 7, tombstone: true},
		{ts: 8, ok: true, wantTS: 7, tombstone: true},
		{ts: 9, ok: true, wantTS: 9},
		{ts: ^uint64(0), ok: true, wantTS: 9},
	}
	for _, tt := range tests {
		got, ok := c.visible(tt.ts)
		require.Equal(t, tt.ok, ok, "ts=%d", tt.ts)
		if ok {
			assert.Equal(t, tt.wantTS, got.TS, "ts=%d", tt.ts)
			assert.Equal(t, tt.tombstone, got.Tombstone, "ts=%d", tt.ts)
		}
	}
	l, ok := c.latest()
	require.True(t, ok)
	assert.Equal(t, uint64(9), l.TS)
	_, ok = (&chain{}).latest()
	assert.False(t, ok)
	_, ok = (&chain{}).visible(100)
	assert.False(t, ok)
}

func TestChainAddKeepsOrder(t *testing.T) {
	tests := []struct {
		name string
		in   []Version
		want []uint64
		seqs []uint32
	}{
		{"appends", []Version{v(1, ""), v(2, ""), v(3, "")}, []uint64{1, 2, 3}, []uint32{0, 0, 0}},
		{"out of order", []Version{v(5, ""), v(1, ""), v(3, ""), v(2, ""), v(9, "")}, []uint64{1, 2, 3, 5, 9}, []uint32{0, 0, 0, 0, 0}},
		{"same ts by seq", []Version{{TS: 4, Seq: 2}, {TS: 4, Seq: 0}, {TS: 4, Seq: 1}}, []uint64{4, 4, 4}, []uint32{0, 1, 2}},
		{"duplicate replaced", []Version{v(1, "x"), v(2, "old"), v(3, ""), v(2, "new")}, []uint64{1, 2, 3}, []uint32{0, 0, 0}},
		{"duplicate of last replaced", []Version{v(1, ""), v(2, "old"), v(2, "new")}, []uint64{1, 2}, []uint32{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chainOf(tt.in...)
			assert.Equal(t, tt.want, tss(c.versions))
			seqs := make([]uint32, len(c.versions))
			for i, x := range c.versions {
				seqs[i] = x.Seq
			}
			assert.Equal(t, tt.seqs, seqs)
		})
	}
	c := chainOf(v(1, "x"), v(2, "old"), v(3, ""), v(2, "new"))
	got, _ := c.visible(2)
	assert.Equal(t, "new", string(got.Value), "a re-added (TS, Seq) replaces the version")
}

func TestChainPrune(t *testing.T) {
	tests := []struct {
		name    string
		chain   []Version
		horizon uint64
		removed []uint64
		kept    []uint64
	}{
		{"horizon below all", []Version{v(5, ""), v(7, "")}, 4, nil, []uint64{5, 7}},
		{"only the newest at horizon kept", []Version{v(1, ""), v(3, ""), v(5, ""), v(8, "")}, 6, []uint64{1, 3}, []uint64{5, 8}},
		{"horizon exactly on a version", []Version{v(1, ""), v(3, ""), v(5, "")}, 3, []uint64{1}, []uint64{3, 5}},
		{"single live version stays", []Version{v(2, "")}, 10, nil, []uint64{2}},
		{"tombstone at horizon goes with all below", []Version{v(1, ""), v(2, ""), tomb(4)}, 4, []uint64{1, 2, 4}, []uint64{}},
		{"tombstone above horizon stays", []Version{v(1, ""), v(2, ""), tomb(6)}, 4, []uint64{1}, []uint64{2, 6}},
		{"tombstone then newer value", []Version{v(1, ""), tomb(3), v(5, "")}, 9, []uint64{1, 3}, []uint64{5}},
		{"lone tombstone", []Version{tomb(3)}, 3, []uint64{3}, []uint64{}},
		{"empty chain", nil, 10, nil, []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chainOf(tt.chain...)
			// Every snapshot at or above the horizon must read the same
			// thing before and after pruning (a tombstone and nothing are
			// the same to a reader).
			type read struct {
				ok  bool
				val string
			}
			readAt := func(ts uint64) read {
				x, ok := c.visible(ts)
				if !ok || x.Tombstone {
					return read{}
				}
				return read{true, string(x.Value)}
			}
			before := map[uint64]read{}
			for ts := tt.horizon; ts < tt.horizon+12; ts++ {
				before[ts] = readAt(ts)
			}
			removed, _ := c.prune(tt.horizon, 1<<30)
			if tt.removed == nil {
				assert.Empty(t, removed)
			} else {
				assert.Equal(t, tt.removed, tss(removed))
			}
			assert.Equal(t, tt.kept, tss(c.versions))
			for ts, want := range before {
				assert.Equal(t, want, readAt(ts), "snapshot %d reads differently after prune", ts)
			}
			again, _ := c.prune(tt.horizon, 1<<30)
			assert.Empty(t, again, "pruning twice at one horizon removes nothing more")
		})
	}
}

// TestDocExample checks the worked example of doc.go, so that the package
// documentation cannot drift from the code.
func TestDocExample(t *testing.T) {
	ix := New()
	history := []struct {
		ts  uint64
		key string
		val string // "" is a delete
	}{
		{1, "a", "apple"}, {2, "b", "berry"}, {3, "a", "avocado"}, {4, "b", ""},
		{5, "c", "cherry"}, {6, "b", "banana"}, {7, "a", ""},
	}
	for _, h := range history {
		ix.Add([]byte(h.key), Version{TS: h.ts, Tombstone: h.val == "", Value: []byte(h.val)})
	}
	table := map[uint64][3]string{ // "-" absent, "T" tombstone
		0: {"-", "-", "-"},
		2: {"apple", "berry", "-"},
		4: {"avocado", "T", "-"},
		5: {"avocado", "T", "cherry"},
		6: {"avocado", "banana", "cherry"},
		7: {"T", "banana", "cherry"},
	}
	read := func(key string, ts uint64) string {
		x, ok := ix.Get([]byte(key), ts)
		switch {
		case !ok:
			return "-"
		case x.Tombstone:
			return "T"
		}
		return string(x.Value)
	}
	for ts, row := range table {
		for i, key := range []string{"a", "b", "c"} {
			assert.Equal(t, row[i], read(key, ts), "%s at %d", key, ts)
		}
	}

	type walked struct {
		key     string
		visible bool
		newer   []uint64
	}
	var got []walked
	ix.Walk(nil, nil, 2, true, func(it Item) bool {
		got = append(got, walked{string(it.Key), it.Visible, it.Newer})
		return true
	})
	assert.Equal(t, []walked{{"a", true, []uint64{3, 7}}, {"b", true, []uint64{4, 6}}, {"c", false, []uint64{5}}}, got)

	chains := func() map[string][]uint64 {
		out := map[string][]uint64{}
		ix.tree.Ascend(func(e entry) bool {
			vs := []Version{e.top}
			if e.c != nil {
				vs = e.c.versions // as pruned below, hollow or not
			}
			out[string(e.key)] = tss(vs)
			return true
		})
		return out
	}
	prune := func(h uint64) {
		ix.tree.Ascend(func(e entry) bool {
			e.chain().prune(h, 1<<30)
			return true
		})
	}
	prune(5)
	assert.Equal(t, map[string][]uint64{"a": {3, 7}, "b": {6}, "c": {5}}, chains())
	for ts, row := range table {
		if ts < 5 {
			continue
		}
		for i, key := range []string{"a", "b", "c"} {
			got := read(key, ts)
			if got == "T" {
				got = "-"
			}
			want := row[i]
			if want == "T" {
				want = "-"
			}
			assert.Equal(t, want, got, "%s at %d after prune(5)", key, ts)
		}
	}
	prune(7)
	assert.Equal(t, map[string][]uint64{"a": {}, "b": {6}, "c": {5}}, chains(), "a's chain empties at horizon 7")
}

func TestChainNewer(t *testing.T) {
	c := chainOf(v(2, ""), v(5, ""), tomb(7), v(9, ""))
	tests := []struct {
		ts   uint64
		want []uint64
	}{
		{0, []uint64{2, 5, 7, 9}},
		{2, []uint64{5, 7, 9}},
		{6, []uint64{7, 9}},
		{8, []uint64{9}},
		{9, nil},
		{100, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, c.newer(tt.ts), "newer(%d)", tt.ts)
	}
	assert.Nil(t, (&chain{}).newer(0))
}
