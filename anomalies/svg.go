package anomalies

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"
)

// The pictures are plain SVG written with the standard library: a few
// lines, circles and paths, positioned by arithmetic on a fixed grid, with
// text in a monospace font so that a label's width is known from its
// length. A plotting library would bring nothing here (there are no axes
// or scales to compute) and would add a dependency to the engine's
// module, whose packages import only the standard library, bbolt and btree.
// The output is deterministic: the same outcome gives the same bytes,
// which is what lets the README's copies be checked against the code.

const (
	fontSize = 12
	charW    = 7.3 // advance of one character of the monospace font at fontSize
	svgFont  = `font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="12"`
)

// Colours of the pictures.
const (
	colRead   = "#1f77b4"
	colWrite  = "#e67e22"
	colCommit = "#2e8b57"
	colAbort  = "#c0392b"
	colMuted  = "#999999"
	colInk    = "#222222"
	colCycle  = "#d62728"
)

// svgDoc collects the elements of one picture.
type svgDoc struct {
	b    strings.Builder
	w, h float64
}

func (d *svgDoc) add(format string, args ...any) {
	fmt.Fprintf(&d.b, format, args...)
	d.b.WriteByte('\n')
}

// text writes s at (x, y) (y is the baseline) with extra attributes.
func (d *svgDoc) text(x, y float64, s, attrs string) {
	d.add(`<text x="%.1f" y="%.1f" %s>%s</text>`, x, y, attrs, esc(s))
}

// String is the finished picture. title is what a browser shows and a
// screen reader says.
func (d *svgDoc) String(title string) string {
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" class="picture" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" %s>
<title>%s</title>
<rect width="100%%" height="100%%" fill="white"/>
%s</svg>
`, d.w, d.h, d.w, d.h, svgFont, esc(title), d.b.String())
}

func esc(s string) string { return html.EscapeString(s) }

// textWidth is the width of s in the pictures' font.
func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * charW }

// wrapWords breaks s into lines of at most width characters.
func wrapWords(s string, width int) []string {
	return strings.Split(wrap(s, width), "\n")
}
