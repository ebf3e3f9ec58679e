// Package etcdcluster runs a three-member etcd cluster inside the calling
// process, for tests and benchmarks: three embedded servers
// (go.etcd.io/etcd/server/v3/embed) on loopback ports, their data in a
// temporary directory, replicated with Raft like any etcd cluster. A write
// is acknowledged once a majority of the members has it in its log.
//
// Starting takes about a second (an election); start one cluster per test
// binary (in TestMain) and give each test its own key prefix.
//
//	c, err := etcdcluster.Start(etcdcluster.Options{})
//	defer c.Stop()
//	cli, err := c.Client(false)
package etcdcluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Members is the size of the cluster.
const Members = 3

// Options tune the cluster.
type Options struct {
	// Durable keeps etcd's fsync of its write-ahead log and backend
	// (etcd's default). Without it the members run with unsafe-no-fsync.
	Durable bool
	// Dir holds the members' data; a new temporary directory (removed by
	// Stop) when empty.
	Dir string
}

// Cluster is a running cluster.
type Cluster struct {
	members   []*embed.Etcd
	endpoints []string
	dir       string
	ownDir    bool
}

// Start starts the members and waits until they have elected a leader.
func Start(opts Options) (*Cluster, error) {
	c := &Cluster{dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "mvkv-etcd-")
		if err != nil {
			return nil, err
		}
		c.dir, c.ownDir = d, true
	}
	ports, err := freePorts(2 * Members)
	if err != nil {
		c.removeDir()
		return nil, err
	}
	var initial []string
	cfgs := make([]*embed.Config, Members)
	for i := range Members {
		name := fmt.Sprintf("m%d", i)
		peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		cfg := embed.NewConfig()
		cfg.Name = name
		cfg.Dir = filepath.Join(c.dir, name)
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.InitialClusterToken = "mvkv"
		cfg.ClusterState = embed.ClusterStateFlagNew
		// Loopback, but on a machine that may be loaded (tests under
		// -race on two cores): a heartbeat delayed past the election
		// timeout changes the leader and fails the transactions in flight
		// ("leader changed"), so the timeout leaves a wide margin. Startup
		// stays fast: etcd advances the first election's ticks.
		cfg.TickMs, cfg.ElectionMs = 100, 2000
		cfg.UnsafeNoFsync = !opts.Durable
		// The benchmark loads 1,000 records per transaction, and an STM
		// commit compares every key it read.
		cfg.MaxTxnOps = 1 << 16
		cfg.Logger, cfg.LogLevel = "zap", "error"
		cfg.LogOutputs = []string{"stderr"}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfgs[i] = cfg
		initial = append(initial, name+"="+peer.String())
		c.endpoints = append(c.endpoints, client.String())
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	c.members = make([]*embed.Etcd, Members)
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := embed.StartEtcd(cfg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("etcd member %s: %w", cfg.Name, err))
				return
			}
			c.members[i] = e
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		c.Stop()
		return nil, errors.Join(errs...)
	}
	for _, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			c.Stop()
			return nil, fmt.Errorf("etcd: %w", err)
		case <-time.After(60 * time.Second):
			c.Stop()
			return nil, errors.New("etcd: the cluster did not become ready in 60s")
		}
	}
	return c, nil
}

// freePorts asks the kernel for n free loopback ports. They are released
// before etcd binds them; on a loopback interface nobody else races for
// them in practice.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close() //nolint:errcheck // freeing a probed port
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string { return c.endpoints }

// Client returns a new client. With all, it balances over every member;
// otherwise it talks to the first member only, as an application pinned
// to its nearest member does: etcd's serializable (local) reads, which
// the STM uses at ReadCommitted and RepeatableReads, then never go
// backwards in time between two calls.
func (c *Cluster) Client(all bool) (*clientv3.Client, error) {
	eps := c.endpoints[:1]
	if all {
		eps = c.endpoints
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Stop stops the members and removes the data directory if Start made it.
func (c *Cluster) Stop() {
	var wg sync.WaitGroup
	for _, e := range c.members {
		if e != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// No leadership transfer: the whole cluster goes, and a
				// transfer to a member that is stopping waits seconds.
				e.Server.HardStop()
				e.Close()
			}()
		}
	}
	wg.Wait()
	c.removeDir()
}

func (c *Cluster) removeDir() {
	if c.ownDir {
		os.RemoveAll(c.dir)
	}
}
