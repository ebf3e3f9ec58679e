package mvcc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mvkv/mvkv/mvcc"
)

// Publishing a DB's Stats with expvar: they are served, with the Go
// runtime's, as JSON at /debug/vars by any HTTP server that uses
// http.DefaultServeMux, and read back here with expvar.Get.
func ExampleDB_StatsVar() {
	db, cleanup := exampleDB()
	defer cleanup()
	expvar.Publish("mvkv-example", db.StatsVar())

	_ = db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("k"), []byte("v"))
	})
	var m map[string]any
	_ = json.Unmarshal([]byte(expvar.Get("mvkv-example").String()), &m)
	fmt.Println("commits:", m["mvkv_commits_total"], "keys:", m["mvkv_keys"])
	// Output: commits: 1 keys: 1
}

// Stats in Prometheus's text format, e.g. from an HTTP handler.
func ExampleStats_WritePrometheus() {
	db, cleanup := exampleDB()
	defer cleanup()
	_ = db.Update(context.Background(), mvcc.Snapshot, func(tx *mvcc.Txn) error {
		return tx.Put([]byte("k"), []byte("v"))
	})
	var buf bytes.Buffer
	_ = db.Stats().WritePrometheus(&buf)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "mvkv_commits_total") || strings.Contains(sc.Text(), "mvkv_keys ") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// # TYPE mvkv_commits_total counter
	// mvkv_commits_total 1
	// # TYPE mvkv_keys gauge
	// mvkv_keys 1
}

// Every field of Stats is exported under its snake-case name, with the
// unit and counter suffixes.
func TestStatsMetricsNames(t *testing.T) {
	db := openTestDB(t)
	put(t, db, "a", "1")
	m := db.Stats().Metrics()
	for _, name := range []string{"mvkv_versions", "mvkv_keys", "mvkv_mem_versions", "mvkv_active_txns",
		"mvkv_oldest_txn_age_seconds", "mvkv_last_commit_ts", "mvkv_commits_total", "mvkv_conflicts_total",
		"mvkv_ssi_active", "mvkv_ssi_retained", "mvkv_commit_batches_total", "mvkv_horizon_age_seconds",
		"mvkv_versions_vacuumed_total", "mvkv_auto_vacuums_total", "mvkv_locks_held"} {
		require.Contains(t, m, name)
	}
	require.Equal(t, float64(1), m["mvkv_keys"])
	require.Len(t, m, reflect.TypeFor[mvcc.Stats]().NumField())
	var js map[string]any
	require.NoError(t, json.Unmarshal([]byte(db.StatsVar().String()), &js))
	require.Len(t, js, len(m))
}
