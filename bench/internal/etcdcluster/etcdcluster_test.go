package etcdcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/bench/internal/etcdcluster"
)

func TestThreeMembersReplicate(t *testing.T) {
	c, err := etcdcluster.Start(etcdcluster.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	defer c.Stop()
	require.Len(t, c.Endpoints(), etcdcluster.Members)
	cli, err := c.Client(true)
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, "k", "v")
	require.NoError(t, err)
	st, err := cli.Status(ctx, c.Endpoints()[2])
	require.NoError(t, err)
	assert.NotZero(t, st.Leader, "member 3 follows a leader")
	resp, err := cli.Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	assert.Equal(t, "v", string(resp.Kvs[0].Value))
}
