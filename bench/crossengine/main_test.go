package crossengine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/mvkv/mvkv/bench/crossengine"
	"github.com/mvkv/mvkv/bench/internal/etcdcluster"
	"github.com/mvkv/mvkv/bench/internal/pgserver"
)

// One PostgreSQL server and one etcd cluster serve every test of the
// binary: starting them is the slow part.
var (
	pg       *crossengine.Postgres
	pgSkip   string // why there is no server, when there is none
	etcd     *crossengine.Etcd
	etcdSkip string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	srv, err := pgserver.Start(pgserver.Options{})
	switch {
	case errors.Is(err, pgserver.ErrUnavailable):
		pgSkip = err.Error()
	case err != nil:
		fmt.Fprintln(os.Stderr, "postgres:", err)
		return 1
	default:
		defer srv.Stop()
		if pg, err = crossengine.NewPostgres(ctx, srv.DSN()); err != nil {
			fmt.Fprintln(os.Stderr, "postgres:", err)
			return 1
		}
		defer pg.Close()
	}
	c, err := etcdcluster.Start(etcdcluster.Options{})
	if err != nil {
		// Embedded: it fails only where loopback ports or a temporary
		// directory cannot be had.
		etcdSkip = "no etcd cluster: " + err.Error()
	} else {
		defer c.Stop()
		cli, err := c.Client(false)
		if err != nil {
			fmt.Fprintln(os.Stderr, "etcd:", err)
			return 1
		}
		defer cli.Close()
		etcd = crossengine.NewEtcd(cli)
	}
	return m.Run()
}
