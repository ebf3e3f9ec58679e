package linear

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/anishathalye/porcupine"
)

// Recorder collects a concurrent history. It is safe for concurrent use.
type Recorder struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation // guarded by mu
}

// Now returns the next tick of the logical clock: call it just before an
// operation starts and just after it returns.
func (r *Recorder) Now() int64 { return r.clock.Add(1) }

// Add records an operation that started at call and returned at ret.
func (r *Recorder) Add(client int, input, output any, call, ret int64) {
	r.mu.Lock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: input, Output: output, Call: call, Return: ret})
	r.mu.Unlock()
}

// Operations returns a copy of the history recorded so far.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}
