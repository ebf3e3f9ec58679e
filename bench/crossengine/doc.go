// Package crossengine runs what surrounds mvkv (the anomaly lessons of
// package anomalies and the history checkers of internal/elle and
// internal/linear) unchanged against the distributed stores mvkv's users
// grow into: PostgreSQL (through pgx) and an etcd cluster (through
// clientv3 and its STM).
//
// Postgres and Etcd give each of their isolation levels as an
// anomalies.Target, so that any scenario runs on them as it runs on mvkv:
//
//	go test ./bench/crossengine -v -run TestMatrix              the table, engine × level
//	go test ./bench/crossengine -v -run 'TestAnomalies/etcd'    every lesson's timeline on etcd
//	go test ./bench/crossengine -run TestMatrix -update         rewrite the README's copy
//	go test ./bench/crossengine -run TestMatrix -html DIR       every run's pictures, one page
//
// The last writes DIR/crossengine.html, package anomalies' page (WriteHTML)
// with PostgreSQL's and etcd's runs as more columns: each run's timeline,
// the dependency graph internal/elle finds in the history the run
// recorded on that engine, the verdict and what the engine does about the
// lesson. TestMatrix writes the page on every run and, where Chromium is
// installed, checks that every picture renders and every link resolves.
//
// The stores are adapted by package engine, whose adapters the benchmark
// runs too (engine.PGTable and engine.PGTx, engine.EtcdSpace and
// engine.EtcdTx): one adapter per system. How the steps map: on PostgreSQL
// a table is (k bytea PRIMARY KEY, v bytea), a read is SELECT v FROM kv
// WHERE k=$1, GetForUpdate adds FOR UPDATE, a write is an UPDATE and, when
// it found no row, an INSERT ... ON CONFLICT DO UPDATE (the UPDATE first,
// because only it conflicts with a concurrent DELETE), a scan one SELECT
// over the key range, each session a connection of its own; serialization
// failures (SQLSTATE 40001) and deadlocks (40P01) come back as
// mvcc.ErrConflict and mvcc.ErrDeadlock; a session's transaction tells the
// anomaly runner whether it waits for a lock (anomalies.LockWaiter) from
// pg_blocking_pids, so that a statement slow on a loaded machine is not
// shown blocked. On etcd a session is one attempt
// of concurrency.NewSTM at the chosen isolation (see EtcdLevels), driven
// one step at a time; a failed commit compare, which the STM would retry,
// is mvcc.ErrConflict. The STM has no range read and no locking read: a
// scan lists the keys with a plain range read and reads them through the
// STM, and GetForUpdate takes a concurrency.Mutex on the key until the
// transaction ends.
//
// The servers: the tests start a throwaway PostgreSQL cluster (package
// pgserver; it needs apt-get install postgresql, and the tests that need it
// skip without it) and a three-member etcd cluster inside the test process
// (package etcdcluster), once per test binary.
package crossengine
