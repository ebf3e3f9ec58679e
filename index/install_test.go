package index_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/index"
)

func install(t *testing.T, ix *index.Index, key string, before *index.Version, v index.Version) error {
	t.Helper()
	var err error
	ix.Write(func(w index.Writer) { err = w.Install([]byte(key), before, v) })
	return err
}

func find(ix *index.Index, key string, ts uint64) (index.Version, bool, bool) {
	return ix.Find([]byte(key), ts)
}

func TestInstallNewKeyWithoutFileVersion(t *testing.T) {
	ix := index.New()
	require.NoError(t, install(t, ix, "k", nil, index.Version{TS: 3, InFile: true}))
	v, visible, held := find(ix, "k", 3)
	assert.True(t, held && visible)
	assert.Equal(t, index.Version{TS: 3, InFile: true}, v, "the file has the value")
	_, visible, held = find(ix, "k", 2)
	assert.True(t, held, "the index's answer is authoritative")
	assert.False(t, visible, "absent before it was written")
	assert.Equal(t, int64(1), ix.Versions())
	assert.Equal(t, int64(0), ix.Garbage())
	assert.Equal(t, uint64(3), ix.LatestTS([]byte("k")))
	require.NoError(t, ix.Check())
}

func TestInstallNewKeyWithFileVersion(t *testing.T) {
	ix := index.New()
	// The before-image as the engine reads it; whatever its InFile says,
	// the index holds its value.
	before := &index.Version{TS: 1, InFile: true, Value: []byte("old")}
	require.NoError(t, install(t, ix, "k", before, index.Version{TS: 5, InFile: true}))
	for ts := uint64(1); ts < 5; ts++ {
		v, visible, held := find(ix, "k", ts)
		require.True(t, held && visible, "ts %d", ts)
		assert.Equal(t, index.Version{TS: 1, Value: []byte("old")}, v, "older snapshots read the before-image")
	}
	v, _, _ := find(ix, "k", 5)
	assert.Equal(t, index.Version{TS: 5, InFile: true}, v)
	_, visible, held := find(ix, "k", 0)
	assert.True(t, held)
	assert.False(t, visible)
	_, _, _, newer := ix.Lookup([]byte("k"), 3)
	assert.Equal(t, []uint64{5}, newer)
	assert.Equal(t, int64(2), ix.Versions())
	assert.Equal(t, int64(1), ix.Garbage())
	assert.Equal(t, int64(2), ix.Reclaimable(5), "both versions leave memory at 5")
	assert.Equal(t, int64(0), ix.Reclaimable(4))
	require.NoError(t, ix.Check())
}

func TestInstallDelete(t *testing.T) {
	ix := index.New()
	// A delete of a key the file holds: the before-image stays for older
	// snapshots.
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 2, Value: []byte("two")}, index.Version{TS: 5, Tombstone: true}))
	v, _, _ := find(ix, "k", 4)
	assert.Equal(t, "two", string(v.Value))
	v, visible, _ := find(ix, "k", 5)
	assert.True(t, visible && v.Tombstone)
	assert.Equal(t, int64(2), ix.Garbage(), "the value and the tombstone are both dead")

	// A delete of a key nobody wrote (a blind delete): a lone tombstone,
	// still a version conflict checks see.
	require.NoError(t, install(t, ix, "j", nil, index.Version{TS: 6, Tombstone: true}))
	v, visible, held := find(ix, "j", 6)
	assert.True(t, held && visible && v.Tombstone)
	_, visible, held = find(ix, "j", 5)
	assert.True(t, held)
	assert.False(t, visible)
	assert.Equal(t, uint64(6), ix.LatestTS([]byte("j")))
	assert.Equal(t, int64(3), ix.Versions())
	assert.Equal(t, int64(3), ix.Garbage())
	require.NoError(t, ix.Check())
}

