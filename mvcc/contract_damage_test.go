package mvcc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/mvkv/mvkv/mvcc"
)

// panicWriter panics with v at its first write.
type panicWriter struct{ v any }

func (w panicWriter) Write([]byte) (int, error) { panic(w.v) }

// A panic in the writer given to Backup is the caller's: it comes back as
// a *WriterPanicError, never as ErrCorrupt, and the database goes on.
func TestBackupWriterPanicIsTheCallersError(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "k", "v")
	boom := errors.New("boom")
	for _, v := range []any{"a string", boom, 42} {
		n, err := db.Backup(context.Background(), panicWriter{v})
		require.Error(t, err)
		assert.Zero(t, n)
		assert.NotErrorIs(t, err, mvcc.ErrCorrupt)
		var wp *mvcc.WriterPanicError
		require.ErrorAs(t, err, &wp)
		assert.Equal(t, v, wp.Value)
		if v == boom {
			assert.ErrorIs(t, err, boom)
		}
	}
	// A fault in the writer (nil pointer) is its own too.
	_, err := db.Backup(context.Background(), writerFunc(func(p []byte) (int, error) {
		var w io.Writer
		return w.Write(p)
	}))
	var wp *mvcc.WriterPanicError
	require.ErrorAs(t, err, &wp)
	assert.NotErrorIs(t, err, mvcc.ErrCorrupt)
	ctPut(t, db, "k2", "v2")
	assert.Equal(t, []string{"k=v", "k2=v2"}, dump(t, db))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A panic in code the engine calls while it reads (here: a caller's
// Update function, and a nil-pointer fault there) is not damage: it
// reaches the caller as a panic, not as ErrCorrupt.
func TestCallersPanicIsNotDamage(t *testing.T) {
	db, _ := ctOpen(t, nil)
	ctPut(t, db, "k", "v")
	assert.PanicsWithValue(t, "mine", func() {
		_ = db.View(context.Background(), func(*mvcc.Txn) error { panic("mine") })
	})
	assert.Panics(t, func() {
		_ = db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
			var p *int
			return tx.Put([]byte("k"), []byte{byte(*p)})
		})
	})
	ctPut(t, db, "k", "w")
	assert.Equal(t, []string{"k=w"}, dump(t, db))
}

// Damage that makes bbolt's page checks panic (a page whose header names
// another page) and damage that makes a read fault past the mapping (a
// truncated file) are ErrCorrupt.
func TestBoltPanicsAreDamage(t *testing.T) {
	path, b := pagedFile(t)
	leaves := leafPages(t, path)
	require.NotEmpty(t, leaves)
	t.Run("page id", func(t *testing.T) {
		d := bytes.Clone(b)
		for _, id := range leaves {
			d[id*4096] ^= 0x40 // the page now says it is another one
		}
		p := filepath.Join(t.TempDir(), "db")
		require.NoError(t, os.WriteFile(p, d, 0o600))
		err := openAndReadAll(p)
		require.ErrorIs(t, err, mvcc.ErrCorrupt)
	})
}

// openAndReadAll opens path and reads every key; it returns the first
// error.
func openAndReadAll(path string) error {
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(context.Background(), func(tx *mvcc.Txn) error {
		for range tx.Scan(nil, nil) {
		}
		return tx.Err()
	})
}

// pagedFile writes a database with a data tree of many leaf pages.
func pagedFile(t *testing.T) (string, []byte) {
	path := filepath.Join(t.TempDir(), "paged.db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	require.NoError(t, err)
	kv := []string{}
	for i := range 2000 {
		kv = append(kv, string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), "some value of a few bytes")
	}
	ctPut(t, db, kv...)
	require.NoError(t, db.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, b
}

func leafPages(t *testing.T, path string) []int {
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	require.NoError(t, err)
	defer bdb.Close()
	var ids []int
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte("data")).Root()
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == "leaf" && id != int(root) {
				ids = append(ids, id)
			}
		}
	}))
	return ids
}

