package index_test

// Microbenchmarks of the index: point lookups, range walks, commits and
// memory per key and per version. Compare runs with benchstat:
//
//	go test -run '^$' -bench . -count 6 ./index > new.txt
//	benchstat old.txt new.txt

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mvkv/mvkv/index"
)

func ibKey(i int) []byte { return fmt.Appendf(nil, "key%013d", i) }

// ibIndex holds n keys with one 100-byte version each, added in a
// shuffled order as commits would.
func ibIndex(n int) *index.Index {
	ix := index.New()
	val := make([]byte, 100)
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		ix.Add(ibKey(i), index.Version{TS: uint64(i + 1), Value: val})
	}
	return ix
}

// BenchmarkFind: the visible version of a random key of 100,000.
func BenchmarkFind(b *testing.B) {
	const n = 100_000
	ix := ibIndex(n)
	keys := make([][]byte, 1<<12)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range keys {
		keys[i] = ibKey(r.IntN(n))
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, visible, held := ix.Find(keys[i&(len(keys)-1)], n+1); !visible || !held {
				b.Error("missing key")
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "finds/s")
}

// BenchmarkAscend1000: a walk over 1000 keys from a random start.
func BenchmarkAscend1000(b *testing.B) {
	const n, walk = 100_000, 1000
	ix := ibIndex(n)
	r := rand.New(rand.NewPCG(5, 6))
	for b.Loop() {
		seen := 0
		ix.Ascend(ibKey(r.IntN(n-walk)), nil, n+1, func([]byte, index.Version) bool {
			seen++
			return seen < walk
		})
		if seen != walk {
			b.Fatalf("walked %d keys", seen)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*walk), "ns/key")
}

// BenchmarkApply: a commit of 10 new versions of random existing keys.
func BenchmarkApply(b *testing.B) {
	const n, batch = 100_000, 10
	ix := ibIndex(n)
	r := rand.New(rand.NewPCG(7, 8))
	val := make([]byte, 100)
	ts := uint64(n + 1)
	entries := make([]index.Entry, batch)
	for b.Loop() {
		ts++
		for i := range entries {
			entries[i] = index.Entry{Key: ibKey(r.IntN(n)), Version: index.Version{TS: ts, Seq: uint32(i), Value: val}}
		}
		ix.Apply(entries)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/version")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory reports the index's own memory per key (tree node
// share; the 16-byte key and the value excluded) and per extra version
// (the chain and the version), for keys whose newest version is InFile
// (as commits install them: no value held) and for keys added with their
// values (as Add does; the values are shared, so not counted).
func BenchmarkMemory(b *testing.B) {
	const n = 200_000
	val := make([]byte, 100)
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = ibKey(i)
	}
	for _, how := range []string{"install", "add"} {
		b.Run(how, func(b *testing.B) {
			var perKey, perVersion float64
			for b.Loop() {
				before := liveHeap()
				ix := index.New()
				add := func(k []byte, ts uint64, prev *index.Version) {
					if how == "add" {
						ix.Add(k, index.Version{TS: ts, Value: val})
						return
					}
					ix.Write(func(w index.Writer) {
						if err := w.Install(k, prev, index.Version{TS: ts, InFile: true}); err != nil {
							b.Fatal(err)
						}
					})
				}
				for i, k := range keys {
					add(k, uint64(i+1), nil)
				}
				mid := liveHeap()
				for i, k := range keys {
					add(k, uint64(n+i+1), &index.Version{TS: uint64(i + 1), Value: val})
				}
				after := liveHeap()
				perKey = float64(mid-before) / n
				perVersion = float64(after-mid) / n
				runtime.KeepAlive(ix)
			}
			b.ReportMetric(perKey, "B/key")
			b.ReportMetric(perVersion, "B/version")
		})
	}
}
