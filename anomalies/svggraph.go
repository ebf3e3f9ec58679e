package anomalies

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Graph layout, in pixels.
const (
	grW      = 660.0
	grNodeR  = 24.0
	grSpread = 84.0 // between the control points of parallel edges
	grLineH  = 17.0
)

type point struct{ x, y float64 }

func (p point) add(q point) point                { return point{p.x + q.x, p.y + q.y} }
func (p point) sub(q point) point                { return point{p.x - q.x, p.y - q.y} }
func (p point) scale(f float64) point            { return point{p.x * f, p.y * f} }
func (p point) unit() point                      { return p.scale(1 / math.Max(math.Hypot(p.x, p.y), 1e-9)) }
func (p point) towards(q point, d float64) point { return p.add(q.sub(p).unit().scale(d)) }

// SVG draws the graph: the committed transactions as circles, every
// dependency as an arrow labelled with its kind and key (ww and wr solid,
// rw dashed), the cycle, if there is one, in red and thick, and below, in
// words, what the graph shows: the cycle and its kind, or the serial
// order the history is equivalent to.
func (g *Graph) SVG(title string) string {
	n := len(g.Nodes)
	pos := make(map[string]point, n)
	grAreaH := 270.0
	if n <= 2 {
		grAreaH = 170
	}
	c := point{grW / 2, grAreaH/2 + 8}
	switch n {
	case 1:
		pos[g.Nodes[0]] = c
	case 2:
		pos[g.Nodes[0]], pos[g.Nodes[1]] = point{c.x - 160, c.y}, point{c.x + 160, c.y}
	default:
		for i, s := range g.Nodes {
			a := math.Pi + 2*math.Pi*float64(i)/float64(n)
			pos[s] = point{c.x + 40 + 170*math.Cos(a), c.y + 100*math.Sin(a)}
		}
	}
	inCycle := make(map[Dependency]bool, len(g.Cycle))
	onCycle := map[string]bool{}
	for _, d := range g.Cycle {
		inCycle[d] = true
		onCycle[d.From], onCycle[d.To] = true, true
	}

	notes := wrapWords(g.Summary(), 72)
	summaryLines := len(notes)
	if len(g.Aborted) > 0 {
		notes = append(notes, "Not in the graph (did not commit): "+strings.Join(g.Aborted, ", ")+".")
	}
	if len(g.Findings) > 0 {
		notes = append(notes, wrapWords("The checker also reports: "+strings.Join(g.Findings, "; ")+".", 72)...)
	}
	d := &svgDoc{w: grW, h: grAreaH + 34 + float64(len(notes))*grLineH + 8}

	// Edges, grouped by the pair they join so that parallel ones bend
	// apart: the k-th of a pair's edges gets its own control point.
	groups := map[[2]string][]Dependency{}
	var pairs [][2]string
	for _, e := range g.Edges {
		k := [2]string{min(e.From, e.To), max(e.From, e.To)}
		if groups[k] == nil {
			pairs = append(pairs, k)
		}
		groups[k] = append(groups[k], e)
	}
	type label struct {
		at     point
		text   string
		col    string
		anchor string // text-anchor: middle, or start/end beside a steep edge
	}
	var labels []label
	for _, k := range pairs {
		es := groups[k]
		slices.SortFunc(es, func(a, b Dependency) int {
			return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
		})
		a, b := pos[k[0]], pos[k[1]]
		dir := b.sub(a).unit()
		normal := point{-dir.y, dir.x}
		for i, e := range es {
			off := (float64(i) - float64(len(es)-1)/2) * grSpread
			if len(es) == 1 {
				off = 0
			}
			p0, p2 := pos[e.From], pos[e.To]
			ctrl := a.add(b).scale(0.5).add(normal.scale(off))
			start := p0.towards(ctrl, grNodeR)
			end := p2.towards(ctrl, grNodeR+3)
			col, width := colInk, 1.5
			if e.Kind == "wr" {
				col = colRead
			}
			if inCycle[e] {
				col, width = colCycle, 3
			}
			dash := ""
			if e.Kind == "rw" {
				dash = ` stroke-dasharray="7 5"`
			}
			d.add(`<path d="M%.1f %.1fQ%.1f %.1f %.1f %.1f" fill="none" stroke="%s" stroke-width="%.1f"%s/>`,
				start.x, start.y, ctrl.x, ctrl.y, end.x, end.y, col, width, dash)
			// The arrowhead, along the curve's direction at its end.
			tip := end
			back := end.sub(ctrl).unit()
			side := point{-back.y, back.x}
			base := tip.sub(back.scale(11))
			l, r := base.add(side.scale(5)), base.sub(side.scale(5))
			d.add(`<path d="M%.1f %.1fL%.1f %.1fL%.1f %.1fZ" fill="%s"/>`, tip.x, tip.y, l.x, l.y, r.x, r.y, col)
			mid := start.scale(0.25).add(ctrl.scale(0.5)).add(end.scale(0.25))
			lb := label{mid, e.Kind + "(" + e.Key + ")", col, "middle"}
			if math.Abs(dir.y) > math.Abs(dir.x) {
				// Side by side, labels centred on steep edges would cover
				// each other: put each beside its edge, on its outer side.
				out := normal
				if off < 0 || off == 0 && normal.x < 0 {
					out = normal.scale(-1)
				}
				lb.at = mid.add(out.scale(8))
				lb.anchor = "start"
				if out.x < 0 {
					lb.anchor = "end"
				}
			}
			labels = append(labels, lb)
		}
	}
	// Labels over the edges, on a white ground.
	for _, l := range labels {
		w := textWidth(l.text) + 6
		x := l.at.x - w/2
		switch l.anchor {
		case "start":
			x = l.at.x - 3
		case "end":
			x = l.at.x - w + 3
		}
		d.add(`<rect x="%.1f" y="%.1f" width="%.1f" height="16" rx="3" fill="white" fill-opacity="0.9"/>`, x, l.at.y-11, w)
		d.text(l.at.x, l.at.y+1, l.text, `text-anchor="`+l.anchor+`" fill="`+l.col+`"`)
	}
	for _, s := range g.Nodes {
		p := pos[s]
		col, width := colInk, 2.0
		if onCycle[s] {
			col, width = colCycle, 3
		}
		d.add(`<circle cx="%.1f" cy="%.1f" r="%.0f" fill="white" stroke="%s" stroke-width="%.1f"/>`, p.x, p.y, grNodeR, col, width)
		d.text(p.x, p.y+4, s, `text-anchor="middle" font-weight="bold" fill="`+colInk+`"`)
	}
	if n == 0 {
		d.text(c.x, c.y, "(no committed transaction)", `text-anchor="middle" fill="`+colMuted+`"`)
	}

	// Legend, then the notes.
	ly := grAreaH + 14
	lx := 10.0
	d.text(lx, ly, "A→B:", `fill="`+colMuted+`"`)
	lx += textWidth("A→B:") + 10
	for _, it := range []struct{ label, col, dash string }{
		{"ww B overwrote A", colInk, ""},
		{"wr B read A", colRead, ""},
		{"rw B overwrote what A read", colInk, ` stroke-dasharray="7 5"`},
		{"cycle", colCycle, ""},
	} {
		d.add(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, lx, ly-4, lx+24, ly-4, it.col, it.dash)
		d.text(lx+30, ly, it.label, `fill="`+colMuted+`"`)
		lx += 30 + textWidth(it.label) + 16
	}
	for i, line := range notes {
		col := colInk
		if g.Cycle != nil && i < summaryLines {
			col = colCycle
		}
		d.text(10, grAreaH+34+float64(i)*grLineH+10, line, `fill="`+col+`"`)
	}
	d.w = max(d.w, lx)
	return d.String(title)
}

// GraphSVG draws the dependency graph of the outcome's committed
// transactions (Graph.SVG).
func GraphSVG(o *Outcome) string {
	return o.Dependencies().SVG(fmt.Sprintf("Dependency graph at %s", o.Target))
}
