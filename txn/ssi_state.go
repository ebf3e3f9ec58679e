package txn

// SSI's partitioned state: the writers by commit timestamp, and the
// pruning and folding of committed transactions, partition by partition.
//
// Lock order: a partition's lock (ssiPart.mu), then a transaction's
// (SerTxn.mu) or a writers' partition's (writerPart.mu). No two
// partitions' locks are ever held together.

// writer returns the tracked writer registered at ts, if any.
func (s *SSI) writer(ts uint64) *SerTxn {
	w := &s.writers[ts&s.mask]
	w.mu.Lock()
	p := w.m[ts]
	w.mu.Unlock()
	return p
}

func (s *SSI) addWriter(ts uint64, t *SerTxn) {
	w := &s.writers[ts&s.mask]
	w.mu.Lock()
	w.m[ts] = t
	w.mu.Unlock()
}

// dropWriter unregisters t at ts (if it is the writer there).
func (s *SSI) dropWriter(ts uint64, t *SerTxn) {
	w := &s.writers[ts&s.mask]
	w.mu.Lock()
	if w.m[ts] == t {
		delete(w.m, ts)
	}
	w.mu.Unlock()
}

// foldedPivot reports whether t, reading a version committed at ts by a
// writer no longer registered, would be T_in of a dangerous structure if
// that writer was folded into a summary: some folded writer at or after
// ts had an out edge committed before ts that t's read-only rule does not
// excuse.
func (s *SSI) foldedPivot(t *SerTxn, ts uint64) bool {
	if s.folded.Load() == 0 {
		return false
	}
	for i := range s.parts {
		p := &s.parts[i]
		if !p.hasSummary.Load() {
			continue
		}
		p.mu.Lock()
		hit := p.summary != nil && ts <= p.foldedMaxTS && p.foldedMinOut != 0 && p.foldedMinOut < ts && dangerous(t, p.foldedMinOut)
		p.mu.Unlock()
		if hit {
			return true
		}
	}
	return false
}

// oldestActive returns the oldest snapshot among tracked active
// transactions (any is false when there is none), for a prune to drop
// what none of them overlaps. A read-write transaction registers before
// it takes its snapshot: one the walk misses takes a snapshot at or after
// the commit of everything committed before the walk, and overlaps none
// of it. A tracked read-only one registers after its snapshot: the walk
// first moves pruneEpoch, and Begin dooms one whose window it may have
// missed.
func (s *SSI) oldestActive() (oldest uint64, any bool, epoch uint64) {
	epoch = s.pruneEpoch.Add(1)
	for i := range s.parts {
		p := &s.parts[i]
		if p.nActive.Load() == 0 {
			continue // one registering now overlaps nothing committed before
		}
		p.mu.Lock()
		for t := range p.active {
			if snap := t.snapshot.Load(); !any || snap < oldest {
				oldest, any = snap, true
			}
		}
		p.mu.Unlock()
	}
	return oldest, any, epoch
}

// pruneAll prunes every partition that keeps something.
func (s *SSI) pruneAll() {
	oldest, any, epoch := s.oldestActive()
	for i := range s.parts {
		if p := &s.parts[i]; p.nKept.Load() > 0 {
			s.prune(p, oldest, any, epoch)
		}
	}
}

// prune drops p's committed transactions that ended before the walk of
// oldestActive that gave oldest, any and epoch began, and that no
// transaction active then or since overlaps; it folds the older half of
// what remains past s.perPart.
func (s *SSI) prune(p *ssiPart, oldest uint64, any bool, epoch uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.committed[:0]
	for _, t := range p.committed {
		pos := t.commitPos.Load()
		if (any && pos > 2*oldest) || t.endEpoch >= epoch {
			kept = append(kept, t)
			continue
		}
		if t.wrote.Load() {
			s.dropWriter(pos/2, t)
		}
	}
	clear(p.committed[len(kept):])
	p.nKept.Add(int32(len(kept) - len(p.committed)))
	p.committed = kept
	if p.summary != nil && (!any || p.summary.commitPos.Load() <= 2*oldest) {
		p.summary, p.foldedMaxTS, p.foldedMinOut = nil, 0, 0
		p.hasSummary.Store(false)
		p.nKept.Add(-1)
		s.folded.Add(-1)
	}
	if len(p.committed) > s.perPart {
		s.fold(p, len(p.committed)/2)
	}
	p.pruneAt = min(2*len(p.committed)+64, s.perPart+1)
}

// fold merges p's n oldest committed transactions into its summary.
// Called with p.mu held.
func (s *SSI) fold(p *ssiPart, n int) {
	if p.summary == nil {
		p.summary = &SerTxn{points: make(map[string]struct{})}
		p.summary.wrote.Store(true)
		p.hasSummary.Store(true)
		p.nKept.Add(1)
		s.folded.Add(1)
	}
	sum := p.summary
	seen := make(map[[2]string]bool, len(sum.ranges))
	for _, r := range sum.ranges {
		seen[[2]string{string(r.start), string(r.end)}] = true
	}
	for _, t := range p.committed[:n] {
		t.mu.Lock()
		for _, k := range t.few {
			sum.points[string(k)] = struct{}{}
		}
		for k := range t.points {
			sum.points[k] = struct{}{}
		}
		for _, r := range t.ranges {
			if id := [2]string{string(r.start), string(r.end)}; !seen[id] {
				seen[id] = true
				sum.ranges = append(sum.ranges, r)
			}
		}
		out := t.minOut
		t.mu.Unlock()
		pos := t.commitPos.Load()
		sum.commitPos.Store(max(sum.commitPos.Load(), pos))
		if t.wrote.Load() {
			ts := pos / 2
			s.dropWriter(ts, t)
			p.foldedMaxTS = max(p.foldedMaxTS, ts)
			if out != 0 && out < ts && (p.foldedMinOut == 0 || out < p.foldedMinOut) {
				p.foldedMinOut = out
			}
		}
	}
	p.committed = append(p.committed[:0], p.committed[n:]...)
	p.nKept.Add(-int32(n))
}

// counts sums the partitions' counts of active and kept transactions;
// each count is read at its own moment.
func (s *SSI) counts() (active, kept int) {
	for i := range s.parts {
		active += int(s.parts[i].nActive.Load())
		kept += int(s.parts[i].nKept.Load())
	}
	return active, kept
}

// noneActive reports whether no partition holds an active transaction.
func (s *SSI) noneActive() bool {
	for i := range s.parts {
		if s.parts[i].nActive.Load() != 0 {
			return false
		}
	}
	return true
}

// Tracked returns how many transactions SSI holds (active and retained
// committed, each partition's summary counting as one), for stats and
// tests of the state bound. While none is active it first drops what is
// kept (ending transactions leave that to the next prune or to this).
func (s *SSI) Tracked() (active, committed int) {
	active, committed = s.counts()
	if active == 0 && committed > 0 {
		s.pruneAll()
		active, committed = s.counts()
	}
	return active, committed
}