func TestInstallHeldInFileNewestGetsValue(t *testing.T) {
	ix := index.New()
	require.NoError(t, install(t, ix, "k", nil, index.Version{TS: 3, Seq: 2, InFile: true}))
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 3, Value: []byte("three")}, index.Version{TS: 6, InFile: true}))
	v, _, _ := find(ix, "k", 5)
	assert.Equal(t, index.Version{TS: 3, Seq: 2, Value: []byte("three")}, v, "the file's value, the index's Seq, no longer InFile")
	v, _, _ = find(ix, "k", 6)
	assert.Equal(t, index.Version{TS: 6, InFile: true}, v)

	// The same through a delete, then a put over the tombstone: a
	// tombstone newest needs no before-image (the file holds nothing) and
	// any given is ignored.
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 6, Value: []byte("six")}, index.Version{TS: 8, Tombstone: true}))
	require.NoError(t, install(t, ix, "k", nil, index.Version{TS: 9, InFile: true}))
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 9, Value: []byte("nine")}, index.Version{TS: 10, Tombstone: true}))
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 1, Value: []byte("ignored")}, index.Version{TS: 11, InFile: true}))
	want := map[uint64]string{3: "three", 6: "six", 9: "nine"}
	for ts, val := range want {
		v, _, _ := find(ix, "k", ts)
		assert.Equal(t, val, string(v.Value), "ts %d", ts)
		assert.False(t, v.InFile)
	}
	assert.Equal(t, []uint64{3, 6, 8, 9, 10, 11}, heldTS(ix, "k"))
	// A value newest (added without the file, by Add) takes no image
	// either.
	put(ix, "j", 1, "j1")
	require.NoError(t, install(t, ix, "j", nil, index.Version{TS: 12, InFile: true}))
	v, _, _ = find(ix, "j", 11)
	assert.Equal(t, "j1", string(v.Value))
	require.NoError(t, ix.Check())
}

func TestInstallBeforeImageMismatch(t *testing.T) {
	ix := index.New()
	put(ix, "a", 1, "a1")
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 2, Value: []byte("two")}, index.Version{TS: 4, InFile: true}))
	require.NoError(t, install(t, ix, "k", &index.Version{TS: 4, Value: []byte("four")}, index.Version{TS: 6, InFile: true}))

	type state struct {
		Versions, Garbage, Reclaimable int64
		Len                            int
		Held                           []uint64
		Reads                          []index.Version
	}
	snapshot := func() state {
		s := state{Versions: ix.Versions(), Garbage: ix.Garbage(), Reclaimable: ix.Reclaimable(100), Len: ix.Len(), Held: heldTS(ix, "k")}
		for ts := uint64(0); ts <= 8; ts++ {
			v, _, _ := find(ix, "k", ts)
			s.Reads = append(s.Reads, v)
		}
		return s
	}
	was := snapshot()
	for name, before := range map[string]*index.Version{
		"no before-image": nil,
		"older":           {TS: 3, Value: []byte("x")},
		"newer":           {TS: 7, Value: []byte("x")},
		"a tombstone":     {TS: 6, Tombstone: true},
	} {
		t.Run(name, func(t *testing.T) {
			err := install(t, ix, "k", before, index.Version{TS: 8, InFile: true})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `"k"`)
			assert.Equal(t, was, snapshot(), "a failed Install changes nothing")
			require.NoError(t, ix.Check())
		})
	}
	// The failure inside a Write does not undo the Installs before it in
	// the same Write: the caller removes them (as mvcc does).
	var errs []error
	ix.Write(func(w index.Writer) {
		errs = append(errs, w.Install([]byte("n"), nil, index.Version{TS: 8, InFile: true}))
		errs = append(errs, w.Install([]byte("k"), nil, index.Version{TS: 8, Seq: 1, InFile: true}))
	})
	require.NoError(t, errs[0])
	require.Error(t, errs[1])
	ix.Remove([]index.Entry{{Key: []byte("n"), Version: index.Version{TS: 8}}})
	was.Reclaimable++ // the queue entry of n's removed version stays (stale)
	assert.Equal(t, was, snapshot())
	_, _, held := find(ix, "n", 8)
	assert.False(t, held)
	require.NoError(t, ix.Check())
}

// TestWriterNewest: a Writer sees the versions added earlier in the same
// Write, tombstones included.
func TestWriterNewest(t *testing.T) {
	ix := index.New()
	ix.Write(func(w index.Writer) {
		_, held := w.Newest([]byte("k"))
		assert.False(t, held)
		assert.NoError(t, w.Install([]byte("k"), nil, index.Version{TS: 3, InFile: true}))
		top, held := w.Newest([]byte("k"))
		assert.True(t, held)
		assert.Equal(t, uint64(3), top.TS, "sees its own additions")
		assert.NoError(t, w.Install([]byte("j"), nil, index.Version{TS: 3, Seq: 1, Tombstone: true}))
		top, _ = w.Newest([]byte("j"))
		assert.Equal(t, uint64(3), top.TS)
		assert.True(t, top.Tombstone)
	})
	assert.Equal(t, 2, ix.Len())
}

