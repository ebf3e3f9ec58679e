package goals

import (
	"context"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync/atomic"

	"github.com/mvkv/mvkv/bench/engine"
	"github.com/mvkv/mvkv/bench/report"
	"github.com/mvkv/mvkv/mvcc"
)

// The read goals go through package engine as every benchmark run does:
// mvkv and bbolt are two engine.Engines, read in their read-only
// transactions (engine.Viewer) by the ways of reading the goals compare
// (Tx.Scan, engine.Lender, engine.KeyScanner).

// goalReads: View with one Get, and View with a 1000-key scan, on Keys
// keys, against bbolt View+Get and bbolt cursor walks.
func goalReads(ctx context.Context, cfg Config, dir string) ([]Goal, error) {
	mv, bb, closeBoth, err := openLoaded(ctx, cfg, dir)
	if err != nil {
		return nil, err
	}
	defer closeBoth()
	// Keys to read, drawn up front so that drawing costs nothing inside
	// the timed loops.
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = goalKey(r.IntN(cfg.Keys))
	}
	const scanLen = 1000
	starts := make([][]byte, 1<<10)
	for i := range starts {
		starts[i] = goalKey(r.IntN(max(1, cfg.Keys-scanLen)))
	}
	pick := func(list [][]byte, g, i int) []byte { return list[(g*7919+i)&(len(list)-1)] }
	getO, err := pointRead(mv, mvcc.Snapshot, func(g, i int) []byte { return pick(keys, g, i) }, nil, cfg.Readers)
	if err != nil {
		return nil, err
	}
	getT, err := pointRead(bb, mvcc.Snapshot, func(g, i int) []byte { return pick(keys, g, i) }, nil, cfg.Readers)
	if err != nil {
		return nil, err
	}
	from := func(g, i int) []byte { return pick(starts, g, i) }
	// Scans: each mvkv way against the bbolt walk that does the same work,
	// in turn. The in-place walk (bbolt's ScanFunc) reads every value where
	// it lies (its length, as a caller would its bytes); the bare walk
	// (bbolt's ScanKeys) touches keys only; the checking walk also
	// computes each key's and value's CRC-32C, as mvkv checks each record.
	var walks [6]func(g, i int) error
	for j, w := range []struct {
		e   engine.Engine
		way string
	}{{mv, "Scan"}, {bb, "ScanFunc"}, {bb, "ScanKeys"}, {mv, "ScanFunc"}, {mv, "ScanKeys"}, {bb, "ScanFunc+crc"}} {
		if walks[j], err = scan(w.e, w.way, from, scanLen); err != nil {
			return nil, err
		}
	}

	var gets [2][]float64
	var scans [6][]float64
	for range cfg.Rounds {
		for j, read := range []func(g, i int) error{getO, getT} {
			x, err := hammer(ctx, cfg.Readers, cfg.Duration, read)
			if err != nil {
				return nil, err
			}
			gets[j] = append(gets[j], x)
		}
		for j, walk := range walks {
			x, err := hammer(ctx, cfg.Readers, cfg.Duration, walk)
			if err != nil {
				return nil, err
			}
			scans[j] = append(scans[j], x)
		}
	}
	med := report.Median
	scanO, scanV, scanT, funcO, keysO, scanC := med(scans[0]), med(scans[1]), med(scans[2]), med(scans[3]), med(scans[4]), med(scans[5])
	detail := fmt.Sprintf("%d keys of %d-byte values, %d goroutines, median of %d rounds of %v", cfg.Keys, cfg.ValueSize, cfg.Readers, cfg.Rounds, cfg.Duration)
	return []Goal{
		ratioGoal("View point read vs bbolt View+Get", "reads/s", med(gets[0]), med(gets[1]), 1.0, detail),
		// The goal is ScanFunc's: the way to read at the walk's speed, each
		// key and value lent for one step as bbolt's cursor lends them.
		// Scan's copies, which the caller owns, cost more than the walk
		// itself (bbolt's walk copying keys and values runs at about a
		// seventh of the in-place one): reported.
		ratioGoal("1000-key ScanFunc vs bbolt in-place walk", "scans/s", funcO, scanV, 0.5,
			detail+"; View+ScanFunc (each key and value lent for one step, as bbolt's cursor does) reading every value, against a bbolt cursor walk reading every value in place"),
		reportRatio("1000-key ScanFunc vs bbolt walk checksumming each record", "scans/s", funcO, scanC,
			"bbolt's in-place walk plus a CRC-32C of each key and value, the check mvkv makes of every record it reads: what the goal above costs before any work of mvkv's"),
		reportRatio("1000-key scan vs bbolt in-place walk", "scans/s", scanO, scanV,
			"View+Scan: keys and values the caller owns, every value read"),
		reportRatio("1000-key scan vs bbolt bare cursor walk", "scans/s", scanO, scanT,
			"bbolt's walk touches keys only, never a value, and copies nothing"),
		reportRatio("1000-key ScanKeys vs bbolt bare cursor walk", "scans/s", keysO, scanT,
			"ScanKeys never reads a value; bbolt's walk touches keys only"),
	}, nil
}

// castagnoli is CRC-32C's table, the checksum mvkv keeps with each record.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcSink keeps the checking walk's checksums from being optimised away.
var crcSink atomic.Uint32

// readOnly returns e's read-only transaction (engine.Viewer): the goals
// read through it, as mvkv's View and bbolt's View.
func readOnly(e engine.Engine) (engine.Viewer, error) {
	v, ok := e.(engine.Viewer)
	if !ok {
		return nil, fmt.Errorf("engine %s has no read-only transaction of its own (engine.Viewer)", e.Name())
	}
	return v, nil
}