// Compact never creates its source: a missing one fails with
// fs.ErrNotExist and leaves no file behind.
func TestCompactMissingSource(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "missing.db"), filepath.Join(dir, "copy.db")
	_, err := mvcc.Compact(dst, src, nil)
	require.ErrorIs(t, err, fs.ErrNotExist)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "Compact created files")

	// An empty file is no database either: Compact does not make one.
	require.NoError(t, os.WriteFile(src, nil, 0o600))
	_, err = mvcc.Compact(dst, src, nil)
	require.ErrorIs(t, err, mvcc.ErrCorrupt)
	fi, err := os.Stat(src)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "Compact wrote its source")
	_, err = os.Stat(dst)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// Options.ReadOnly: nothing created, writes refused with ErrReadOnly,
// several read-only DBs on one file, Backup works, a file the process may
// not write opens.
func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	_, err := mvcc.Open(missing, &mvcc.Options{ReadOnly: true})
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = os.Stat(missing)
	require.ErrorIs(t, err, fs.ErrNotExist, "a read-only open created the file")

	path := filepath.Join(dir, "db")
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	ctPut(t, db, "a", "1", "b", "2")
	require.NoError(t, db.Close())
	require.NoError(t, os.Chmod(path, 0o400))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	ro := &mvcc.Options{ReadOnly: true, LockTimeout: -1}
	r1, err := mvcc.Open(path, ro)
	require.NoError(t, err)
	r2, err := mvcc.Open(path, ro) // a shared lock: both hold it
	require.NoError(t, err)
	_, err = mvcc.Open(path, &mvcc.Options{LockTimeout: -1})
	require.ErrorIs(t, err, mvcc.ErrLocked, "a writer waits for the readers")
	for _, db := range []*mvcc.DB{r1, r2} {
		assert.Equal(t, []string{"a=1", "b=2"}, dump(t, db))
		tx, err := db.Begin(mvcc.Snapshot)
		require.NoError(t, err)
		require.ErrorIs(t, tx.Put([]byte("c"), []byte("3")), mvcc.ErrReadOnly)
		require.ErrorIs(t, tx.Delete([]byte("a")), mvcc.ErrReadOnly)
		require.NoError(t, tx.Commit())
		err = db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error { return nil })
		require.ErrorIs(t, err, mvcc.ErrReadOnly)
		_, err = db.Vacuum(context.Background())
		require.ErrorIs(t, err, mvcc.ErrReadOnly)
		require.NoError(t, db.Check(context.Background()))
		var buf bytes.Buffer
		_, err = db.Backup(context.Background(), &buf)
		require.NoError(t, err)
		restored := filepath.Join(t.TempDir(), "restored")
		require.NoError(t, os.WriteFile(restored, buf.Bytes(), 0o600))
		rdb, err := mvcc.Open(restored, nil)
		require.NoError(t, err)
		assert.Equal(t, []string{"a=1", "b=2"}, dump(t, rdb))
		require.NoError(t, rdb.Close())
	}
	require.NoError(t, r1.Close())
	require.NoError(t, r2.Close())
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "a read-only DB changed the file")
}

// crashImage copies the database at src, with its log, to dst, as a
// crash would leave them: call it while no commit or checkpoint runs.
func crashImage(t *testing.T, src, dst string) {
	t.Helper()
	dir, base := filepath.Split(src)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	copied := 0
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), base); ok && (rest == "" || strings.HasPrefix(rest, ".wal.")) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(dst+rest, b, 0o600))
			copied++
		}
	}
	require.Greater(t, copied, 1, "a file and its log")
}

