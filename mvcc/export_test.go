package mvcc

// Check exposes check to the black-box tests, which run it at the end of
// every test through their openers (see checkAtEnd). A closed DB passes.
func Check(db *DB) error {
	if db.closed.Load() {
		return nil
	}
	return db.check()
}
