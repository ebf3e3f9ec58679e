package mvcc_test

// The crash test: a child process (this test binary, running
// TestCrashChild) commits durable transactions from several goroutines and
// prints each one as soon as Commit returns nil; the parent kills it with
// SIGKILL at a random moment, reopens the database and checks that every
// acknowledged transaction is there and that no transaction is there in
// part. The database is reused across rounds, so recovery also runs on
// files that went through earlier crashes.
//
// MVKV_CRASH_ROUNDS sets the number of kill rounds (default 3).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

const (
	crashEnvDB    = "MVKV_CRASH_CHILD_DB"
	crashEnvRound = "MVKV_CRASH_CHILD_ROUND"
	crashEnvPlain = "MVKV_CRASH_CHILD_PLAIN"
	crashWriters  = 8
)

// Each child transaction, by writer g of round r with sequence number n
// (id "r.g.n"), atomically:
//
//	puts    tx/<id>/a, tx/<id>/b, tx/<id>/c = <id> + filler
//	puts    last/<r>/<g>                    = <id>   (an overwrite every time)
//	puts    tmp/<r>/<g>/<n>                 = <id>
//	deletes tmp/<r>/<g>/<n-1>                         (a tombstone every time)
//
// so that after any crash, for each writer: last/<r>/<g> names a complete
// transaction no older than its last acknowledged one, and tmp/<r>/<g>/
// holds exactly one key, for that same transaction.
func crashTxnKeys(id string) []string {
	return []string{"tx/" + id + "/a", "tx/" + id + "/b", "tx/" + id + "/c"}
}

// crashOpts are the child's and the checker's: durable, with history
// kept and a small version memory, so that a kill also lands in spills
// to the version bucket and in checkpoints that write history there.
var crashOpts = &mvcc.Options{HistoryRetention: time.Hour, VersionMemoryLimit: 256 << 10, CheckpointBytes: 64 << 10}

// crashPlainOpts keep no history (TestCrashKill9Plain): a group of a few
// transactions then goes straight to the data bucket while the log is
// empty, a larger one to the log, so kills land in both kinds of group,
// in the switch between them, and in checkpoints.
var crashPlainOpts = &mvcc.Options{VersionMemoryLimit: 256 << 10, CheckpointBytes: 64 << 10}

// crashChildOpts are the options the child was started with.
func crashChildOpts() *mvcc.Options {
	if os.Getenv(crashEnvPlain) != "" {
		return crashPlainOpts
	}
	return crashOpts
}

func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvDB)
	if path == "" {
		t.Skip("run by TestCrashKill9 as its child process")
	}
	round := os.Getenv(crashEnvRound)
	// Never outlive a parent that died without killing us.
	deadline := time.Now().Add(2 * time.Minute)
	db, err := mvcc.Open(path, crashChildOpts()) // durable: the point of the test
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	// A long snapshot: what it holds spills to disk past the small
	// memory limit, and it reads some of it back.
	go func() {
		tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{Isolation: mvcc.Snapshot, ReadOnly: true})
		if err != nil {
			return
		}
		for time.Now().Before(deadline) {
			for range tx.Scan([]byte("last/"), []byte("last0")) {
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Bool
	for g := 0; g < crashWriters; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(len(round))))
			for n := 1; time.Now().Before(deadline) && !failed.Load(); n++ {
				id := fmt.Sprintf("%s.%d.%d", round, g, n)
				filler := strings.Repeat("x", rng.IntN(3000))
				err := db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
					for _, k := range crashTxnKeys(id) {
						if err := tx.Put([]byte(k), []byte(id+filler)); err != nil {
							return err
						}
					}
					if err := tx.Put([]byte(fmt.Sprintf("last/%s/%d", round, g)), []byte(id)); err != nil {
						return err
					}
					if err := tx.Put([]byte(fmt.Sprintf("tmp/%s/%d/%09d", round, g, n)), []byte(id)); err != nil {
						return err
					}
					return tx.Delete([]byte(fmt.Sprintf("tmp/%s/%d/%09d", round, g, n-1)))
				})
				if err != nil {
					failed.Store(true)
					fmt.Fprintln(os.Stderr, "commit error:", err)
					return
				}
				// The acknowledgement goes to the pipe right away: once
				// written, it survives our death.
				outMu.Lock()
				fmt.Fprintf(out, "ack %s\n", id)
				_ = out.Flush()
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
	_ = db.Close()
	os.Exit(3) // reached only on error or at the safety deadline
}

