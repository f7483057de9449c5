package components

import (
	"fmt"
	"strconv"
	"time"
)

// ChartRun is one run plotted on the run-history chart.
type ChartRun struct {
	ID       int64
	At       time.Time // when it started
	Duration time.Duration
	Changes  int    // actions applied
	Status   string // run status, used as a CSS class
}

// RunChart is the data of the run-history chart: runs between From and To
// (the last 30 days on the dashboard), drawn as an SVG built on the server.
type RunChart struct {
	From, To time.Time
	Runs     []ChartRun
	Loc      *time.Location // axis labels; nil = UTC
}

// Chart geometry, in SVG user units.
const (
	chartW      = 720
	chartH      = 220
	chartLeft   = 48
	chartRight  = 56
	chartTop    = 16
	chartBottom = 32
	chartBarW   = 6
)

type chartBar struct {
	X, Y, W, H string
	Title      string
	Class      string
	ID         int64
}

type chartPoint struct{ X, Y string }

type chartLabel struct {
	X, Y, Text, Anchor string
}

// chartGeom is RunChart turned into drawing coordinates.
type chartGeom struct {
	Bars       []chartBar
	Points     []chartPoint
	Line       string // polyline points of the duration series
	XLabels    []chartLabel
	YLabels    []chartLabel // changes (left) and duration (right)
	PlotX0     string
	PlotX1     string
	PlotY0     string // top
	PlotY1     string // bottom (baseline)
	ViewBox    string
	MaxChanges int
	MaxDur     time.Duration
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (c RunChart) geom() chartGeom {
	loc := c.Loc
	if loc == nil {
		loc = time.UTC
	}
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	base := float64(chartH - chartBottom)
	g := chartGeom{
		PlotX0: f1(chartLeft), PlotX1: f1(chartW - chartRight),
		PlotY0: f1(chartTop), PlotY1: f1(base),
		ViewBox: fmt.Sprintf("0 0 %d %d", chartW, chartH),
	}
	span := c.To.Sub(c.From)
	if span <= 0 {
		span = time.Hour
	}
	for _, r := range c.Runs {
		if r.Changes > g.MaxChanges {
			g.MaxChanges = r.Changes
		}
		if r.Duration > g.MaxDur {
			g.MaxDur = r.Duration
		}
	}
	maxC := float64(max(g.MaxChanges, 1))
	maxD := float64(max(g.MaxDur, time.Second))
	x := func(t time.Time) float64 {
		f := float64(t.Sub(c.From)) / float64(span)
		f = min(max(f, 0), 1)
		return chartLeft + f*plotW
	}
	for _, r := range c.Runs {
		cx := x(r.At)
		h := float64(r.Changes) / maxC * plotH
		g.Bars = append(g.Bars, chartBar{
			X: f1(cx - chartBarW/2), Y: f1(base - h), W: f1(chartBarW), H: f1(h),
			Title: fmt.Sprintf("Run #%d, %s: %d changes in %s (%s)", r.ID, r.At.In(loc).Format("2006-01-02 15:04"),
				r.Changes, r.Duration.Round(time.Second), r.Status),
			Class: "bar " + r.Status, ID: r.ID,
		})
		py := base - float64(r.Duration)/maxD*plotH
		p := chartPoint{X: f1(cx), Y: f1(py)}
		g.Points = append(g.Points, p)
		if g.Line != "" {
			g.Line += " "
		}
		g.Line += p.X + "," + p.Y
	}
	// Five date labels along the x axis.
	for i := 0; i <= 4; i++ {
		t := c.From.Add(time.Duration(float64(span) * float64(i) / 4))
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		} else if i == 4 {
			anchor = "end"
		}
		g.XLabels = append(g.XLabels, chartLabel{X: f1(x(t)), Y: f1(base + 20), Text: t.In(loc).Format("Jan 2"), Anchor: anchor})
	}
	g.YLabels = []chartLabel{
		{X: f1(chartLeft - 6), Y: f1(chartTop + 4), Text: strconv.Itoa(g.MaxChanges), Anchor: "end"},
		{X: f1(chartLeft - 6), Y: f1(base), Text: "0", Anchor: "end"},
		{X: f1(chartW - chartRight + 6), Y: f1(chartTop + 4), Text: shortDur(g.MaxDur), Anchor: "start"},
		{X: f1(chartW - chartRight + 6), Y: f1(base), Text: "0s", Anchor: "start"},
	}
	return g
}

// shortDur renders d compactly for an axis: 45s, 12m, 3h.
func shortDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Round(time.Minute)/time.Minute)) + "m"
	default:
		return strconv.Itoa(int(d.Round(time.Hour)/time.Hour)) + "h"
	}
}
