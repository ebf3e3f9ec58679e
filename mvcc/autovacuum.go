package mvcc

import (
	"context"
	"sync"

	"github.com/mvkv/mvkv/gc"
	"github.com/mvkv/mvkv/index"
	"github.com/mvkv/mvkv/txn"
)

// vacuumer wires the gc package to the DB: the index is the gc.Index and
// the oracle the gc.Horizon. The commit pipeline kicks autovacuum once the
// index holds kickAt versions.
//
// Close stops vacuum before the file closes: it cancels ctx (a pass stops
// at its next batch boundary), waits for the autovacuum goroutine, then
// takes gate for writing to set stopped, which waits for every DB.Vacuum in
// progress (each holds gate for reading while it runs) and turns away later
// ones.
type vacuumer struct {
	gc       *gc.Collector
	ctx      context.Context // canceled by Close
	cancel   context.CancelFunc
	autoDone chan struct{} // closed when autovacuum exits; nil when off
	kickAt   int64         // index versions at which commits kick autovacuum

	gate    sync.RWMutex
	stopped bool // guarded by gate
}

// vacuumConfig is the gc configuration the options ask for. A failed pass
// goes to Options.Logger (Stats.LastVacuumError keeps the last one).
func (db *DB) vacuumConfig() gc.Config {
	o := db.opts
	return gc.Config{
		// What the log holds must reach the data bucket before memory can
		// let it go (see checkpoint.go). DB.Vacuum gives back everything
		// now, so it has the checkpointer apply the whole log first;
		// autovacuum takes what the checkpointer, running on its own
		// schedule, has applied (it kicks autovacuum after each pass), so
		// that it never forces a checkpoint of a few hundred writes.
		// Either kind of pass then vacuums the version store on disk
		// (spill.go).
		Prepare: func(ctx context.Context) error {
			if ctx.Value(manualVacuum{}) != nil {
				if err := db.requestCheckpoint(); err != nil {
					return err
				}
			}
			return db.vacuumDisk()
		},
		BatchSize: o.VacuumBatchSize,
		Pause:     o.VacuumPause,
		Policy:    gc.Policy{Threshold: o.AutovacuumThreshold, ScaleFactor: o.AutovacuumScaleFactor},
		Interval:  o.AutovacuumInterval,
		OnError: func(err error, auto bool) {
			if o.Logger != nil {
				o.Logger.Error("mvkv: vacuum failed", "path", db.path, "auto", auto, "err", err)
			}
		},
	}
}

func (db *DB) startVacuum() {
	o := db.opts
	db.vac.gc = gc.New(vacuumIndex{db.index, db}, pruneHorizon{db.oracle}, db.vacuumConfig())
	db.vac.ctx, db.vac.cancel = context.WithCancel(context.Background())
	db.vac.kickAt = 1 << 62
	if o.NoAutovacuum {
		return
	}
	db.vac.kickAt = max(db.vac.gc.Config().Policy.Threshold, 1)
	db.vac.autoDone = make(chan struct{})
	go func() {
		defer close(db.vac.autoDone)
		db.vac.gc.Auto(db.vac.ctx)
	}()
}

// stopVacuum is called by Close once db.closed is set.
func (db *DB) stopVacuum() {
	db.vac.cancel()
	if db.vac.autoDone != nil {
		<-db.vac.autoDone
	}
	db.vac.gate.Lock()
	db.vac.stopped = true
	db.vac.gate.Unlock()
}

// manualVacuum marks the context of a DB.Vacuum pass.
type manualVacuum struct{}

// pruneHorizon is the gc.Horizon of a DB: the snapshot horizon, capped at
// the oldest applied mark a reader may rely on (see checkpoint.go).
type pruneHorizon struct{ o *txn.Oracle }

func (h pruneHorizon) Horizon() uint64 { return h.o.PruneHorizon() }

// vacuumIndex is the gc.Index of a DB: the in-memory index, whose
// estimate of what a pass could remove also counts the version store's
// records once the horizon the disk vacuum uses (history's too, as
// vacuumDisk) passes the first one's until (an overestimate: it decides
// when autovacuum runs, nothing else), so that versions spilled to disk
// are vacuumed even when memory has little to give back, and history
// still within the retention does not start a pass that removes nothing
// at every check.
type vacuumIndex struct {
	*index.Index
	db *DB
}

func (v vacuumIndex) Reclaimable(horizon uint64) int64 {
	n := v.Index.Reclaimable(horizon)
	vs := &v.db.vs
	c, next := vs.count.Load(), vs.nextUntil.Load()
	if c > 0 && next <= horizon && next <= v.db.historyHorizon(v.db.wallNow()) {
		n += c
	}
	return n
}