func crashRounds(t *testing.T) int {
	if s := os.Getenv("MVKV_CRASH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "MVKV_CRASH_ROUNDS")
		return n
	}
	return 3
}

func TestCrashKill9(t *testing.T) {
	path := t.TempDir() + "/crash.db"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for round := 1; round <= crashRounds(t); round++ {
		// Kill after a random number of acknowledgements, so that the kill
		// lands at a different point of the commit pipeline each time.
		killAfter := 20 + rng.IntN(400)
		began := time.Now()
		acked := runCrashChild(t, path, round, killAfter, false)
		require.GreaterOrEqual(t, len(acked), killAfter, "round %d", round)
		t.Logf("round %d: killed after %d acknowledged commits", round, len(acked))
		checkAfterCrash(t, path, round, acked, crashOpts)
		checkHistoryAfterCrash(t, path, round, began, time.Now(), rng)
	}
}

// TestCrashKill9Plain is TestCrashKill9 without history (crashPlainOpts).
func TestCrashKill9Plain(t *testing.T) {
	path := t.TempDir() + "/crash.db"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	for round := 1; round <= crashRounds(t); round++ {
		killAfter := 20 + rng.IntN(400)
		acked := runCrashChild(t, path, round, killAfter, true)
		require.GreaterOrEqual(t, len(acked), killAfter, "round %d", round)
		t.Logf("round %d: killed after %d acknowledged commits", round, len(acked))
		checkAfterCrash(t, path, round, acked, crashPlainOpts)
	}
}

// runCrashChild runs one child until it has acknowledged killAfter
// commits, kills it with SIGKILL, and returns every acknowledged id
// (including those acknowledged between the decision and the kill).
func runCrashChild(t *testing.T, path string, round, killAfter int, plain bool) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDB+"="+path, crashEnvRound+"="+strconv.Itoa(round))
	if plain {
		cmd.Env = append(cmd.Env, crashEnvPlain+"=1")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	timer := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() }) // a hung child fails the test, not CI
	defer timer.Stop()

	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		id, ok := strings.CutPrefix(line, "ack ")
		if !ok {
			t.Logf("child: %s", line)
			continue
		}
		acked = append(acked, id)
		if len(acked) == killAfter && !killed {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		}
	}
	// Everything the child wrote before it died is read by now (EOF).
	err = cmd.Wait()
	require.Error(t, err, "the child must have been killed; stderr: %s", stderr.String())
	if !killed {
		t.Fatalf("child exited before the kill: %v\nstderr: %s", err, stderr.String())
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child ended by %v; stderr: %s", err, stderr.String())
	return acked
}

