package mvcc

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to w while the database
// keeps serving reads and commits, and returns the number of bytes
// written. The copy is a complete mvkv file: write it to a file and Open
// that file to restore.
//
// The copy holds the committed data as of one checkpoint: every
// transaction whose Commit returned before Backup was called (perhaps
// some committed while it waits for that checkpoint), and none committed
// once the copy has begun. Like bbolt's Tx.WriteTo,
// which it uses, it holds one read transaction of the file for its whole
// length. While it is held, the pages it reads are pinned (commits meanwhile
// take new pages: the file may grow by what they write), and a commit that
// must grow the file's memory mapping waits for the backup to end; set
// Options.InitialMmapSize above the file's expected size to keep such
// waits rare. Close also waits for a running backup.
//
// The backup stops with ctx's error when ctx ends, and with ErrClosed when
// Close is called, at w's next write; what was written to w until then is
// not a usable file. An error of w is returned wrapped; a panic of w is
// returned as a *WriterPanicError (never as ErrCorrupt: the database is
// not at fault).
//
// The copy is one file: Backup first has the checkpointer apply every
// commit acknowledged so far to the database file (the log beside it is
// not copied). On a database opened with Options.ReadOnly, Backup works as
// on any other, unless its log holds commits a crash left unapplied,
// which a read-only DB cannot apply: then it fails, and a read-write Open
// (which applies them) must come first.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if w == nil {
		return 0, fmt.Errorf("%w: Backup's writer is nil", ErrNilArgument)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if db.closed.Load() {
		return 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// The commits in the log go to the data bucket first: the copy is
	// one file, and it holds every commit acknowledged before Backup was
	// called. A read-only DB cannot apply the log (what Open found in it
	// is in memory only), so it cannot copy what the log holds.
	if db.opts.ReadOnly {
		if db.applied.Load() < db.oracle.Visible() {
			return 0, fmt.Errorf("mvkv: backup %s: the file's log holds commits a read-only DB cannot apply: open it read-write once (which applies them), then back it up", db.path)
		}
	} else if err := db.requestCheckpoint(); err != nil {
		return 0, fmt.Errorf("mvkv: backup %s: %w", db.path, err)
	}
	// A bbolt read transaction sees the last bbolt commit whole: each
	// checkpoint step is one, and it writes the data it applies with the
	// meta bucket's marks and key count, so the copy is consistent.
	btx, err := db.bolt.Begin(false)
	if err != nil {
		if db.closed.Load() {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("mvkv: backup %s: %w", db.path, err)
	}
	defer btx.Rollback() //nolint:errcheck // a read transaction: nothing to undo
	var n int64
	sw := &stopWriter{ctx: ctx, closing: db.closing, w: w}
	err = db.guard(func() error {
		var err error
		n, err = btx.WriteTo(sw)
		return err
	})
	if sw.panicked != nil {
		// bbolt flattens the writer's error into a string: return it as
		// it was.
		return n, fmt.Errorf("mvkv: backup %s: %w", db.path, sw.panicked)
	}
	if err != nil {
		return n, fmt.Errorf("mvkv: backup %s: %w", db.path, err)
	}
	return n, nil
}

// BackupFile writes a backup (see Backup) to a new file at path, synced to
// disk before it returns. path must not exist; on failure nothing is left
// there.
func (db *DB) BackupFile(ctx context.Context, path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("mvkv: backup: %w", err)
	}
	n, err := db.Backup(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(path)
		return 0, err
	}
	return n, nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// stopWriter is w that fails once ctx ends or the DB starts closing.
type stopWriter struct {
	ctx     context.Context
	closing <-chan struct{}
	w       io.Writer

	panicked *WriterPanicError // what w panicked with
}

func (s *stopWriter) Write(p []byte) (n int, err error) {
	select {
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	case <-s.closing:
		return 0, ErrClosed
	default:
	}
	defer func() {
		if r := recover(); r != nil {
			s.panicked = &WriterPanicError{Value: r}
			n, err = 0, s.panicked
		}
	}()
	return s.w.Write(p)
}

// WriterPanicError is the error Backup returns when the io.Writer it was
// given panics: the panic is the caller's, not damage of the database,
// so it is returned to the caller (who may panic again with Value) and
// the database goes on. Unwrap gives Value when it is an error.
type WriterPanicError struct {
	Value any // what the writer panicked with
}

func (e *WriterPanicError) Error() string {
	return fmt.Sprintf("mvkv: backup: the writer panicked: %v", e.Value)
}

// Unwrap returns Value if it is an error.
func (e *WriterPanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
