package runner_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/internal/pgserver"
	"github.com/mvkv/mvkv/bench/workload"
	"github.com/mvkv/mvkv/mvcc"
)

// TestServerEngines runs two workloads on the engines that start servers
// (each run starts its own): a read-mostly one and the bank, whose
// invariant the levels must keep. The PostgreSQL runs go in parallel (each
// server has a directory and a Unix socket of its own); the etcd ones one
// after another (a cluster takes loopback ports the kernel said were free,
// which a cluster starting beside it could take first).
func TestServerEngines(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server per run")
	}
	for _, eng := range []string{"postgres", "etcd"} {
		levels, note, err := engine.LevelsOf(eng)
		require.NoError(t, err)
		if len(levels) == 0 {
			t.Logf("%s: %s", eng, note)
			continue
		}
		for _, wl := range []string{"ycsb-b", "bank"} {
			for _, level := range []mvcc.Level{mvcc.ReadCommitted, mvcc.Serializable} {
				t.Run(eng+"/"+wl+"/"+level.String(), func(t *testing.T) {
					if eng == "postgres" {
						t.Parallel()
					}
					res := run(t, eng, wl, level, 4, workload.Config{Records: 200})
					require.Empty(t, res.Skipped)
					assert.Zero(t, res.Errors, res.FirstError)
					assert.Positive(t, res.Ops)
					assert.False(t, res.Invariant.Broken(), "%s: %s", res.Invariant.Name, res.Invariant.Detail)
				})
			}
		}
	}
}

func TestPostgresSkipsWithoutServer(t *testing.T) {
	if _, err := pgserver.Bin(); err == nil {
		t.Skip("PostgreSQL is installed")
	}
	levels, note, err := engine.LevelsOf("postgres")
	require.NoError(t, err)
	assert.Empty(t, levels)
	assert.Contains(t, note, "apt-get install postgresql")
}