// TestRemoveUndoesInstall: Remove takes out exactly the named versions;
// a before-image an Install recorded stays, as what the file still holds.
func TestRemoveUndoesInstall(t *testing.T) {
	ix := index.New()
	require.NoError(t, install(t, ix, "held", nil, index.Version{TS: 2, InFile: true}))
	want := func() (int64, int64) { return ix.Versions(), ix.Garbage() }
	versions0, garbage0 := want()

	undo := []index.Entry{
		{Key: []byte("new"), Version: index.Version{TS: 5, InFile: true}},
		{Key: []byte("file"), Version: index.Version{TS: 5, Seq: 1, InFile: true}},
		{Key: []byte("held"), Version: index.Version{TS: 5, Seq: 2, InFile: true}},
		{Key: []byte("gone"), Version: index.Version{TS: 5, Seq: 3, Tombstone: true}},
		{Key: []byte("blind"), Version: index.Version{TS: 5, Seq: 4, Tombstone: true}},
	}
	befores := map[string]*index.Version{
		"file": {TS: 1, Value: []byte("f1")},
		"held": {TS: 2, Value: []byte("h2")},
		"gone": {TS: 1, Value: []byte("g1")},
	}
	ix.Write(func(w index.Writer) {
		for _, e := range undo {
			require.NoError(t, w.Install(e.Key, befores[string(e.Key)], e.Version))
		}
	})
	assert.Equal(t, 5, ix.Len())
	ix.Remove(append(undo,
		index.Entry{Key: []byte("held"), Version: index.Version{TS: 99}}, // no such version
		index.Entry{Key: []byte("nope"), Version: index.Version{TS: 5}})) // no such key
	require.NoError(t, ix.Check())

	// Keys the file did not hold are gone; the others read as the file.
	for _, k := range []string{"new", "blind"} {
		_, _, held := find(ix, k, 100)
		assert.False(t, held, k)
	}
	for k, b := range befores {
		v, visible, held := find(ix, k, 100)
		require.True(t, held && visible, k)
		assert.Equal(t, *b, v, "%s: the before-image, with its value", k)
	}
	assert.Equal(t, 3, ix.Len())
	versions, garbage := want()
	assert.Equal(t, versions0+2, versions, "file and gone keep their before-images")
	assert.Equal(t, garbage0, garbage)

	// They leave memory with the horizon like any version: the reclaim
	// queue still names them.
	r := ix.Prune(5, 100)
	assert.Equal(t, int64(3), r.Released)
	assert.Equal(t, 0, ix.Len())
	assert.Equal(t, int64(0), ix.Versions())
	require.NoError(t, ix.Check())
}

// TestAddOverInFileNewest documents that Add and Apply, which have no
// before-image to give, cannot supersede an InFile newest version: the
// error Install would return is dropped and the version not added.
func TestAddOverInFileNewest(t *testing.T) {
	ix := index.New()
	require.NoError(t, install(t, ix, "k", nil, index.Version{TS: 3, InFile: true}))
	put(ix, "k", 5, "five")
	assert.Equal(t, []uint64{3}, heldTS(ix, "k"))
	require.NoError(t, ix.Check())
}

// TestInstallSameTSHigherSeqOverInFile: a second version of a key at the
// TS of its InFile newest, with a higher Seq, supersedes it like a newer
// TS does, so it needs the before-image too (mvcc never writes a key
// twice in one commit; the index does not rely on that).
func TestInstallSameTSHigherSeqOverInFile(t *testing.T) {
	ix := index.New()
	require.NoError(t, install(t, ix, "k", nil, index.Version{TS: 5, InFile: true}))
	err := install(t, ix, "k", nil, index.Version{TS: 5, Seq: 1, InFile: true})
	assert.Error(t, err, "no before-image for the InFile version it supersedes")
	assert.NoError(t, ix.Check())
}
