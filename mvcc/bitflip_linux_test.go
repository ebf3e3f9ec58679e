//go:build linux

package mvcc_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// The bit-flip campaign: single-bit flips in the pages of a database of a
// few thousand known records (every page but the two meta pages, whose
// damage bbolt's checksum catches and rolls back). Each trial opens the
// damaged copy and reads everything back: every key written, keys never
// written or deleted, a full scan and range scans (Scan, ScanReverse,
// ScanFunc, ScanReverseFunc), and a keys-only scan. A trial must end with
// ErrCorrupt (at Open or at a read) or with every read returning exactly
// what was written: never a crash, a hang, a wrong value, a lost key, an
// invented key or a scan out of order. ScanKeys, which verifies no
// checksum, is held to no crash, no hang and no error but ErrCorrupt; the
// trials where it yielded a damaged key are counted.
//
// Trials run in child processes (a crash or a hang must not take the test
// down), several children at once and many trials per child, each child
// under a deadline and an address-space limit. MVKV_BITFLIPS sets the
// number of trials (default 60, a few seconds; .ci/run runs 240),
// MVKV_BITFLIP_SEED the seed. Each trial ends with DB.Check, which must
// find at least what the reads found. TestBitFlipMetaValues
// (bitflip_meta_linux_test.go) flips every bit of every meta value.

const (
	envFlipBase   = "MVKV_BITFLIP_BASE"   // the child's: the undamaged database
	envFlipTrials = "MVKV_BITFLIP_TRIALS" // the child's: comma-separated trial numbers
	envFlipSeed   = "MVKV_BITFLIP_SEED"
	flipRecords   = 3000
	flipPage      = 4096
)

// flipKey and flipWant define the campaign's data: record i's key, and its
// value (absent for every seventh, deleted after being written).
func flipKey(i int) string { return fmt.Sprintf("rec/%05d", i) }

func flipWant(i int) (string, bool) {
	flipWantOnce.Do(func() {
		for i := range flipWants {
			flipWants[i].v, flipWants[i].ok = flipValue(i)
		}
	})
	return flipWants[i].v, flipWants[i].ok
}

var (
	flipWantOnce sync.Once
	flipWants    [flipRecords]struct {
		v  string
		ok bool
	}
)

func flipValue(i int) (string, bool) {
	if i%7 == 3 {
		return "", false
	}
	n := 20 + (i*37)%180
	if i%500 == 11 {
		n = 6000 // overflow pages
	}
	v := []byte(fmt.Sprintf("value of %d, second version|", i))
	return string(bytes.Repeat(v, n/len(v)+1)[:n]), true
}

// flipRetention keeps the first versions as history: the file also holds
// a version bucket and a clock, and the trials read as of flipMark, the
// time between the first versions and the second (written next to the
// base, as path+".mark").
const flipRetention = 365 * 24 * time.Hour

var flipMark time.Time