// A read-only DB opened on a file whose log holds commits not yet
// applied (a crash left it so) reads them, from memory, and changes
// nothing on disk; it cannot back the database up, nor can a read-only
// Compact copy it, without them.
func TestReadOnlyWithLog(t *testing.T) {
	db, src := ctOpen(t, &mvcc.Options{NoSync: true, NoAutovacuum: true})
	ctPut(t, db, "a", "1", "b", "2")
	_, err := db.Vacuum(context.Background()) // applied to the data
	require.NoError(t, err)
	ctPut(t, db, "a", "10", "c", "3")
	ctDelete(t, db, "b")
	path := filepath.Join(t.TempDir(), "image")
	crashImage(t, src, path)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	ro, err := mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=10", "c=3"}, dump(t, ro))
	require.NoError(t, ro.View(context.Background(), func(tx *mvcc.Txn) error {
		_, err := tx.Get([]byte("b"))
		assert.ErrorIs(t, err, mvcc.ErrNotFound)
		v, err := tx.Get([]byte("a"))
		assert.Equal(t, "10", string(v))
		return err
	}))
	assert.Equal(t, int64(2), ro.Stats().Keys)
	require.NoError(t, mvcc.Check(ro))
	_, err = ro.Backup(context.Background(), io.Discard)
	require.Error(t, err, "the copy would lack the log's commits")
	require.NoError(t, ro.Close())
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "a read-only DB changed the file")
	_, err = mvcc.Compact(path+".compact", path, &mvcc.Options{ReadOnly: true})
	require.Error(t, err)

	// Opened read-write, it applies them and removes the log.
	rw, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=10", "c=3"}, dump(t, rw))
	require.NoError(t, rw.Close())
	left, err := filepath.Glob(path + ".wal.*")
	require.NoError(t, err)
	assert.Empty(t, left)
	ro, err = mvcc.Open(path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	assert.Equal(t, []string{"a=10", "c=3"}, dump(t, ro))
}

// DB.Check finds damage Open does not look at: a record deep in the data
// whose checksum fails.
func TestCheckFindsDamage(t *testing.T) {
	path, b := pagedFile(t)
	db, err := mvcc.Open(path, &mvcc.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, db.Check(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, db.Check(ctx), context.Canceled)
	require.NoError(t, db.Close())

	d := bytes.Clone(b)
	leaves := leafPages(t, path)
	flipped := false
	for _, id := range slices.Backward(leaves) {
		if at := bytes.LastIndex(d[id*4096:(id+1)*4096], []byte("some value")); at > 0 {
			d[id*4096+at+3] ^= 1 // a value byte in a leaf page
			flipped = true
			break
		}
	}
	require.True(t, flipped)
	p := filepath.Join(t.TempDir(), "db")
	require.NoError(t, os.WriteFile(p, d, 0o600))
	db, err = mvcc.Open(p, &mvcc.Options{NoSync: true})
	require.NoError(t, err, "Open does not read every page")
	require.ErrorIs(t, db.Check(context.Background()), mvcc.ErrCorrupt)
	require.NoError(t, db.Close())
}

// DB.Check runs beside commits and checkpoints and finds nothing wrong
// with a sound database: it checks one consistent state of the file.
func TestCheckWhileCommitting(t *testing.T) {
	db, _ := ctOpen(t, &mvcc.Options{NoSync: true, CheckpointBytes: 64 << 10})
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			err := db.Update(context.Background(), mvcc.ReadCommitted, func(tx *mvcc.Txn) error {
				for j := range 50 {
					if err := tx.Put([]byte{byte(j), byte(i)}, bytes.Repeat([]byte{byte(i)}, 100)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	for range 30 {
		require.NoError(t, db.Check(context.Background()))
	}
	close(done)
	require.NoError(t, <-errc)
	require.NoError(t, db.Check(context.Background()))
}

// Compact of a source opened read-only copies it without writing it.
func TestCompactReadOnlySource(t *testing.T) {
	db, path := ctOpen(t, nil)
	ctPut(t, db, "a", "1", "b", "2")
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	dst := filepath.Join(t.TempDir(), "copy")
	_, err = mvcc.Compact(dst, path, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "the source changed")
	c, err := mvcc.Open(dst, &mvcc.Options{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"a=1", "b=2"}, dump(t, c))
	require.NoError(t, c.Close())
}
