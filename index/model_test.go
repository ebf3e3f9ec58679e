package index_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

// store models the engine around the index: the file holds each key's
// newest committed version with its value (a deleted key is absent from
// it), and commits install their versions as mvcc does: a put as InFile
// with no value, a delete as a tombstone, each with the file's version of
// its key as the before-image. hist keeps every committed version, the
// truth that reads are checked against.
type store struct {
	t    testing.TB
	ix   *index.Index
	file map[string]index.Version
	hist map[string][]index.Version
}

func newStore(t testing.TB) *store {
	return &store{t: t, ix: index.New(), file: map[string]index.Version{}, hist: map[string][]index.Version{}}
}

// write is one write of a commit; del makes it a delete.
type write struct {
	key, val string
	del      bool
}

// seed puts key=val in the file at ts without the index, as a key
// written before the oldest open snapshot (the index never held it, or
// has let it go).
func (s *store) seed(key string, ts uint64, val string) {
	v := index.Version{TS: ts, Value: []byte(val)}
	s.file[key] = v
	s.hist[key] = append(s.hist[key], v)
}

// install runs one commit's Installs in one Write and returns the
// entries installed, as mvcc collects them for an undo.
func (s *store) install(ts uint64, ws ...write) []index.Entry {
	var entries []index.Entry
	s.ix.Write(func(w index.Writer) {
		for i, wr := range ws {
			var before *index.Version
			if f, ok := s.file[wr.key]; ok {
				// A copy with its value, as readBefores gives it.
				before = &index.Version{TS: f.TS, Value: append([]byte(nil), f.Value...)}
			}
			v := index.Version{TS: ts, Seq: uint32(i), Tombstone: wr.del, InFile: !wr.del}
			require.NoError(s.t, w.Install([]byte(wr.key), before, v))
			entries = append(entries, index.Entry{Key: []byte(wr.key), Version: v})
		}
	})
	return entries
}

// commit installs ws at ts and writes them to the file.
func (s *store) commit(ts uint64, ws ...write) {
	s.install(ts, ws...)
	for i, wr := range ws {
		v := index.Version{TS: ts, Seq: uint32(i), Tombstone: wr.del, Value: []byte(wr.val)}
		if wr.del {
			v.Value = nil
			delete(s.file, wr.key)
		} else {
			s.file[wr.key] = v
		}
		s.hist[wr.key] = append(s.hist[wr.key], v)
	}
}

// fail installs ws at ts and undoes them with Remove, as a commit whose
// file transaction failed: the file and the history do not change.
func (s *store) fail(ts uint64, ws ...write) {
	s.ix.Remove(s.install(ts, ws...))
}

// put and del commit one write.
func (s *store) put(key string, ts uint64, val string) { s.commit(ts, write{key: key, val: val}) }
func (s *store) del(key string, ts uint64)             { s.commit(ts, write{key: key, del: true}) }

// read returns key's value at snapshot ts as the engine reads it: the
// index's answer when it holds the key (an InFile version's value from the
// file, which must hold that very version), else the file's newest
// version, which must not be newer than ts. "-" is absent.
func (s *store) read(key string, ts uint64) string {
	v, visible, held := s.ix.Find([]byte(key), ts)
	f, inFile := s.file[key]
	switch {
	case held && (!visible || v.Tombstone):
		return "-"
	case held && v.InFile:
		require.True(s.t, inFile, "%s@%d: InFile version %d, the file holds nothing", key, ts, v.TS)
		require.Equal(s.t, v.TS, f.TS, "%s@%d: InFile version is not the file's", key, ts)
		return string(f.Value)
	case held:
		return string(v.Value)
	case !inFile:
		return "-"
	}
	require.LessOrEqual(s.t, f.TS, ts, "%s@%d: the index let go of a key the file holds newer", key, ts)
	return string(f.Value)
}

// truth returns key's value at ts from the history.
func (s *store) truth(key string, ts uint64) string {
	out := "-"
	for _, v := range s.hist[key] {
		if v.TS > ts {
			break
		}
		out = "-"
		if !v.Tombstone {
			out = string(v.Value)
		}
	}
	return out
}

// truthNewer returns the timestamps of key's commits above ts.
func (s *store) truthNewer(key string, ts uint64) []uint64 {
	var out []uint64
	for _, v := range s.hist[key] {
		if v.TS > ts {
			out = append(out, v.TS)
		}
	}
	return out
}

// keys returns every key the history knows, sorted.
func (s *store) keys() []string {
	return slices.Sorted(maps.Keys(s.hist))
}

// checkSnapshots verifies that every snapshot in [from, to] reads the
// history's truth for every key, that Lookup reports exactly the commits
// newer than the snapshot, and that Walk agrees with Lookup key by key.
func (s *store) checkSnapshots(from, to uint64, msg string) {
	s.t.Helper()
	keys := s.keys()
	for ts := from; ts <= to; ts++ {
		walked := map[string]index.Item{}
		s.ix.Walk(nil, nil, ts, true, func(it index.Item) bool {
			walked[string(it.Key)] = it
			return true
		})
		for _, k := range keys {
			require.Equal(s.t, s.truth(k, ts), s.read(k, ts), "%s: %s at %d", msg, k, ts)
			v, visible, held, newer := s.ix.Lookup([]byte(k), ts)
			require.Equal(s.t, s.truthNewer(k, ts), newer, "%s: %s at %d: newer commits", msg, k, ts)
			it, met := walked[k]
			require.Equal(s.t, held, met, "%s: %s at %d: Walk meets the held keys", msg, k, ts)
			if held {
				require.Equal(s.t, index.Item{Key: []byte(k), Version: v, Visible: visible, Newer: newer}, it, "%s: %s at %d", msg, k, ts)
			}
		}
		require.Len(s.t, walked, s.ix.Len(), "%s: Walk meets every key once", msg)
	}
}

// heldTS returns the timestamps of the versions the index holds for key
// (all of them are newer than 0), nil if it holds none.
func heldTS(ix *index.Index, key string) []uint64 {
	_, _, _, newer := ix.Lookup([]byte(key), 0)
	return newer
}
