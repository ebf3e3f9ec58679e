package report

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mvkv/mvkv/bench/workload"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"rate":      humanRate,
	"dur":       func(v float64) string { return humanDur(nanos(v)) },
	"rangeCell": rangeCell,
	"durRange": func(s Spread) string {
		return humanDur(nanos(s.Min)) + "–" + humanDur(nanos(s.Max))
	},
	"aborts":    abortCell,
	"versions":  versionsCell,
	"invariant": invariantCell,
	"state": func(inv workload.Invariant) string {
		return [...]string{"holds", "allowed", "broken"}[stateOf(inv)]
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("2006-01-02 15:04:05 MST")
	},
	"sortedKeys": func(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) },
}).Parse(reportTemplate))

// htmlGroup is one group's rows in the page.
type htmlGroup struct {
	Name string
	Rows []Summary
}

// htmlChart is a chart inlined as an SVG data URL, so the page needs no
// other file.
type htmlChart struct {
	Name, Title string
	URL         template.URL
}

// WriteHTML writes dir/index.html (dir is created if needed): one
// self-contained page with the report's context and settings, its notes
// and warnings, a table per group and every chart, inlined. It returns
// the page's path.
func WriteHTML(dir string, rep Report) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	charts, err := Charts(rep)
	if err != nil {
		return "", err
	}
	data := struct {
		Report
		Context string
		Notes   []string
		Groups  []htmlGroup
		Charts  []htmlChart
	}{Report: rep, Context: contextLine(rep.Meta, rep), Notes: notes(rep)}
	for _, s := range rep.Summaries {
		if s.Skipped != "" {
			continue
		}
		if n := len(data.Groups); n == 0 || data.Groups[n-1].Name != s.Group() {
			data.Groups = append(data.Groups, htmlGroup{Name: s.Group()})
		}
		g := &data.Groups[len(data.Groups)-1]
		g.Rows = append(g.Rows, s)
	}
	for _, c := range charts {
		var buf bytes.Buffer
		if err := c.Render(&buf, "svg"); err != nil {
			return "", err
		}
		url := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
		data.Charts = append(data.Charts, htmlChart{Name: c.Name, Title: c.Title, URL: template.URL(url)})
	}
	var page bytes.Buffer
	if err := reportPage.Execute(&page, data); err != nil {
		return "", fmt.Errorf("bench: report page: %w", err)
	}
	path := filepath.Join(dir, "index.html")
	return path, os.WriteFile(path, page.Bytes(), 0o644)
}
