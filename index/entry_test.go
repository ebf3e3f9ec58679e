package index

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCompareMatchesBytesCompare: the inline-prefix comparison orders keys
// exactly as bytes.Compare does, around the 16-byte prefix boundary, with
// zero bytes (the padding value) and with shared prefixes.
func TestCompareMatchesBytesCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	alphabet := []byte{0, 1, 'a', 0xff}
	gen := func() []byte {
		k := make([]byte, r.IntN(20))
		for i := range k {
			k[i] = alphabet[r.IntN(len(alphabet))]
		}
		return k
	}
	keys := [][]byte{nil, {}, {0}, {0, 0}, bytes.Repeat([]byte{0}, 16), bytes.Repeat([]byte{0}, 17), []byte("key0000000000001"), []byte("key00000000000010")}
	for range 2000 {
		keys = append(keys, gen())
	}
	for i, a := range keys {
		for _, b := range keys[max(0, i-40):min(len(keys), i+40)] {
			pa, pb := probe(a), probe(b)
			assert.Equal(t, bytes.Compare(a, b), compare(&pa, &pb), "%q vs %q", a, b)
		}
	}
}

// TestEntryTracksNewestVersion: after any mix of adds (in and out of
// order, replacements), Installs (matching before-images and not),
// removals and prunes, the index passes Check (every entry carries its
// chain's newest version, no chain is empty, InFile only on a newest live
// version, exact counters) and, checked here too, a key with a single
// live version has no chain.
func TestEntryTracksNewestVersion(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	ix := New()
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("a\x00"), []byte("long-key-over-sixteen-bytes-1"), []byte("long-key-over-sixteen-bytes-2"), []byte("c"), []byte("d")}
	// file: each key's newest installed live version, the before-image
	// an Install gives; it goes stale when a test-only Add or a Remove
	// changes the key, and then Install may fail, which is fine: it must
	// change nothing.
	file := map[string]Version{}
	var added []Entry
	ts, horizon := uint64(0), uint64(0)
	for step := range 5000 {
		switch op := r.IntN(12); {
		case op < 4:
			ts++
			e := Entry{Key: keys[r.IntN(len(keys))], Version: Version{TS: ts, Tombstone: r.IntN(5) == 0, Value: []byte{byte(step)}}}
			if r.IntN(8) == 0 && ts > 3 && ts-3 > horizon { // out of order
				e.Version.TS = ts - uint64(r.IntN(3))
				e.Version.Seq = uint32(1 + r.IntN(2))
				if e.Version.TS >= ix.LatestTS(e.Key) {
					// Not over an InFile newest: see
					// TestInstallSameTSHigherSeqOverInFile.
					e.Version.TS, e.Version.Seq = ts, 0
				}
			}
			ix.Add(e.Key, e.Version)
			added = append(added, e)
		case op < 7:
			ts++
			k := keys[r.IntN(len(keys))]
			v := Version{TS: ts, Tombstone: r.IntN(5) == 0}
			v.InFile = !v.Tombstone
			var before *Version
			if f, ok := file[string(k)]; ok && r.IntN(10) > 0 {
				before = &Version{TS: f.TS, Value: []byte{byte(step)}}
			}
			versions, garbage, n := ix.Versions(), ix.Garbage(), ix.Len()
			var err error
			ix.Write(func(w Writer) { err = w.Install(k, before, v) })
			if err != nil {
				require.Equal(t, []int64{versions, garbage, int64(n)}, []int64{ix.Versions(), ix.Garbage(), int64(ix.Len())},
					"step %d: a failed Install changed the index", step)
				break
			}
			added = append(added, Entry{Key: k, Version: v})
			if v.Tombstone {
				delete(file, string(k))
			} else {
				file[string(k)] = v
			}
		case op < 9 && len(added) > 0:
			i := r.IntN(len(added))
			ix.Remove([]Entry{added[i]})
			added = append(added[:i], added[i+1:]...)
		default:
			horizon = max(horizon, ts-min(ts, uint64(r.IntN(4))))
			ix.Prune(horizon, 1+r.IntN(4))
		}
		require.NoError(t, ix.Check(), "step %d", step)
		rs := ix.mu.RLock()
		ix.tree.Ascend(func(e entry) bool {
			if e.c != nil && len(e.c.versions) == 1 {
				require.True(t, e.top.Tombstone || e.c.spilled, "step %d: %q: a chain for a single live version", step, e.key)
			}
			return true
		})
		ix.mu.RUnlock(rs)
	}
}

// TestCheckCatchesCorruption: Check reports what it promises to.
func TestCheckCatchesCorruption(t *testing.T) {
	corrupt := map[string]func(ix *Index){
		"entry copy differs": func(ix *Index) {
			e, _ := ix.lookup([]byte("a"))
			e.top.TS = 99
			ix.tree.ReplaceOrInsert(e)
		},
		"InFile not newest": func(ix *Index) {
			e, _ := ix.lookup([]byte("a"))
			e.c.versions[0].InFile = true
		},
		"InFile tombstone": func(ix *Index) {
			e, _ := ix.lookup([]byte("b"))
			e.c.versions[0].InFile = true
			e.top.InFile = true
			ix.tree.ReplaceOrInsert(e)
		},
		"out of order": func(ix *Index) {
			e, _ := ix.lookup([]byte("a"))
			e.c.versions[0].TS = 5
		},
		"version counter": func(ix *Index) { ix.versions.Add(1) },
		"garbage counter": func(ix *Index) { ix.garbage++ },
		"chainless tombstone": func(ix *Index) {
			e, _ := ix.lookup([]byte("b"))
			e.c = nil
			ix.tree.ReplaceOrInsert(e)
		},
	}
	for name, f := range corrupt {
		t.Run(name, func(t *testing.T) {
			ix := New()
			ix.Add([]byte("a"), Version{TS: 1, Value: []byte("1")})
			ix.Add([]byte("a"), Version{TS: 2, Value: []byte("2")})
			ix.Add([]byte("b"), Version{TS: 3, Tombstone: true})
			require.NoError(t, ix.Check())
			f(ix)
			assert.Error(t, ix.Check())
		})
	}
}