// flipBuild writes the campaign's database: every record, then a second
// version of each, then the deletes, so the file also holds freed pages
// and a freelist, and the history of the first versions (versions and
// tombstones in the version bucket, commit times in the clock).
func flipBuild(t *testing.T, path string) {
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true, HistoryRetention: flipRetention})
	require.NoError(t, err)
	for round := range 2 {
		if round == 1 {
			_, err := db.Vacuum(context.Background()) // the first versions reach the data bucket
			require.NoError(t, err)
			mark := time.Now()
			time.Sleep(time.Millisecond)
			require.NoError(t, os.WriteFile(path+".mark", []byte(strconv.FormatInt(mark.UnixNano(), 10)), 0o600))
		}
		for lo := 0; lo < flipRecords; lo += 250 {
			require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
				for i := lo; i < lo+250; i++ {
					v, _ := flipWant(i)
					if round == 0 {
						v = "first version " + strconv.Itoa(i)
					}
					if err := tx.Put([]byte(flipKey(i)), []byte(v)); err != nil {
						return err
					}
				}
				return nil
			}))
		}
	}
	require.NoError(t, db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		for i := range flipRecords {
			if _, ok := flipWant(i); !ok {
				if err := tx.Delete([]byte(flipKey(i))); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
}

// flipAt is trial n's flip: a byte offset in the file and a bit. Half the
// trials hit the first 256 bytes of a page (its header and element
// headers, where a flip moves or renames things rather than changing
// bytes of a value); one in eight hits a branch page, one in eight the
// freelist page (found by their type in the page header).
func flipAt(data []byte, seed uint64, n, pages int) (off int64, bit uint) {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	pg := 2 + rng.IntN(pages-2)
	var want byte
	switch n % 8 {
	case 1:
		want = 0x01 // branch
	case 5:
		want = 0x10 // freelist
	}
	if want != 0 {
		var of []int
		for p := 2; p < pages; p++ {
			if data[p*flipPage+8] == want {
				of = append(of, p)
			}
		}
		if len(of) > 0 {
			pg = of[rng.IntN(len(of))]
		}
	}
	in := rng.IntN(flipPage)
	if n%2 == 0 || want != 0 {
		in = rng.IntN(256)
	}
	return int64(pg*flipPage + in), uint(rng.IntN(8))
}

func flipSeed() uint64 {
	if s := os.Getenv(envFlipSeed); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		return n
	}
	return 13
}

func TestBitFlipCampaign(t *testing.T) {
	if os.Getenv(envFlipBase) != "" {
		t.Skip("this is a child process")
	}
	trials := 60
	if s := os.Getenv("MVKV_BITFLIPS"); s != "" {
		trials, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	flipBuild(t, base)
	data, err := os.ReadFile(base)
	require.NoError(t, err)
	pages := usedSize(t, data) / flipPage
	require.Greater(t, pages, 20)
	if keep := os.Getenv("MVKV_BITFLIP_KEEP"); keep != "" {
		// For a child run by hand (MVKV_BITFLIP_BASE=keep), with the mark
		// it reads as of.
		require.NoError(t, os.WriteFile(keep, data, 0o600))
		mark, err := os.ReadFile(base + ".mark")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(keep+".mark", mark, 0o600))
	}

	// Each worker runs a child over its share of the trials; a child that
	// dies or runs past its deadline has its trial in progress counted as
	// a crash or a hang, and a new child takes the rest.
	only := -1 // MVKV_BITFLIP_ONLY=n reruns trial n alone
	if s := os.Getenv("MVKV_BITFLIP_ONLY"); s != "" {
		only, _ = strconv.Atoi(s)
	}
	workers := min(max(runtime.NumCPU(), 2), 8)
	results := make(map[int]string, trials)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		var mine []int
		for n := w; n < trials; n += workers {
			if only < 0 || n == only {
				mine = append(mine, n)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(mine) > 0 {
				done, failed := runFlipChild(t, base, mine)
				mu.Lock()
				for n, r := range done {
					results[n] = r
				}
				mu.Unlock()
				var rest []int
				for _, n := range mine {
					if _, ok := done[n]; !ok {
						rest = append(rest, n)
					}
				}
				if len(rest) > 0 {
					// The first trial not reported is the one that
					// killed the child.
					mu.Lock()
					results[rest[0]] = failed
					mu.Unlock()
					rest = rest[1:]
				}
				mine = rest
			}
		}()
	}
	wg.Wait()

	counts := map[string]int{}
	var bad []string
	for n := range trials {
		r, ok := results[n]
		if !ok {
			continue
		}
		kind, _, _ := strings.Cut(r, " ")
		counts[kind]++
		if strings.HasSuffix(r, " keys-only-unverified") {
			counts["of which ScanKeys yielded a damaged key"]++
		}
		if kind != "open-corrupt" && kind != "read-corrupt" && kind != "intact" {
			off, bit := flipAt(data, flipSeed(), n, pages)
			bad = append(bad, fmt.Sprintf("trial %d (page %d byte %d bit %d, page type %#x): %s",
				n, off/flipPage, off%flipPage, bit, data[off/flipPage*flipPage+8], r))
		}
	}
	types := map[string]int{}
	for n := range trials {
		off, _ := flipAt(data, flipSeed(), n, pages)
		types[fmt.Sprintf("%#x", data[off/flipPage*flipPage+8])]++
	}
	t.Logf("flips by page type (1 branch, 2 leaf, 0x10 freelist, other: free): %v", types)
	t.Logf("%d single-bit flips in pages 2..%d of a %d-record database: %v", trials, pages-1, flipRecords, counts)
	require.Empty(t, bad, "trials that crashed, hung, served wrong data or failed otherwise")
	if only < 0 {
		require.Equal(t, trials, counts["open-corrupt"]+counts["read-corrupt"]+counts["intact"])
	}
}

// runFlipChild runs the trials in a child process and returns the outcome
// of each trial it reported, and the outcome to give the first one it did
// not (a crash or a hang).
func runFlipChild(t *testing.T, base string, trials []int) (map[int]string, string) {
	ids := make([]string, len(trials))
	for i, n := range trials {
		ids[i] = strconv.Itoa(n)
	}
	// A trial takes milliseconds; the deadline is for the whole child.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second+time.Duration(len(trials))*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBitFlipChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(),
		envFlipBase+"="+base,
		envFlipTrials+"="+strings.Join(ids, ","),
		envFlipSeed+"="+strconv.FormatUint(flipSeed(), 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	done := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "flip-trial ")
		if !ok {
			continue
		}
		num, outcome, _ := strings.Cut(rest, " ")
		n, _ := strconv.Atoi(num)
		done[n] = outcome
	}
	if err == nil && len(done) == len(trials) {
		return done, ""
	}
	head := func(b []byte) string { return string(b[:min(len(b), 3000)]) }
	if ctx.Err() != nil {
		return done, "hang (child killed at its deadline)"
	}
	return done, fmt.Sprintf("crash (%v): %s %s", err, head(stderr.Bytes()), head(out))
}

