package mvcc

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVKeyOrder: version names keep keys in byte order, group each key's
// versions together in timestamp order (no other key's between them,
// whatever bytes the keys hold), and decode back.
func TestVKeyOrder(t *testing.T) {
	keys := [][]byte{
		{1}, {1, 0}, {1, 0, 0}, {1, 0, 0xff}, {1, 0, 1}, {1, 1},
		{1, 0xff}, {0xff}, {0xff, 0}, []byte("a"), []byte("a\x00\x00\x00\x00\x00\x00\x00\x05"), []byte("ab"),
	}
	slices.SortFunc(keys, bytes.Compare)
	var names [][]byte
	for _, k := range keys {
		for _, ts := range []uint64{1, 5, 1 << 40} {
			vk := appendVKey(nil, k, ts)
			names = append(names, vk)
			got, gts, ok := splitVKey(vk)
			require.True(t, ok, "%x", vk)
			assert.Equal(t, k, got)
			assert.Equal(t, ts, gts)
			assert.True(t, bytes.HasPrefix(vk, vkeyPrefix(k)))
			n, ok := vkeyLen(vk)
			assert.True(t, ok)
			assert.Equal(t, len(k), n)
		}
	}
	assert.True(t, slices.IsSortedFunc(names, bytes.Compare), "names sort as (key, ts)")
	// Among them the data bucket's own keys, which a damaged child
	// pointer can make a version read land on.
	for _, bad := range [][]byte{nil, {1, 2, 3}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		[]byte("rec/02394"), []byte("a key of some length"), {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		_, _, ok := splitVKey(bad)
		assert.False(t, ok, "%x", bad)
		_, ok = vkeyLen(bad)
		assert.False(t, ok, "%x", bad)
	}
}

// TestVRecordChecksum: any flipped bit of a version record or of its name
// reads as ErrCorrupt.
func TestVRecordChecksum(t *testing.T) {
	vk := appendVKey(nil, []byte("key"), 7)
	rec := appendVRecord(nil, vk, []byte("value"), false, 9)
	v, tomb, until, err := decodeVRecord(vk, rec)
	require.NoError(t, err)
	assert.Equal(t, "value", string(v))
	assert.False(t, tomb)
	assert.Equal(t, uint64(9), until)
	for i := range len(rec) * 8 {
		bad := bytes.Clone(rec)
		bad[i/8] ^= 1 << (i % 8)
		_, _, _, err := decodeVRecord(vk, bad)
		assert.ErrorIs(t, err, ErrCorrupt)
	}
	for i := range len(vk) * 8 {
		bad := bytes.Clone(vk)
		bad[i/8] ^= 1 << (i % 8)
		_, _, _, err := decodeVRecord(bad, rec)
		assert.ErrorIs(t, err, ErrCorrupt)
	}
	// A record without its until (as written before it was recorded)
	// still reads.
	old := appendVRecord(nil, vk, []byte("value"), true, 0)
	v, tomb, until, err = decodeVRecord(vk, old)
	require.NoError(t, err)
	assert.Equal(t, "value", string(v))
	assert.True(t, tomb)
	assert.Zero(t, until)
}
