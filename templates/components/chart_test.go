package components

import (
	"strings"
	"testing"
	"time"
)

func TestRunHistoryChart(t *testing.T) {
	to := time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)
	from := to.AddDate(0, 0, -30)
	t.Run("empty", func(t *testing.T) {
		out := render(t, RunHistoryChart(RunChart{From: from, To: to}))
		if !strings.Contains(out, `data-testid="run-chart-empty"`) {
			t.Errorf("no empty message in %s", out)
		}
		if strings.Contains(out, "<svg") {
			t.Error("svg drawn without data")
		}
	})
	t.Run("runs", func(t *testing.T) {
		c := RunChart{From: from, To: to, Runs: []ChartRun{
			{ID: 7, At: from, Duration: 30 * time.Second, Changes: 10, Status: "succeeded"},
			{ID: 8, At: from.AddDate(0, 0, 15), Duration: 2 * time.Minute, Changes: 40, Status: "failed"},
			{ID: 9, At: to, Duration: time.Minute, Changes: 0, Status: "succeeded"},
		}}
		out := render(t, RunHistoryChart(c))
		for _, tt := range []struct {
			testid string
			want   int
		}{
			{"run-chart-svg", 1}, {"chart-bar", 3}, {"chart-duration-point", 3}, {"chart-duration-line", 1}, {"chart-x-label", 5},
		} {
			if got := strings.Count(out, `data-testid="`+tt.testid+`"`); got != tt.want {
				t.Errorf("%s: %d, want %d", tt.testid, got, tt.want)
			}
		}
		g := c.geom()
		// The largest run fills the plot height; an empty run has no bar.
		if got, want := g.Bars[1].H, f1(chartH-chartTop-chartBottom); got != want {
			t.Errorf("tallest bar height = %s, want %s", got, want)
		}
		if got, want := g.Bars[0].H, f1(float64(chartH-chartTop-chartBottom)/4); got != want {
			t.Errorf("quarter bar height = %s, want %s", got, want)
		}
		if g.Bars[2].H != "0.0" {
			t.Errorf("no-change bar height = %s, want 0.0", g.Bars[2].H)
		}
		// Runs sit at their time: first at the left edge, last at the right, middle half-way.
		if got, want := g.Points[0].X, f1(chartLeft); got != want {
			t.Errorf("first x = %s, want %s", got, want)
		}
		if got, want := g.Points[2].X, f1(chartW-chartRight); got != want {
			t.Errorf("last x = %s, want %s", got, want)
		}
		if got, want := g.Points[1].X, f1(chartLeft+float64(chartW-chartLeft-chartRight)/2); got != want {
			t.Errorf("middle x = %s, want %s", got, want)
		}
		// The longest run's point is at the top of the plot.
		if got, want := g.Points[1].Y, f1(chartTop); got != want {
			t.Errorf("longest y = %s, want %s", got, want)
		}
		for _, want := range []string{"Run #8, 2026-05-16 12:00: 40 changes in 2m0s (failed)", `href="/runs/8"`, ">40<", ">2m<", "May 1", "May 31"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
}
