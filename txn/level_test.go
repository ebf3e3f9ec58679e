package txn_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/txn"
)

func TestLevelString(t *testing.T) {
	tests := []struct {
		level txn.Level
		name  string
		valid bool
	}{
		{txn.ReadCommitted, "read-committed", true},
		{txn.Snapshot, "snapshot", true},
		{txn.Serializable, "serializable", true},
		{txn.Level(3), "level(3)", false},
		{txn.Level(255), "level(255)", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.name, tt.level.String())
		assert.Equal(t, tt.valid, tt.level.Valid(), tt.name)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want txn.Level
		ok   bool
	}{
		{"read-committed", txn.ReadCommitted, true},
		{"snapshot", txn.Snapshot, true},
		{"serializable", txn.Serializable, true},
		{"repeatable-read", txn.Snapshot, true},
		{"READ COMMITTED", txn.ReadCommitted, true},
		{"read_committed", txn.ReadCommitted, true},
		{" Serializable ", txn.Serializable, true},
		{"Repeatable Read", txn.Snapshot, true},
		{"", 0, false},
		{"read-uncommitted", 0, false},
		{"serialisable", 0, false},
		{"level(3)", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := txn.ParseLevel(tt.in)
			if !tt.ok {
				require.Error(t, err)
				assert.ErrorIs(t, err, txn.ErrBadLevel)
				assert.Contains(t, err.Error(), tt.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	// Every level's name parses back to it.
	for _, l := range []txn.Level{txn.ReadCommitted, txn.Snapshot, txn.Serializable} {
		got, err := txn.ParseLevel(l.String())
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
}
