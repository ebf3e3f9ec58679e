package workload

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/mvcc"
)

// ErrUnknown is returned by New for a name it does not know.
var ErrUnknown = errors.New("bench: unknown workload")

// ErrUnknownDistribution is returned by New for a YCSB workload asked
// for a request distribution that is not one of Zipfian, Uniform and
// Latest.
var ErrUnknownDistribution = errors.New("bench: unknown request distribution")

// Workload is a benchmark's data and operations. A Workload instance holds
// the state of one run (counters, the next key to insert): make a new one
// for every run with New.
type Workload interface {
	// Name is the workload's name as the CLI spells it.
	Name() string
	// Load writes the initial data through e, in transactions at level.
	Load(e engine.Engine, level mvcc.Level) error
	// NewWorker returns the operation source of goroutine id (0-based) out
	// of threads. It is used by that goroutine only.
	NewWorker(id, threads int, seed uint64) Worker
	// Check verifies the workload's invariant after the run.
	Check(e engine.Engine, level mvcc.Level) Invariant
	// Config is what the workload runs with, defaults applied: for the
	// bank, Records is its accounts; for write skew, HotKeys its shifts.
	Config() Config
}

// Worker produces one goroutine's operations.
type Worker interface {
	Next() Op
}

// Op is one operation: one transaction. Fn may run several times (the
// runner retries aborted attempts), so it must have no effect outside tx
// beyond what it can redo; Done, if set, runs once after the commit.
type Op struct {
	Name     string
	ReadOnly bool
	Fn       func(engine.Tx) error
	Done     func()
}

// Invariant is the outcome of a workload's end-of-run check.
type Invariant struct {
	// Name says what was checked ("" when the workload has no invariant).
	Name string `json:"name,omitempty"`
	// Holds reports whether it held.
	Holds bool `json:"holds"`
	// MustHold reports whether the level promises it: a violation where
	// MustHold is true is a bug; where false, it is what the level allows.
	MustHold bool `json:"must_hold"`
	// Violations counts the violations seen during and after the run.
	Violations int64 `json:"violations"`
	// Detail is a human-readable account.
	Detail string `json:"detail,omitempty"`
}

// Broken reports whether the invariant failed where the level promised it.
func (inv Invariant) Broken() bool { return inv.Name != "" && inv.MustHold && !inv.Holds }

// Distribution picks which records requests go to.
type Distribution string

// The request distributions of YCSB.
const (
	Zipfian Distribution = "zipfian" // a few hot records (constant Config.ZipfConstant)
	Uniform Distribution = "uniform" // every record equally likely
	Latest  Distribution = "latest"  // the most recently inserted records are hottest
)

// Config parameterizes the workloads; zero fields take defaults.
type Config struct {
	// Records loaded before the run (YCSB records, bank accounts,
	// long-reader keys). Default 10,000 (bank: 1,000).
	Records int
	// ValueSize in bytes of a YCSB field and of a long-reader value.
	// Default 100 (YCSB's fieldlength).
	ValueSize int
	// Fields of a YCSB record, stored as one value of Fields × ValueSize
	// bytes. Default 10 (YCSB's fieldcount).
	Fields int
	// Distribution of YCSB requests; empty means each workload's YCSB
	// default (latest for D, zipfian for the others).
	Distribution Distribution
	// ZipfConstant is the zipfian skew. Default 0.99 (YCSB's).
	ZipfConstant float64
	// HotKeys is the number of contended keys of the hotkey workload and the
	// number of shifts of the write-skew workload. Default 16 (write skew: 4).
	HotKeys int
	// Think is a pause inside each write-skew, bank and hotkey transaction
	// between its reads and its writes; it widens the window in which
	// concurrent transactions overlap. Default 0.
	Think time.Duration
	// Lockstep makes the transactions of the bank, writeskew and hotkey
	// workloads (and the long reader's writers) overlap for certain: each
	// waits, between its reads and its writes, until every goroutine's
	// transaction has done its reads (a barrier); the long reader's
	// second scan waits for a write committed after its first. It makes
	// an anomaly or a conflict a level allows happen, whatever the
	// machine's load: for tests of the invariants. Only for engines whose
	// transactions can run side by side: bbolt's writers run one at a
	// time, and would wait at the barrier forever.
	Lockstep bool
	// ReaderHold is how long the long-running reader keeps each read
	// transaction open. Default 500ms.
	ReaderHold time.Duration
	// ScanLength is the longest YCSB-E scan. Default 100.
	ScanLength int
}

func (c Config) withDefaults() Config {
	if c.Records <= 0 {
		c.Records = 10_000
	}
	if c.ValueSize <= 0 {
		c.ValueSize = 100
	}
	if c.Fields <= 0 {
		c.Fields = 10
	}
	if c.ZipfConstant <= 0 {
		c.ZipfConstant = 0.99
	}
	if c.HotKeys <= 0 {
		c.HotKeys = 16
	}
	if c.ReaderHold <= 0 {
		c.ReaderHold = 500 * time.Millisecond
	}
	if c.ScanLength <= 0 {
		c.ScanLength = 100
	}
	return c
}

// Names lists the workload names New accepts.
func Names() []string {
	return []string{"ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "ycsb-f", "bank", "writeskew", "hotkey", "longreader", "put"}
}

// New returns a fresh workload by name.
func New(name string, cfg Config) (Workload, error) {
	raw := cfg
	cfg = cfg.withDefaults()
	switch n := strings.ToLower(name); {
	case strings.HasPrefix(n, "ycsb-") && len(n) == 6:
		return newYCSB(n[5], cfg)
	case n == "bank":
		return newBank(cfg, raw.Records), nil
	case n == "writeskew":
		return newWriteSkew(cfg, raw.HotKeys), nil
	case n == "hotkey":
		return newHotKey(cfg), nil
	case n == "longreader":
		return newLongReader(cfg), nil
	case n == "put":
		return newPut(cfg), nil
	}
	return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// loadKeys writes n records key(i) -> value(i) in transactions of up to
// 1,000 writes (Badger caps a transaction's size).
func loadKeys(e engine.Engine, level mvcc.Level, n int, key func(int) []byte, value func(int) []byte) error {
	const chunk = 1000
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		err := e.Txn(level, false, func(tx engine.Tx) error {
			for i := lo; i < hi; i++ {
				if err := tx.Put(key(i), value(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("bench: load: %w", err)
		}
	}
	return nil
}

// loadLevel is the level Load runs at: the engine's first.
func loadLevel(e engine.Engine) mvcc.Level { return e.Levels()[0] }

// think pauses inside a transaction to widen its overlap with others.
func think(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}
