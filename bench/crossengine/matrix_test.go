package crossengine_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/anomalies"
	"github.com/mvkv/mvkv/bench/crossengine"
)

func targets(t *testing.T) []anomalies.Target {
	var ts []anomalies.Target
	for _, l := range anomalies.Levels {
		ts = append(ts, anomalies.MVKV(l, t.TempDir()))
	}
	if pg != nil {
		ts = append(ts, pg.Targets()...)
	}
	if etcd != nil {
		ts = append(ts, etcd.Targets()...)
	}
	return ts
}

func TestExplore(t *testing.T) {
	ts := targets(t)
	var mu sync.Mutex
	var all []*anomalies.Result
	var wg sync.WaitGroup
	for _, tg := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, a := range anomalies.Catalog() {
				r, err := a.RunOn(tg, nil)
				require.NoError(t, err)
				if testing.Verbose() && tg.Engine != "mvkv" {
					mu.Lock()
					fmt.Println(crossengine.Report(r, tg.Engine))
					mu.Unlock()
				}
				mu.Lock()
				all = append(all, r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println(crossengine.Matrix(ts, all))
}