// ignoreValue is what a point read does with the value it is lent: bbolt's
// View+Get, which the goals hold mvkv against, looks at none.
func ignoreValue([]byte) {}

// pointRead returns one point read of key(g, i), in a read-only
// transaction of e at level, through engine.Lender: in place where e can
// (bbolt), the caller's copy where it cannot (mvkv). use, if set, is lent
// the value with the goroutine's number; without it the value is left
// unread, as bbolt's View+Get leaves it. g must be below goroutines: each
// goroutine's functions are made once, here, so that a read allocates
// nothing the direct call to mvcc or bbolt would not.
func pointRead(e engine.Engine, level mvcc.Level, key func(g, i int) []byte, use func(g int, v []byte), goroutines int) (func(g, i int) error, error) {
	v, err := readOnly(e)
	if err != nil {
		return nil, err
	}
	type reader struct {
		key  []byte
		lend func([]byte)
		read func(engine.Tx) error
	}
	readers := make([]*reader, goroutines)
	for g := range readers {
		r := &reader{lend: ignoreValue}
		if use != nil {
			r.lend = func(v []byte) { use(g, v) }
		}
		r.read = func(tx engine.Tx) error {
			l, ok := tx.(engine.Lender)
			if !ok {
				return fmt.Errorf("%s cannot GetFunc (engine.Lender)", e.Name())
			}
			return l.GetFunc(r.key, r.lend)
		}
		readers[g] = r
	}
	return func(g, i int) error {
		r := readers[g]
		r.key = key(g, i)
		return v.View(level, r.read)
	}, nil
}

// scan returns one walk of scanLen keys from start(g, i) in a read-only
// snapshot of e, the way named: "Scan" (mvcc.Txn.Scan's copies,
// engine.CopyScanner), "ScanFunc"
// (engine.Lender), "ScanFunc+crc" (ScanFunc computing each key's and
// value's CRC-32C) and "ScanKeys" (engine.KeyScanner). All but the last
// read every value (its length), the last keys only.
func scan(e engine.Engine, way string, start func(g, i int) []byte, scanLen int) (func(g, i int) error, error) {
	v, err := readOnly(e)
	if err != nil {
		return nil, err
	}
	return func(g, i int) error {
		n, sum := 0, 0
		var crc uint32
		each := func(k, v []byte) bool {
			sum += len(v)
			if way == "ScanFunc+crc" {
				crc ^= crc32.Update(crc32.Update(0, castagnoli, k), castagnoli, v)
			}
			n++
			return n < scanLen
		}
		err := v.View(mvcc.Snapshot, func(tx engine.Tx) error {
			from := start(g, i)
			switch way {
			case "Scan":
				c, ok := tx.(engine.CopyScanner)
				if !ok {
					return fmt.Errorf("%s cannot scan into copies (engine.CopyScanner)", e.Name())
				}
				return c.ScanCopies(from, nil, 0, each)
			case "ScanFunc", "ScanFunc+crc":
				l, ok := tx.(engine.Lender)
				if !ok {
					return fmt.Errorf("%s cannot ScanFunc (engine.Lender)", e.Name())
				}
				return l.ScanFunc(from, nil, 0, each)
			default:
				ks, ok := tx.(engine.KeyScanner)
				if !ok {
					return fmt.Errorf("%s cannot ScanKeys (engine.KeyScanner)", e.Name())
				}
				return ks.ScanKeys(from, nil, 0, func([]byte) bool {
					n++
					return n < scanLen
				})
			}
		})
		if err == nil && n < scanLen {
			err = fmt.Errorf("%s %s saw %d keys, want %d", e.Name(), way, n, scanLen)
		}
		if err == nil && way != "ScanKeys" && sum == 0 {
			err = fmt.Errorf("%s %s read no value", e.Name(), way)
		}
		crcSink.Store(crc)
		return err
	}, nil
}

// openLoaded opens mvkv and bbolt through package engine in dir, both
// without fsync, and loads them (load); closeBoth closes the two.
func openLoaded(ctx context.Context, cfg Config, dir string) (mv, bb engine.Engine, closeBoth func(), err error) {
	if mv, err = openEngine(dir, "mvkv", engine.Options{}); err != nil {
		return nil, nil, nil, err
	}
	if bb, err = openEngine(dir, "bbolt", engine.Options{}); err != nil {
		_ = mv.Close()
		return nil, nil, nil, err
	}
	closeBoth = func() { _ = closeAll(nil, mv, bb) } // throwaway benchmark databases
	val := goalValue(cfg.ValueSize, 2)
	for _, e := range []engine.Engine{mv, bb} {
		if err := load(ctx, e, cfg.Keys, func(int) []byte { return val }); err != nil {
			closeBoth()
			return nil, nil, nil, err
		}
	}
	// Vacuumed, mvkv's reads go to the file, as bbolt's do.
	if _, err := mv.(engine.Vacuumer).Vacuum(); err != nil {
		closeBoth()
		return nil, nil, nil, err
	}
	return mv, bb, closeBoth, nil
}

// load writes keys goalKey(0..n-1) into e with the values value(i) (the
// slice may be reused: every engine copies what it stores), 10,000 to a
// transaction.
func load(ctx context.Context, e engine.Engine, n int, value func(i int) []byte) error {
	for lo := 0; lo < n; lo += 10_000 {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(n, lo+10_000)
		if err := e.Txn(mvcc.Snapshot, false, func(tx engine.Tx) error {
			for i := lo; i < hi; i++ {
				if err := tx.Put(goalKey(i), value(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
