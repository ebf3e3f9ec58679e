package anomalies

import (
	"fmt"
	"strings"
)

// Timeline layout, in pixels.
const (
	tlNumW    = 44.0 // the execution-order column
	tlHeadH   = 40.0
	tlRowH    = 26.0
	tlMarkX   = 14.0 // a lane's line, from the lane's left edge
	tlLabelX  = 26.0 // a label, from the lane's left edge
	tlMinLane = 150.0
	tlLegendH = 34.0
)

// stepKind classifies a timeline row for its mark.
type stepKind uint8

const (
	markOther stepKind = iota
	markRead
	markWrite
	markCommit
	markRollback
)

func classify(op string) stepKind {
	op = strings.TrimPrefix(op, "begin; ")
	switch {
	case op == "commit":
		return markCommit
	case op == "rollback", strings.HasSuffix(op, "rollback"):
		return markRollback
	case strings.HasPrefix(op, "read "), strings.HasPrefix(op, "lock+read "),
		strings.HasPrefix(op, "scan "), strings.HasPrefix(op, "sum "):
		return markRead
	case strings.HasPrefix(op, "write "), strings.HasPrefix(op, "delete "):
		return markWrite
	}
	return markOther
}

// TimelineSVG draws the outcome's timeline: one lane per transaction, one
// row per event in execution order (numbered as Timeline numbers them),
// each step a mark on its lane labelled with what it did and got (reads
// and writes name their key and value). A step that waited is drawn where
// it started and, after a dashed gap that names whom it waited for, where
// it finished; commits are green squares, aborts red crosses, skipped
// steps grey.
func TimelineSVG(o *Outcome) string {
	labels := make([]string, len(o.Events))
	waitedFor := map[int]string{} // Seq of a Blocked row -> whom it waited for
	for i, e := range o.Events {
		labels[i] = svgLabel(e)
		if e.Kind == Resumed && e.BlockedAt > 0 {
			waitedFor[e.BlockedAt] = e.By
		}
	}
	lane := make(map[string]int, len(o.Sessions))
	laneX := make([]float64, len(o.Sessions)+1)
	laneX[0] = tlNumW
	for i, s := range o.Sessions {
		lane[s] = i
		w := max(tlMinLane, textWidth(s)+tlLabelX+16)
		for j, e := range o.Events {
			if e.Session == s {
				w = max(w, tlLabelX+textWidth(labels[j])+16)
			}
		}
		laneX[i+1] = laneX[i] + w
	}
	d := &svgDoc{w: laneX[len(o.Sessions)] + 8, h: tlHeadH + float64(len(o.Events))*tlRowH + tlLegendH}
	rowY := func(i int) float64 { return tlHeadH + float64(i)*tlRowH + tlRowH/2 }

	// Header and lane backgrounds.
	d.text(6, 24, "#", `fill="`+colMuted+`"`)
	for i, s := range o.Sessions {
		if i%2 == 1 {
			d.add(`<rect x="%.1f" y="0" width="%.1f" height="%.1f" fill="#f6f6f6"/>`,
				laneX[i], laneX[i+1]-laneX[i], tlHeadH+float64(len(o.Events))*tlRowH)
		}
		d.text(laneX[i]+tlMarkX-4, 24, s, `font-weight="bold" fill="`+colInk+`"`)
	}
	d.add(`<line x1="0" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#cccccc"/>`, tlHeadH-6, d.w, tlHeadH-6)

	// Lanes: a solid line while the transaction runs, a dashed gap while
	// one of its steps waits.
	for _, s := range o.Sessions {
		x := laneX[lane[s]] + tlMarkX
		prev := -1
		for i, e := range o.Events {
			if e.Session != s || e.Kind == Skipped {
				continue
			}
			if prev >= 0 {
				y1, y2 := rowY(prev)+6, rowY(i)-6
				if o.Events[prev].Kind == Blocked {
					d.add(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="2 4"/>`,
						x, y1, x, y2, colMuted)
					if i-prev > 1 {
						who := "waits"
						if by := waitedFor[o.Events[prev].Seq]; by != "" {
							who = "waits for " + by
						}
						d.text(x+8, (y1+y2)/2+4, who, `fill="`+colMuted+`" font-style="italic"`)
					}
				} else {
					d.add(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x, y1, x, y2, colInk)
				}
			}
			prev = i
		}
	}

	// Rows: the number, the mark, the label.
	for i, e := range o.Events {
		y := rowY(i)
		num := "end"
		if e.Kind != Cleanup {
			num = fmt.Sprint(e.Seq)
		}
		d.text(tlNumW-10, y+4, num, `text-anchor="end" fill="`+colMuted+`"`)
		x := laneX[lane[e.Session]] + tlMarkX
		fill := colInk
		switch {
		case e.Kind == Skipped || e.Kind == Cleanup && e.Err == nil:
			fill = colMuted
		case e.Err != nil:
			fill = colAbort
		}
		drawMark(d, x, y, e)
		d.text(x+tlLabelX-tlMarkX, y+4, labels[i], `fill="`+fill+`"`)
	}

	// Legend.
	ly := d.h - tlLegendH/2
	lx := 10.0
	for _, it := range []struct {
		e     Event
		label string
	}{
		{Event{Op: "read k", Kind: Done}, "read"},
		{Event{Op: "write k", Kind: Done}, "write"},
		{Event{Op: "x", Kind: Blocked}, "waits (dashed: the gap)"},
		{Event{Op: "commit", Kind: Done}, "commit"},
		{Event{Op: "x", Kind: Done, Err: errLegend}, "abort"},
	} {
		drawMark(d, lx+6, ly, it.e)
		d.text(lx+16, ly+4, it.label, `fill="`+colMuted+`"`)
		lx += 16 + textWidth(it.label) + 18
	}
	d.w = max(d.w, lx)
	return d.String("Timeline at " + o.Target)
}

// errLegend marks the legend's abort.
var errLegend = fmt.Errorf("legend")

// svgLabel is what a row says next to its mark.
func svgLabel(e Event) string {
	switch e.Kind {
	case Blocked:
		return e.Op + " … waits"
	case Skipped:
		return "(" + e.Op + ": skipped)"
	}
	c, waited := e.Op, ""
	if e.Kind == Resumed {
		c, waited = "↳ "+e.Op, " (waited)"
		if e.By != "" {
			waited = " (waited for " + e.By + ")"
		}
	}
	if e.Err != nil {
		return c + " ✗ " + ErrName(e.Err) + waited
	}
	c += " → " + e.Result
	if classify(e.Op) == markOther {
		// A step of the application's own logic: name what it wrote.
		var wrote []string
		for _, op := range e.did {
			if op.kind == opWrite {
				wrote = append(wrote, op.key+"="+op.value)
			}
		}
		if len(wrote) > 0 {
			c += " · wrote " + strings.Join(wrote, ", ")
		}
	}
	return c + waited
}

// drawMark draws a row's mark centred at (x, y).
func drawMark(d *svgDoc, x, y float64, e Event) {
	switch {
	case e.Err != nil:
		d.add(`<path d="M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f" stroke="%s" stroke-width="3"/>`,
			x-5, y-5, x+5, y+5, x-5, y+5, x+5, y-5, colAbort)
		return
	case e.Kind == Skipped:
		d.add(`<circle cx="%.1f" cy="%.1f" r="4" fill="white" stroke="%s"/>`, x, y, colMuted)
		return
	case e.Kind == Blocked:
		d.add(`<circle cx="%.1f" cy="%.1f" r="6" fill="white" stroke="%s" stroke-width="2"/>`, x, y, colMuted)
		return
	}
	kind := classify(e.Op)
	if kind == markOther {
		for _, op := range e.did {
			switch {
			case op.kind == opWrite:
				kind = markWrite
			case kind == markOther && (op.kind == opRead || op.kind == opScan):
				kind = markRead
			}
		}
	}
	switch kind {
	case markCommit:
		d.add(`<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`, x-6, y-6, colCommit)
	case markRollback:
		d.add(`<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`, x-6, y-6, colMuted)
	case markRead:
		d.add(`<circle cx="%.1f" cy="%.1f" r="6" fill="%s"/>`, x, y, colRead)
	case markWrite:
		d.add(`<circle cx="%.1f" cy="%.1f" r="6" fill="%s"/>`, x, y, colWrite)
	default:
		d.add(`<circle cx="%.1f" cy="%.1f" r="5" fill="white" stroke="%s" stroke-width="2"/>`, x, y, colInk)
	}
}
