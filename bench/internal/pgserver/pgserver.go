// Package pgserver starts a throwaway PostgreSQL cluster for tests and
// benchmarks, and maps PostgreSQL's transaction errors onto mvcc's
// sentinels.
//
// Start runs initdb into a new temporary directory and pg_ctl to start
// the server on a Unix socket in that directory (no TCP port, so nothing
// to collide with); Stop stops it and removes the directory. The server
// binaries come from the Debian package (apt-get install postgresql):
// PATH is searched first, then /usr/lib/postgresql/<version>/bin, newest
// version first. initdb refuses to run as root, so a root process runs the
// server as the unprivileged user nobody, which then owns the directory.
//
//	srv, err := pgserver.Start(pgserver.Options{})
//	if errors.Is(err, pgserver.ErrUnavailable) { /* skip */ }
//	defer srv.Stop()
//	conn, err := pgx.Connect(ctx, srv.DSN())
package pgserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// ErrUnavailable reports that no PostgreSQL server binaries were found.
var ErrUnavailable = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")

// Options tune the cluster.
type Options struct {
	// Durable keeps fsync and synchronous commits on (PostgreSQL's
	// defaults). Without it the server runs with fsync=off and
	// synchronous_commit=off: for tests and non-durable benchmarks.
	Durable bool
	// MaxConnections is max_connections; default 100.
	MaxConnections int
}

// Server is a running cluster. Its methods are safe for concurrent use.
type Server struct {
	dir  string // the cluster's data directory and socket directory
	bin  string // where initdb and pg_ctl are
	cred *syscall.Credential
}

// Bin returns the directory holding initdb and pg_ctl, or ErrUnavailable.
func Bin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrUnavailable
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

// Start creates and starts a cluster; see the package comment.
func Start(opts Options) (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	// A short path: the socket's path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "mvkv-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgserver: running as root needs the user nobody for initdb: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initArgs := []string{"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"}
	if !opts.Durable {
		initArgs = append(initArgs, "--no-sync")
	}
	if err := s.cmd("initdb", initArgs...); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	maxConn := opts.MaxConnections
	if maxConn <= 0 {
		maxConn = 100
	}
	settings := []string{
		"listen_addresses=''",
		"unix_socket_directories='" + dir + "'",
		"max_connections=" + strconv.Itoa(maxConn),
		// Deadlocks are found after this wait; the default 1s is longer
		// than the anomaly runner's grace period.
		"deadlock_timeout=100ms",
		"dynamic_shared_memory_type=mmap",
	}
	if !opts.Durable {
		settings = append(settings, "fsync=off", "synchronous_commit=off", "full_page_writes=off")
	}
	o := "-c " + strings.Join(settings, " -c ")
	if err := s.cmd("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "log"), "-o", o); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	return s, nil
}

// cmd runs one of the server binaries as the cluster's owner.
func (s *Server) cmd(name string, args ...string) error {
	c := exec.Command(filepath.Join(s.bin, name), args...)
	c.Dir = s.dir
	c.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgserver: %s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// DSN is a connection string for the superuser postgres, database
// postgres, over the cluster's socket.
func (s *Server) DSN() string {
	return "host=" + s.dir + " user=postgres dbname=postgres sslmode=disable"
}

// Stop stops the server (fast shutdown) and removes its directory.
func (s *Server) Stop() error {
	err := s.cmd("pg_ctl", "stop", "-w", "-m", "fast", "-D", filepath.Join(s.dir, "data"))
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}
