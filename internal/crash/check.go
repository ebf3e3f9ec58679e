package crash

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// CheckFile runs bbolt's consistency check on the file at path, opened
// read-only. It must run while no DB holds the file. A missing or empty
// file (a kill before the first open created it) passes: Open makes a new
// database of it.
func CheckFile(path string) error {
	if fi, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("bbolt open: %w", err)
	}
	defer bdb.Close() //nolint:errcheck // opened read-only for the check
	return bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Summary is what CheckData saw.
type Summary struct {
	Transfers int // transfer records present
	Counters  map[int]int
	Shared    int
}

// CheckData opens the database and checks the invariants against what was
// acknowledged (see the package documentation). On success it records the
// counters' values in acks: they are durable now, the next incarnation
// starts from them.
func CheckData(path string, acks *Acks) (Summary, error) {
	s := Summary{Counters: make(map[int]int)}
	db, err := mvcc.Open(path, nil)
	if err != nil {
		return s, fmt.Errorf("reopen: %w", err)
	}
	defer db.Close() //nolint:errcheck // the check reads; a close error changes no verdict
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err = db.View(context.Background(), func(tx *mvcc.Txn) error {
		var balances [Accounts]int
		present := 0
		for i := range Accounts {
			n, err := readInt(tx.Get, accountKey(i))
			switch {
			case errors.Is(err, mvcc.ErrNotFound):
				continue // the bank was never initialized (killed during the first open)
			case err != nil:
				return err
			}
			balances[i] = n
			present++
		}
		if present == 0 {
			if len(acks.Transfers) > 0 {
				fail("no accounts, but %d transfers were acknowledged", len(acks.Transfers))
			}
		} else {
			if present != Accounts {
				fail("%d of %d accounts present: the initializing transaction is partial", present, Accounts)
			}
			var expect [Accounts]int
			for i := range expect {
				expect[i] = Initial
			}
			seen := make(map[string]bool)
			for k, v := range tx.ScanPrefix([]byte(TransferPrefix)) {
				id := strings.TrimPrefix(string(k), TransferPrefix)
				seen[id] = true
				var from, to, amount int
				if _, err := fmt.Sscanf(string(v), "%d,%d,%d", &from, &to, &amount); err != nil {
					fail("transfer %s: bad record %q", id, v)
					continue
				}
				expect[from] -= amount
				expect[to] += amount
			}
			s.Transfers = len(seen)
			sum := 0
			for i, b := range balances {
				sum += b
				if b != expect[i] {
					fail("account %d holds %d, but its initial balance and the %d transfer records present give %d", i, b, len(seen), expect[i])
				}
			}
			if sum != Accounts*Initial {
				fail("balances sum to %d, not %d", sum, Accounts*Initial)
			}
			missing := 0
			for id := range acks.Transfers {
				if !seen[id] {
					missing++
				}
			}
			if missing > 0 {
				fail("%d acknowledged transfers are missing", missing)
			}
		}
		for w := range counterWorkers {
			acked := acks.Counters[w]
			n, err := readInt(tx.Get, CounterKey(w))
			if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
				return err
			}
			s.Counters[w] = n
			if n != acked && n != acked+1 {
				fail("counter %d is %d; last acknowledged %d", w, n, acked)
			}
		}
		n, err := readInt(tx.Get, SharedKey)
		if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
			return err
		}
		s.Shared = n
		if n < acks.Shared || n > acks.Shared+lockWorkers {
			fail("shared counter is %d; highest acknowledged %d, at most %d were in flight", n, acks.Shared, lockWorkers)
		}
		return nil
	})
	if err != nil {
		return s, err
	}
	if len(problems) > 0 {
		return s, errors.New(strings.Join(problems, "; "))
	}
	for w, n := range s.Counters {
		acks.Counters[w] = n
	}
	acks.Shared = s.Shared
	return s, db.Close()
}
