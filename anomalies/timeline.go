package anomalies

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mvkv/mvkv/mvcc"
)

// Timeline renders the outcome's events as a table with one column per
// session, one row per event, in the order they happened, numbered in
// that order (Event.Seq): a step that waited shows where it started and,
// as "↳ step N resumes", where it finished. Errors are
// shown by name in the table and in full in numbered notes below it.
func Timeline(o *Outcome) string {
	col := make(map[string]int, len(o.Sessions))
	for i, s := range o.Sessions {
		col[s] = i
	}
	type row struct {
		step  string
		cells []string
	}
	var rows []row
	var notes []string
	for _, e := range o.Events {
		cells := make([]string, len(o.Sessions))
		cells[col[e.Session]] = cell(e, &notes)
		step := "end"
		if e.Kind != Cleanup {
			step = fmt.Sprint(e.Seq)
		}
		rows = append(rows, row{step, cells})
	}
	width := make([]int, len(o.Sessions))
	for i, s := range o.Sessions {
		width[i] = utf8.RuneCountInString(s)
	}
	for _, r := range rows {
		for i, c := range r.cells {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(step string, cells []string) {
		fmt.Fprintf(&b, "%4s ", step)
		for i, c := range cells {
			b.WriteString("  ")
			if i == len(cells)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(pad(c, width[i]))
			}
		}
		b.WriteString("\n")
	}
	line("step", o.Sessions)
	dashes := make([]string, len(o.Sessions))
	for i := range dashes {
		dashes[i] = strings.Repeat("-", width[i])
	}
	line("----", dashes)
	for _, r := range rows {
		line(r.step, r.cells)
	}
	for _, n := range notes {
		b.WriteString(n)
		b.WriteString("\n")
	}
	return trimLines(b.String())
}

func cell(e Event, notes *[]string) string {
	var c string
	switch e.Kind {
	case Blocked:
		return e.Op + " … blocked (waits)"
	case Skipped:
		return "(" + e.Op + ": skipped, " + e.Session + " has ended)"
	case Resumed:
		c = "↳ step " + fmt.Sprint(e.BlockedAt) + " resumes"
		if e.By != "" {
			c += " (" + e.By + " ended)"
		}
	default:
		c = e.Op
	}
	if e.Err == nil {
		return c + " → " + e.Result
	}
	*notes = append(*notes, fmt.Sprintf("[%d] %s, %s: %v", len(*notes)+1, e.Session, stepName(e), e.Err))
	return fmt.Sprintf("%s ✗ %s [%d]", c, ErrName(e.Err), len(*notes))
}

func stepName(e Event) string {
	if e.Kind == Cleanup {
		return "at the end"
	}
	return fmt.Sprintf("step %d (%s)", e.Seq, e.Op)
}

// ErrName names the sentinel error err matches ("ErrConflict"), the most
// specific first.
func ErrName(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{mvcc.ErrDeadlock, "ErrDeadlock"},
		{mvcc.ErrConflict, "ErrConflict"},
		{mvcc.ErrTxnDone, "ErrTxnDone"},
		{mvcc.ErrReadOnly, "ErrReadOnly"},
		{mvcc.ErrClosed, "ErrClosed"},
		{mvcc.ErrNotFound, "ErrNotFound"},
		{context.Canceled, "context.Canceled"},
		{context.DeadlineExceeded, "context.DeadlineExceeded"},
		{ErrBadScenario, "ErrBadScenario"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "error"
}

// State renders key=value pairs one per line.
func State(kvs []KV) string {
	if len(kvs) == 0 {
		return "  (empty)\n"
	}
	w := 0
	for _, kv := range kvs {
		w = max(w, utf8.RuneCountInString(kv.Key))
	}
	var b strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&b, "  %s = %s\n", pad(kv.Key, w), kv.Value)
	}
	return b.String()
}

func pad(s string, w int) string {
	if n := utf8.RuneCountInString(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
