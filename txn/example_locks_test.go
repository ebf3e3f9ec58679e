package txn_test

import (
	"errors"
	"fmt"

	"github.com/mvkv/mvkv/txn"
)

// Two owners each hold a key and ask for the other's: the second request
// would close a cycle, so it fails at once, naming the cycle.
func ExampleDeadlockError() {
	lt := txn.NewLockTable()
	_, _ = lt.Lock(1, []byte("a"), txn.Exclusive)
	_, _ = lt.Lock(2, []byte("b"), txn.Exclusive)
	w, _ := lt.Lock(1, []byte("b"), txn.Exclusive) // 1 waits for 2
	_, err := lt.Lock(2, []byte("a"), txn.Exclusive)
	fmt.Println(w != nil, errors.Is(err, txn.ErrDeadlock))
	fmt.Println(err)
	var de *txn.DeadlockError
	if errors.As(err, &de) {
		fmt.Println("victim:", de.Cycle[0].Owner, "deadlocks:", lt.Deadlocks())
	}
	// Output:
	// true true
	// mvkv: deadlock: txn 2 (exclusive lock on key "a") waits for txn 1 (exclusive lock on key "b"), which waits for txn 2
	// victim: 2 deadlocks: 1
}
