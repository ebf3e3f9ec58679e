package anomalies

import (
	_ "embed"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed page.html.tmpl
var pageTemplate string

var pageTmpl = template.Must(template.New("page").Parse(pageTemplate))

// PageOptions shape the HTML page of WriteHTML.
type PageOptions struct {
	// Title heads the page. Default "Anomalies, level by level".
	Title string
	// Intro is a paragraph above the table.
	Intro string
	// Note, if set, returns what to add to a result's verdict (what an
	// engine other than mvkv does about the lesson); "" for nothing.
	Note func(*Result) string
}

// WriteHTML writes one self-contained HTML page (no file besides it, no
// script or style from elsewhere) for results: the table anomaly × target
// (Matrix's), each cell linking to its run, and for each lesson its story,
// then for each target its timeline and dependency graph as inline SVG
// (TimelineSVG, GraphSVG), the data left behind, the verdict, and, once,
// the explanation. Rows and columns come in the order first seen.
func WriteHTML(w io.Writer, results []*Result, opts PageOptions) error {
	if opts.Title == "" {
		opts.Title = "Anomalies, level by level"
	}
	type cell struct {
		ID, Target, Text, Class, State, Verdict, Note, TimelineText string
		Timeline, Graph                                             template.HTML
	}
	type row struct {
		ID, Title, Test, Story, Lesson string
		Fix                            bool
		Cells                          []cell
		byTarget                       map[string]*Result
	}
	var rows []*row
	var columns []string
	byAnomaly := map[*Anomaly]*row{}
	for _, r := range results {
		rw := byAnomaly[r.Anomaly]
		if rw == nil {
			a := r.Anomaly
			rw = &row{ID: a.Test, Title: a.Title(), Test: a.Test, Story: a.Story, Lesson: a.Lesson,
				Fix: a.Fix, byTarget: map[string]*Result{}}
			byAnomaly[a] = rw
			rows = append(rows, rw)
		}
		if !slices.Contains(columns, r.Outcome.Target) {
			columns = append(columns, r.Outcome.Target)
		}
		rw.byTarget[r.Outcome.Target] = r
	}
	for _, rw := range rows {
		for _, col := range columns {
			r := rw.byTarget[col]
			if r == nil {
				rw.Cells = append(rw.Cells, cell{Target: col})
				continue
			}
			c := cell{
				ID:           anchor(rw.Test + "--" + col),
				Target:       col,
				Text:         strings.ReplaceAll(r.Cell(), "**", ""),
				Class:        "prevented",
				State:        strings.TrimRight(State(r.Outcome.Final), "\n"),
				Verdict:      r.Verdict(),
				TimelineText: Timeline(r.Outcome),
				Timeline:     template.HTML(TimelineSVG(r.Outcome)), //nolint:gosec // generated here, text escaped
				Graph:        template.HTML(GraphSVG(r.Outcome)),    //nolint:gosec // generated here, text escaped
			}
			if r.Happened {
				c.Class = "possible"
			}
			if opts.Note != nil {
				c.Note = opts.Note(r)
			}
			rw.Cells = append(rw.Cells, c)
		}
	}
	return pageTmpl.Execute(w, struct {
		Title, Intro string
		Columns      []string
		Rows         []*row
	}{opts.Title, opts.Intro, columns, rows})
}

// WriteHTMLFile writes WriteHTML's page as dir/name (creating dir) and
// returns its path.
func WriteHTMLFile(dir, name string, results []*Result, opts PageOptions) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := WriteHTML(f, results, opts); err != nil {
		f.Close() //nolint:errcheck // the write already failed
		return "", err
	}
	return path, f.Close()
}

// anchor makes s usable as an HTML id and URL fragment: letters, digits
// and dashes.
func anchor(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