// TestBitFlipChild runs the trials TestBitFlipCampaign gives it, printing
// one line per trial.
func TestBitFlipChild(t *testing.T) {
	base := os.Getenv(envFlipBase)
	if base == "" {
		t.Skip("runs only as TestBitFlipCampaign's child process")
	}
	// A runaway trial dies fast and small instead of eating the machine.
	lim := syscall.Rlimit{Cur: 4 << 30, Max: 4 << 30}
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_AS, &lim))
	debug.SetMaxStack(64 << 20)
	data, err := os.ReadFile(base)
	require.NoError(t, err)
	mark, err := os.ReadFile(base + ".mark")
	require.NoError(t, err)
	ns, err := strconv.ParseInt(string(mark), 10, 64)
	require.NoError(t, err)
	flipMark = time.Unix(0, ns)
	pages := usedSize(t, data) / flipPage
	seed := flipSeed()
	dir := t.TempDir()
	for _, s := range strings.Split(os.Getenv(envFlipTrials), ",") {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		off, bit := flipAt(data, seed, n, pages)
		d := bytes.Clone(data)
		d[off] ^= 1 << bit
		path := filepath.Join(dir, fmt.Sprintf("trial%d.db", n))
		require.NoError(t, os.WriteFile(path, d, 0o600))
		outcome := flipTrial(path)
		fmt.Printf("flip-trial %d %s\n", n, strings.ReplaceAll(outcome, "\n", " "))
		_ = os.Remove(path)
	}
}

