package crash_test

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/internal/crash"
)

// Environment of the child process.
const (
	envPath = "MVKV_CRASH_CHILD_DB"
	envRun  = "MVKV_CRASH_CHILD_RUN"
)

// cycles is how many kills TestCrashRecovery makes: MVKV_CRASH_CYCLES, or
// 8 (4 with -short).
func cycles() int {
	if n, err := strconv.Atoi(os.Getenv("MVKV_CRASH_CYCLES")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 4
	}
	return 8
}

// TestCrashChild is the child process's body; it runs only when
// TestCrashRecovery starts it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envPath)
	if path == "" {
		t.Skip("runs only as TestCrashRecovery's child process")
	}
	run, _ := strconv.Atoi(os.Getenv(envRun))
	acks := os.NewFile(3, "acks")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := crash.RunChild(ctx, path, run, acks)
	if err != nil {
		t.Fatal(err)
	}
}

func TestCrashRecovery(t *testing.T) {
	if os.Getenv(envPath) != "" {
		t.Skip("this is the child process")
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("MVKV_CRASH_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (MVKV_CRASH_SEED reproduces the kill timings)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "crash.db")
	acks := crash.NewAcks()
	n := cycles()
	for run := range n {
		// Most kills land while the workload runs; some during Open and
		// recovery, before the child is ready.
		early := rng.IntN(4) == 0
		delay := time.Duration(20+rng.IntN(250)) * time.Millisecond
		if early {
			delay = time.Duration(rng.IntN(30)) * time.Millisecond
		}
		lines := killChild(t, path, run, early, delay)
		for _, l := range lines {
			require.NoError(t, acks.Parse(l))
		}
		require.NoError(t, crash.CheckFile(path), "run %d: bbolt check", run)
		sum, err := crash.CheckData(path, acks)
		require.NoError(t, err, "run %d: after SIGKILL", run)
		when := "after it was ready"
		if early {
			when = "after it started"
		}
		t.Logf("run %d: killed %s %s; %d acks read; %d transfers on disk (%d acknowledged in all), counters %v, shared %d",
			run, delay, when, len(lines), sum.Transfers, len(acks.Transfers), sum.Counters, sum.Shared)
	}
	require.NotEmpty(t, acks.Transfers, "no transfer was ever acknowledged: the kills came too early to test anything")
}

// killChild starts the child on path, kills it with SIGKILL delay after it
// is ready (or, when early, delay after it starts), and returns every
// whole acknowledgement line it wrote.
func killChild(t *testing.T, path string, run int, early bool, delay time.Duration) []string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envPath+"="+path, envRun+"="+strconv.Itoa(run))
	cmd.ExtraFiles = []*os.File{w}
	var output bytes.Buffer // the child's test output, for a failure report
	cmd.Stdout, cmd.Stderr = &output, &output
	require.NoError(t, cmd.Start())
	w.Close()

	// Only whole lines count: one cut short by the kill was never
	// acknowledged (the child writes each line in one write after the
	// commit returned).
	lines := make(chan string, 1024)
	var all []string
	go func() {
		defer close(lines)
		br := bufio.NewReader(r)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	timer := time.NewTimer(time.Hour)
	if early {
		timer.Reset(delay)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	killed := false
	for !killed {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			all = append(all, l)
			if l == "R" && !early {
				timer.Reset(delay)
			}
		case <-timer.C:
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed = true
		case err := <-exited:
			t.Fatalf("child exited before the kill: %v\n%s", err, output.String())
		}
	}
	<-exited
	for l := range lines {
		all = append(all, l)
	}
	r.Close()
	return all
}
