package crash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/mvkv/mvkv/mvcc"
)

// Bank shape: Accounts accounts that start with Initial each.
const (
	Accounts = 8
	Initial  = 1000
	// counterWorkers each own one counter key; lockWorkers share one
	// counter incremented under GetForUpdate at read committed.
	transferWorkers = 4
	counterWorkers  = 2
	lockWorkers     = 2
)

func accountKey(i int) []byte { return []byte(fmt.Sprintf("bank/acct/%02d", i)) }

// TransferPrefix starts the key of every transfer record.
const TransferPrefix = "bank/xfer/"

// CounterKey is worker w's own counter.
func CounterKey(w int) []byte { return []byte(fmt.Sprintf("ctr/own/%d", w)) }

// SharedKey is the counter the lock workers share.
var SharedKey = []byte("ctr/shared")

// Acknowledgement lines the child writes, one per commit:
//
//	R                  the database is open, the workload starts
//	T <id>             transfer <id> committed
//	C <worker> <n>     worker's counter committed at n
//	S <n>              the shared counter committed at n
//
// ackWriter serializes them so that each is one write(2) of a whole line.
type ackWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *ackWriter) printf(format string, args ...any) {
	line := fmt.Sprintf(format+"\n", args...)
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = io.WriteString(a.w, line)
}

// RunChild opens the database at path with durable commits and runs the
// workload, reporting every acknowledged commit to acks, until ctx ends or
// an unexpected error. run names this incarnation (transfer ids are
// unique across runs).
func RunChild(ctx context.Context, path string, run int, acks io.Writer) error {
	// Durable (fsync on every commit), with a small log, so that kills
	// land in checkpoints too, and Open replays what they leave.
	db, err := mvcc.Open(path, &mvcc.Options{CheckpointBytes: 16 << 10})
	if err != nil {
		return err
	}
	defer db.Close() //nolint:errcheck // the child is killed mid-workload; it never gets here normally
	if err := initBank(ctx, db); err != nil {
		return err
	}
	aw := &ackWriter{w: acks}
	aw.printf("R")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, transferWorkers+counterWorkers+lockWorkers)
	spawn := func(fn func(rng *rand.Rand) error, seed int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(run), uint64(seed)))
			if err := fn(rng); err != nil && ctx.Err() == nil {
				errs <- err
				cancel()
			}
		}()
	}
	for w := range transferWorkers {
		spawn(func(rng *rand.Rand) error { return transfers(ctx, db, aw, rng, run, w) }, w)
	}
	for w := range counterWorkers {
		spawn(func(*rand.Rand) error { return ownCounter(ctx, db, aw, w) }, 100+w)
	}
	for w := range lockWorkers {
		spawn(func(*rand.Rand) error { return sharedCounter(ctx, db, aw) }, 200+w)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func initBank(ctx context.Context, db *mvcc.DB) error {
	return db.Update(ctx, mvcc.Serializable, func(tx *mvcc.Txn) error {
		if _, err := tx.Get(accountKey(0)); err == nil {
			return nil
		} else if !errors.Is(err, mvcc.ErrNotFound) {
			return err
		}
		for i := range Accounts {
			if err := tx.Put(accountKey(i), []byte(strconv.Itoa(Initial))); err != nil {
				return err
			}
		}
		return nil
	})
}

// transfers moves money between random accounts, alternating snapshot
// and serializable. (Not read committed: there a transfer is atomic only
// if every writer of the accounts locks them with GetForUpdate.)
func transfers(ctx context.Context, db *mvcc.DB, aw *ackWriter, rng *rand.Rand, run, w int) error {
	for seq := 0; ctx.Err() == nil; seq++ {
		from, to := rng.IntN(Accounts), rng.IntN(Accounts-1)
		if to >= from {
			to++
		}
		amount := 1 + rng.IntN(50)
		id := fmt.Sprintf("%d-%d-%d", run, w, seq)
		level := []mvcc.Level{mvcc.Snapshot, mvcc.Serializable}[seq%2]
		err := db.Update(ctx, level, func(tx *mvcc.Txn) error {
			read := tx.Get
			a, err := readInt(read, accountKey(from))
			if err != nil {
				return err
			}
			b, err := readInt(read, accountKey(to))
			if err != nil {
				return err
			}
			if err := tx.Put(accountKey(from), []byte(strconv.Itoa(a-amount))); err != nil {
				return err
			}
			if err := tx.Put(accountKey(to), []byte(strconv.Itoa(b+amount))); err != nil {
				return err
			}
			return tx.Put([]byte(TransferPrefix+id), []byte(fmt.Sprintf("%d,%d,%d", from, to, amount)))
		})
		if err != nil {
			if errors.Is(err, mvcc.ErrConflict) || ctx.Err() != nil {
				continue // gave up after retries: not committed
			}
			return fmt.Errorf("transfer %s: %w", id, err)
		}
		aw.printf("T %s", id)
	}
	return nil
}

func ownCounter(ctx context.Context, db *mvcc.DB, aw *ackWriter, w int) error {
	for ctx.Err() == nil {
		var n int
		err := db.Update(ctx, mvcc.Snapshot, func(tx *mvcc.Txn) error {
			v, err := readInt(tx.Get, CounterKey(w))
			if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
				return err
			}
			n = v + 1
			return tx.Put(CounterKey(w), []byte(strconv.Itoa(n)))
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("counter %d: %w", w, err)
		}
		aw.printf("C %d %d", w, n)
	}
	return nil
}

func sharedCounter(ctx context.Context, db *mvcc.DB, aw *ackWriter) error {
	for ctx.Err() == nil {
		var n int
		err := db.Update(ctx, mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
			v, err := readInt(tx.GetForUpdate, SharedKey)
			if err != nil && !errors.Is(err, mvcc.ErrNotFound) {
				return err
			}
			n = v + 1
			return tx.Put(SharedKey, []byte(strconv.Itoa(n)))
		})
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, mvcc.ErrConflict) {
				continue
			}
			return fmt.Errorf("shared counter: %w", err)
		}
		aw.printf("S %d", n)
	}
	return nil
}

// readInt reads an integer value; ErrNotFound is returned as is, with 0.
func readInt(read func([]byte) ([]byte, error), key []byte) (int, error) {
	v, err := read(key)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(v))
}

// Acks is what the parent learned from the child's acknowledgement lines.
type Acks struct {
	Ready     bool
	Transfers map[string]bool
	Counters  map[int]int // worker -> last acknowledged value
	Shared    int         // highest acknowledged shared value
}

// NewAcks returns empty Acks.
func NewAcks() *Acks {
	return &Acks{Transfers: make(map[string]bool), Counters: make(map[int]int)}
}

// Parse applies one acknowledgement line. A line cut short by the kill
// never reaches here: the reader only hands over whole lines.
func (a *Acks) Parse(line string) error {
	f := strings.Fields(line)
	bad := fmt.Errorf("bad acknowledgement %q", line)
	switch {
	case len(f) == 1 && f[0] == "R":
		a.Ready = true
	case len(f) == 2 && f[0] == "T":
		a.Transfers[f[1]] = true
	case len(f) == 3 && f[0] == "C":
		w, err1 := strconv.Atoi(f[1])
		n, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return bad
		}
		a.Counters[w] = max(a.Counters[w], n)
	case len(f) == 2 && f[0] == "S":
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return bad
		}
		a.Shared = max(a.Shared, n)
	default:
		return bad
	}
	return nil
}