// flipTrial opens a damaged copy and reads everything back.
func flipTrial(path string) string {
	// A small mapping: mapping 256 MiB per trial costs the race detector
	// more than the trial.
	db, err := mvcc.Open(path, &mvcc.Options{LockTimeout: time.Second, InitialMmapSize: 4 << 20, HistoryRetention: flipRetention})
	if err != nil {
		if errors.Is(err, mvcc.ErrCorrupt) {
			return "open-corrupt"
		}
		return "open-error " + err.Error()
	}
	var wrong []string
	corrupt := false
	note := func(err error) {
		if errors.Is(err, mvcc.ErrCorrupt) {
			corrupt = true
		} else if err != nil {
			wrong = append(wrong, "error not ErrCorrupt: "+err.Error())
		}
	}
	// Point reads: every key written, and keys never written (between and
	// around the records).
	_ = db.View(context.Background(), func(tx *mvcc.Txn) error {
		for i := range flipRecords {
			want, ok := flipWant(i)
			for _, k := range []string{flipKey(i), flipKey(i) + "-"} {
				v, err := tx.Get([]byte(k))
				switch {
				case errors.Is(err, mvcc.ErrNotFound):
					if ok && k == flipKey(i) {
						wrong = append(wrong, "lost key "+k)
					}
				case err != nil:
					note(err)
				case k != flipKey(i) || !ok:
					wrong = append(wrong, "invented key "+k)
				case string(v) != want:
					wrong = append(wrong, fmt.Sprintf("wrong value of %s: %.40q", k, v))
				}
			}
		}
		return nil
	})
	// Scans: all, and ranges, ascending, then descending (r[2] == 1),
	// through Scan (r[3] == 0) and through ScanFunc (r[3] == 1), which
	// lends what it reads instead of copying it for keeps.
	type scanFn = func(start, end []byte) iter.Seq2[[]byte, []byte]
	lent := func(scan func(start, end []byte, fn func(k, v []byte) bool) error) scanFn {
		return func(start, end []byte) iter.Seq2[[]byte, []byte] {
			return func(yield func([]byte, []byte) bool) {
				_ = scan(start, end, yield)
			}
		}
	}
	for _, r := range [][4]int{{-1, -1, 0, 0}, {0, 100, 0, 0}, {1000, 1500, 0, 0}, {2900, -1, 0, 0}, {-1, -1, 1, 0}, {1000, 1500, 1, 0},
		{-1, -1, 0, 1}, {1000, 1500, 0, 1}, {-1, -1, 1, 1}, {2900, -1, 1, 1}} {
		var start, end []byte
		lo, hi := 0, flipRecords
		if r[0] >= 0 {
			start, lo = []byte(flipKey(r[0])), r[0]
		}
		if r[1] >= 0 {
			end, hi = []byte(flipKey(r[1])), r[1]
		}
		var keys []string
		err := db.View(context.Background(), func(tx *mvcc.Txn) error {
			scan := map[[2]int]scanFn{{0, 0}: tx.Scan, {1, 0}: tx.ScanReverse,
				{0, 1}: lent(tx.ScanFunc), {1, 1}: lent(tx.ScanReverseFunc)}[[2]int{r[2], r[3]}]
			for k, v := range scan(start, end) {
				keys = append(keys, string(k))
				i, err := strconv.Atoi(strings.TrimPrefix(string(k), "rec/"))
				want, ok := flipWant(i)
				switch {
				case err != nil || flipKey(i) != string(k) || !ok || i < lo || i >= hi:
					wrong = append(wrong, fmt.Sprintf("scan invented key %q", k))
				case string(v) != want:
					wrong = append(wrong, fmt.Sprintf("scan: wrong value of %s", k))
				}
			}
			return tx.Err()
		})
		if r[2] == 1 {
			slices.Reverse(keys)
		}
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			wrong = append(wrong, "scan out of order")
		}
		if err != nil {
			note(err)
			continue
		}
		n := 0
		for i := lo; i < hi; i++ {
			if _, ok := flipWant(i); ok {
				n++
			}
		}
		if len(keys) < n {
			wrong = append(wrong, fmt.Sprintf("scan [%d,%d) lost keys: %d of %d", lo, hi, len(keys), n))
		}
	}
	// As of the mark, every record had its first version: read from the
	// version bucket (the data holds the second) and found by the clock.
	func() {
		tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true, AsOf: flipMark})
		if err != nil {
			note(err)
			return
		}
		defer func() { _ = tx.Rollback() }()
		// Every fifth record (the scan below reads a range whole): each
		// read as of the past costs a lookup in the version bucket too.
		for i := 0; i < flipRecords; i += 5 {
			v, err := tx.Get([]byte(flipKey(i)))
			switch {
			case errors.Is(err, mvcc.ErrNotFound):
				wrong = append(wrong, "as of the mark: lost key "+flipKey(i))
			case err != nil:
				note(err)
			case string(v) != "first version "+strconv.Itoa(i):
				wrong = append(wrong, fmt.Sprintf("as of the mark: wrong value of %s: %.40q", flipKey(i), v))
			}
		}
		n := 0
		for k, v := range tx.Scan([]byte(flipKey(1000)), []byte(flipKey(1500))) {
			if string(v) != "first version "+strings.TrimLeft(strings.TrimPrefix(string(k), "rec/"), "0") {
				wrong = append(wrong, fmt.Sprintf("as of the mark: scan: wrong value of %s", k))
			}
			n++
		}
		if err := tx.Err(); err != nil {
			note(err)
		} else if n != 500 {
			wrong = append(wrong, fmt.Sprintf("as of the mark: scan found %d keys of 500", n))
		}
	}()
	// DB.Check reads every page and record: it finds whatever the reads
	// found, and it never crashes or hangs either.
	checkErr := db.Check(context.Background())
	switch {
	case checkErr != nil && !errors.Is(checkErr, mvcc.ErrCorrupt):
		wrong = append(wrong, "Check: error not ErrCorrupt: "+checkErr.Error())
	case checkErr == nil && corrupt:
		wrong = append(wrong, "Check found nothing where a read found damage")
	}
	// ScanKeys checks no checksum (they cover keys with their values): a
	// flip that renames a record can show as a wrong key, which is
	// counted apart. It must still never crash, hang, or fail with an
	// error that is not ErrCorrupt.
	keysOnly := ""
	err = db.View(context.Background(), func(tx *mvcc.Txn) error {
		var keys []string
		for k := range tx.ScanKeys(nil, nil) {
			keys = append(keys, string(k))
		}
		var want []string
		for i := range flipRecords {
			if _, ok := flipWant(i); ok {
				want = append(want, flipKey(i))
			}
		}
		if tx.Err() == nil && !slices.Equal(keys, want) {
			keysOnly = " keys-only-unverified"
		}
		return tx.Err()
	})
	note(err)
	if err := db.Close(); err != nil {
		note(err)
	}
	switch {
	case len(wrong) > 0:
		if len(wrong) > 5 {
			wrong = append(wrong[:5], fmt.Sprintf("(%d more)", len(wrong)-5))
		}
		return "WRONG " + strings.Join(wrong, "; ")
	case corrupt:
		return "read-corrupt" + keysOnly
	}
	return "intact" + keysOnly
}
