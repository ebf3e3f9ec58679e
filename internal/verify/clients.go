package verify

import (
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/mvkv/mvkv/internal/linear"
	"github.com/mvkv/mvkv/mvcc"
)

// runClients runs the clients of a workload: n goroutines, client c with
// a random source of its own (seed, c), so that a seed replays the same
// choices. It returns the first error a client stopped on.
func runClients(n int, seed uint64, client func(c int, rng *rand.Rand) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(c, rand.New(rand.NewPCG(seed, uint64(c)))); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// record runs op, one operation of client, between two ticks of rec's
// clock, and records it with the input and output op reports if it took
// effect. An operation that failed with ErrConflict had none, certainly:
// it is left out. Any other error is returned.
func record(rec *linear.Recorder, client int, op func() (in, out any, err error)) error {
	call := rec.Now()
	in, out, err := op()
	ret := rec.Now()
	switch {
	case err == nil:
		rec.Add(client, in, out, call, ret)
	case !errors.Is(err, mvcc.ErrConflict):
		return err
	}
	return nil
}
