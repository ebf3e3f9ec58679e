package mvcc

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Exporting Stats.
//
// Stats is a plain struct; these helpers turn it into the flat name ->
// number form that monitoring systems take, without importing any of them
// (nor expvar, whose import registers an HTTP handler in every program
// that links it). Every field of Stats is exported, by reflection, so a
// field added to Stats is exported without a change here. The naming
// rules are in Metrics' doc comment, where go doc shows them; a counter
// added to Stats belongs in countersTotal and in that list.

// countersTotal lists the fields of Stats that only grow: Prometheus
// counters.
var countersTotal = map[string]bool{
	"Commits": true, "Conflicts": true, "Rollbacks": true, "CommitBatches": true, "Deadlocks": true,
	"Vacuums": true, "AutoVacuums": true, "VersionsVacuumed": true,
}

// statField is one field of Stats in exported form.
type statField struct {
	name    string
	value   float64
	counter bool
	text    string // an error's text, "" when none
	isText  bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
	errorType    = reflect.TypeFor[error]()
)

// fields returns s's fields in exported form, in declaration order.
func (s Stats) fields() []statField {
	v := reflect.ValueOf(s)
	t := v.Type()
	out := make([]statField, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		f := statField{name: "mvkv_" + snake(sf.Name), counter: countersTotal[sf.Name]}
		fv := v.Field(i)
		switch {
		case sf.Type == durationType:
			f.name += "_seconds"
			f.value = time.Duration(fv.Int()).Seconds()
		case sf.Type == timeType:
			f.name += "_unix_seconds"
			if tm := fv.Interface().(time.Time); !tm.IsZero() {
				f.value = float64(tm.UnixNano()) / 1e9
			}
		case sf.Type == errorType:
			if !fv.IsNil() {
				f.value, f.text = 1, fv.Interface().(error).Error()
			}
			f.isText = true
		case fv.CanInt():
			f.value = float64(fv.Int())
		case fv.CanUint():
			f.value = float64(fv.Uint())
		case fv.CanFloat():
			f.value = fv.Float()
		case fv.Kind() == reflect.Bool:
			if fv.Bool() {
				f.value = 1
			}
		default:
			continue // nothing numeric to say
		}
		if f.counter {
			f.name += "_total"
		}
		out = append(out, f)
	}
	return out
}

// snake turns a Go field name into snake case: "SSIActive" -> "ssi_active",
// "LastCommitTS" -> "last_commit_ts".
func snake(name string) string {
	var b strings.Builder
	r := []rune(name)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// Metrics returns s as metric name -> value: what an exporter for
// Prometheus, OpenTelemetry or statsd needs. Every exported field of
// Stats is there, named by these rules:
//
//   - the name is "mvkv_" and the field's name in snake case
//     (SSIActive: "mvkv_ssi_active");
//   - a counter, a field that only grows (Commits, Conflicts, Rollbacks,
//     CommitBatches, Vacuums, AutoVacuums, VersionsVacuumed), ends in
//     "_total";
//   - a time.Duration is in seconds, "_seconds";
//   - a time.Time is in Unix seconds, "_unix_seconds", 0 when zero;
//   - an error is 1 when set and 0 when nil (its text is in StatsVar);
//   - a bool is 1 or 0.
func (s Stats) Metrics() map[string]float64 {
	fs := s.fields()
	m := make(map[string]float64, len(fs))
	for _, f := range fs {
		m[f.name] = f.value
	}
	return m
}

// WritePrometheus writes s in Prometheus's text exposition format, one
// metric per line sorted by name, each with its TYPE (counter or gauge):
// serve it from an HTTP handler, or hand Metrics to a client library.
func (s Stats) WritePrometheus(w io.Writer) error {
	fs := s.fields()
	slices.SortFunc(fs, func(a, b statField) int { return strings.Compare(a.name, b.name) })
	var b []byte
	for _, f := range fs {
		kind := "gauge"
		if f.counter {
			kind = "counter"
		}
		b = fmt.Appendf(b, "# TYPE %s %s\n%s %s\n", f.name, kind, f.name, strconv.FormatFloat(f.value, 'g', -1, 64))
	}
	_, err := w.Write(b)
	return err
}

// StatsVar reports a DB's Stats as a JSON object each time it is read. It
// satisfies expvar.Var:
//
//	expvar.Publish("mvkv", db.StatsVar())
//
// The object holds Metrics' names and values, and for an error field its
// text (null when nil) under its name.
type StatsVar struct{ db *DB }

// StatsVar returns the expvar.Var of db's Stats.
func (db *DB) StatsVar() StatsVar { return StatsVar{db} }

// String returns the current Stats as JSON.
func (v StatsVar) String() string {
	fs := v.db.Stats().fields()
	m := make(map[string]any, len(fs))
	for _, f := range fs {
		switch {
		case f.isText && f.text == "":
			m[f.name] = nil
		case f.isText:
			m[f.name] = f.text
		default:
			m[f.name] = f.value
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}
