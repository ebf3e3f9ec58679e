package txn_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/mvkv/mvkv/txn"
)

func TestHorizonHolder(t *testing.T) {
	o := txn.NewOracle(10)
	h, since := o.HorizonHolder()
	assert.Equal(t, uint64(10), h)
	assert.True(t, since.IsZero(), "no transaction holds the horizon")

	old := o.Begin() // snapshot 10
	time.Sleep(time.Millisecond)
	commit(o)
	young := o.Begin() // snapshot 11
	h, since = o.HorizonHolder()
	assert.Equal(t, uint64(10), h)
	assert.Equal(t, old.Start, since, "the oldest snapshot holds the horizon")
	assert.Equal(t, o.Horizon(), h)

	// A read-committed transaction moving on releases the horizon: the
	// holder is now the younger one, though the older started first.
	commit(o)
	old.Advance(12)
	h, since = o.HorizonHolder()
	assert.Equal(t, uint64(11), h)
	assert.Equal(t, young.Start, since)

	o.End(young)
	o.End(old)
	h, since = o.HorizonHolder()
	assert.Equal(t, uint64(12), h)
	assert.True(t, since.IsZero())
}