func checkAfterCrash(t *testing.T, path string, round int, acked []string, opts *mvcc.Options) {
	t.Helper()
	db, err := mvcc.Open(path, opts)
	require.NoError(t, err, "reopen after kill -9")
	defer db.Close()
	r := strconv.Itoa(round)
	require.NoError(t, db.View(context.Background(), func(tx *mvcc.Txn) error {
		// Every acknowledged transaction is there, whole.
		maxAcked := map[string]int{} // writer -> highest acknowledged n
		for _, id := range acked {
			for _, k := range crashTxnKeys(id) {
				v, err := tx.Get([]byte(k))
				require.NoError(t, err, "acknowledged %s lost", k)
				require.True(t, strings.HasPrefix(string(v), id))
			}
			parts := strings.Split(id, ".")
			n, _ := strconv.Atoi(parts[2])
			maxAcked[parts[1]] = max(maxAcked[parts[1]], n)
		}
		// No transaction is there in part: each id has all its keys.
		parts := map[string]int{}
		for k, v := range tx.Scan([]byte("tx/"+r+"."), []byte("tx/"+r+"/")) {
			f := strings.Split(string(k), "/")
			require.Len(t, f, 3)
			require.True(t, strings.HasPrefix(string(v), f[1]), "value of %s", k)
			parts[f[1]]++
		}
		for id, n := range parts {
			require.Equal(t, 3, n, "transaction %s is there in part", id)
		}
		// Per writer: the overwritten key and the put+delete pair agree
		// on the writer's last transaction, which is complete and not
		// older than its last acknowledged one.
		for g := 0; g < crashWriters; g++ {
			gs := strconv.Itoa(g)
			last, err := tx.Get([]byte("last/" + r + "/" + gs))
			if maxAcked[gs] == 0 && err != nil {
				continue // this writer got nothing in
			}
			require.NoError(t, err)
			id := string(last)
			require.Contains(t, parts, id, "last/%s/%s names a missing transaction", r, gs)
			n, _ := strconv.Atoi(strings.Split(id, ".")[2])
			require.GreaterOrEqual(t, n, maxAcked[gs])
			var tmp []string
			prefix := "tmp/" + r + "/" + gs + "/"
			for k, v := range tx.Scan([]byte(prefix), []byte(prefix+"\xff")) {
				tmp = append(tmp, string(k))
				assert.Equal(t, id, string(v))
			}
			require.Equal(t, []string{fmt.Sprintf("%s%09d", prefix, n)}, tmp)
		}
		return nil
	}))
	// The recovered database takes new commits.
	ctPut(t, db, "after-crash/"+r, "ok")
}

// checkHistoryAfterCrash reads the round's data as of times within it:
// the history that survived the kill shows no transaction in part, and
// each writer's overwritten key and put+delete pair agree, at every time.
func checkHistoryAfterCrash(t *testing.T, path string, round int, from, to time.Time, rng *rand.Rand) {
	t.Helper()
	db, err := mvcc.Open(path, crashOpts)
	require.NoError(t, err)
	defer db.Close()
	t.Logf("round %d: %d versions on disk", round, db.Stats().DiskVersions)
	r := strconv.Itoa(round)
	for range 4 {
		at := from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)))))
		tx, err := db.BeginTx(context.Background(), mvcc.TxOptions{ReadOnly: true, AsOf: at})
		if errors.Is(err, mvcc.ErrHistoryGone) {
			continue // before the history began
		}
		require.NoError(t, err)
		parts := map[string]int{}
		for k, v := range tx.Scan([]byte("tx/"+r+"."), []byte("tx/"+r+"/")) {
			f := strings.Split(string(k), "/")
			require.Len(t, f, 3)
			require.True(t, strings.HasPrefix(string(v), f[1]), "value of %s", k)
			parts[f[1]]++
		}
		require.NoError(t, tx.Err())
		for id, n := range parts {
			require.Equal(t, 3, n, "as of %v: transaction %s is there in part", at, id)
		}
		for g := 0; g < crashWriters; g++ {
			gs := strconv.Itoa(g)
			last, err := tx.Get([]byte("last/" + r + "/" + gs))
			if errors.Is(err, mvcc.ErrNotFound) {
				continue
			}
			require.NoError(t, err)
			require.Contains(t, parts, string(last), "as of %v: last/%s/%s names a missing transaction", at, r, gs)
			n, _ := strconv.Atoi(strings.Split(string(last), ".")[2])
			var tmp []string
			prefix := "tmp/" + r + "/" + gs + "/"
			for k := range tx.Scan([]byte(prefix), []byte(prefix+"\xff")) {
				tmp = append(tmp, string(k))
			}
			require.Equal(t, []string{fmt.Sprintf("%s%09d", prefix, n)}, tmp, "as of %v", at)
		}
		require.NoError(t, tx.Rollback())
	}
}
