package index

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRWLockExcludes has writers change two plain fields together while
// readers check that they never see one changed without the other, and
// that a writer never sees a reader inside (the race detector checks the
// plain accesses too). Every writer gets the lock although readers never
// stop.
func TestRWLockExcludes(t *testing.T) {
	var (
		l       rwLock
		a, b    int
		inside  atomic.Int32 // readers between RLock and RUnlock
		readers sync.WaitGroup
		stop    = make(chan struct{})
	)
	const writes = 2000
	for range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := l.RLock()
				inside.Add(1)
				x, y := a, b
				inside.Add(-1)
				l.RUnlock(s)
				if x != y {
					t.Errorf("a reader saw a half-done write: %d, %d", x, y)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range writes {
				l.Lock()
				a++
				if n := inside.Load(); n != 0 {
					t.Errorf("%d readers inside with a writer", n)
				}
				b++
				l.Unlock()
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	assert.Equal(t, 2*writes, a)
}

// BenchmarkReadLock compares a read lock's cost under parallel readers:
// rwLock's per-slot counters against sync.RWMutex's one shared word. On a
// machine with many cores the shared word's cache line bounces between
// them; run with -cpu 1,2,4,8,16 to see each scale (goal: rwLock's ns/op
// flat as cores grow).
func BenchmarkReadLock(b *testing.B) {
	b.Run("rwLock", func(b *testing.B) {
		var l rwLock
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.RUnlock(l.RLock())
			}
		})
	})
	b.Run("sync.RWMutex", func(b *testing.B) {
		var l sync.RWMutex
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.RLock()
				l.RUnlock() //nolint:staticcheck // the cost of the pair is measured
			}
		})
	})
}
