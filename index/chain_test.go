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
	_, ok := (&chain{}).visible(100)
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

// read is what a snapshot at ts reads of a key whose chain is c, the file
// holding file (nil: nothing): the chain when it holds anything, else the
// file. "-" is absent.
func read(c *chain, file *Version, ts uint64) string {
	if len(c.versions) == 0 {
		if file == nil {
			return "-"
		}
		return string(file.Value)
	}
	x, ok := c.visible(ts)
	if !ok || x.Tombstone {
		return "-"
	}
	return string(x.Value)
}

// fileOf is the file's version of a key whose chain is c: the newest,
// nil when it is a tombstone.
func fileOf(c *chain) *Version {
	if n := len(c.versions); n > 0 && !c.versions[n-1].Tombstone {
		f := c.versions[n-1]
		return &f
	}
	return nil
}

func TestChainPrune(t *testing.T) {
	tests := []struct {
		name    string
		chain   []Version
		horizon uint64
		kept    []uint64
	}{
		{"horizon below all", []Version{v(5, "5"), v(7, "7")}, 4, []uint64{5, 7}},
		{"older than the version at the horizon go", []Version{v(1, "1"), v(3, "3"), v(5, "5"), v(8, "8")}, 6, []uint64{5, 8}},
		{"horizon exactly on a version", []Version{v(1, "1"), v(3, "3"), v(5, "5")}, 3, []uint64{3, 5}},
		{"newest at the horizon: the whole key goes", []Version{v(1, "1"), v(3, "3"), v(5, "5")}, 5, []uint64{}},
		{"single version below the horizon goes", []Version{v(2, "2")}, 10, []uint64{}},
		{"single version above the horizon stays", []Version{v(2, "2")}, 1, []uint64{2}},
		{"tombstone at horizon goes with all below", []Version{v(1, "1"), v(2, "2"), tomb(4)}, 4, []uint64{}},
		{"tombstone visible at the horizon goes", []Version{v(1, "1"), tomb(3), v(6, "6")}, 4, []uint64{6}},
		{"tombstone above horizon stays", []Version{v(1, "1"), v(2, "2"), tomb(6)}, 4, []uint64{2, 6}},
		{"tombstone then newer value, all below", []Version{v(1, "1"), tomb(3), v(5, "5")}, 9, []uint64{}},
		{"lone tombstone", []Version{tomb(3)}, 3, []uint64{}},
		{"lone tombstone above", []Version{tomb(3)}, 2, []uint64{3}},
		{"empty chain", nil, 10, []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := chainOf(tt.chain...)
			file := fileOf(c)
			n := len(c.versions)
			assert.Equal(t, n-len(tt.kept), c.removable(tt.horizon))
			// Every snapshot at or above the horizon must read the same
			// thing before and after pruning (a tombstone and nothing are
			// the same to a reader; an emptied chain reads the file).
			before := map[uint64]string{}
			for ts := tt.horizon; ts < tt.horizon+12; ts++ {
				before[ts] = read(c, file, ts)
			}
			removed, complete := c.prune(tt.horizon, 1<<30)
			assert.Equal(t, n-len(tt.kept), removed)
			assert.True(t, complete)
			assert.Equal(t, tt.kept, tss(c.versions))
			for ts, want := range before {
				assert.Equal(t, want, read(c, file, ts), "snapshot %d reads differently after prune", ts)
			}
			again, complete := c.prune(tt.horizon, 1<<30)
			assert.Zero(t, again, "pruning twice at one horizon removes nothing more")
			assert.True(t, complete)
		})
	}
}

// TestChainPrunePartial: a prune with a small limit takes the oldest
// first and the newest last, so every intermediate chain reads the same
// at and above the horizon, and a deleted key never reads live.
func TestChainPrunePartial(t *testing.T) {
	for _, last := range []Version{tomb(11), v(11, "11")} {
		var vs []Version
		for ts := uint64(1); ts <= 10; ts++ {
			vs = append(vs, v(ts, string(rune('0'+ts))))
		}
		c := chainOf(append(vs, last)...)
		file := fileOf(c)
		for _, h := range []uint64{6, 20} {
			want := map[uint64]string{}
			for ts := h; ts < 25; ts++ {
				want[ts] = read(c, file, ts)
			}
			for {
				n := len(c.versions)
				removed, complete := c.prune(h, 2)
				assert.LessOrEqual(t, removed, 2)
				if n > 0 && removed > 0 {
					assert.Len(t, c.versions, n-removed)
				}
				for ts, w := range want {
					require.Equal(t, w, read(c, file, ts), "h %d, %d left: snapshot %d", h, len(c.versions), ts)
				}
				if complete {
					break
				}
			}
			if h == 6 {
				assert.Equal(t, []uint64{6, 7, 8, 9, 10, 11}, tss(c.versions))
			} else {
				assert.Empty(t, c.versions)
			}
		}
	}
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

func TestChainGarbage(t *testing.T) {
	assert.Equal(t, int64(0), chainOf().garbage())
	assert.Equal(t, int64(0), chainOf(v(1, "")).garbage(), "the live newest is the file's")
	assert.Equal(t, int64(1), chainOf(tomb(1)).garbage())
	assert.Equal(t, int64(2), chainOf(v(1, ""), tomb(2), v(3, "")).garbage())
	assert.Equal(t, int64(3), chainOf(v(1, ""), tomb(2), tomb(3)).garbage())
}
