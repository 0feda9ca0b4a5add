package main

import (
	"math"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func TestZoomAxis(t *testing.T) {
	for _, c := range []struct {
		lo, hi               float64
		min, max, step       float64
		minLabels, maxLabels int
	}{
		{4.3, 89.6, 0, 100, 10, 6, 11},       // a transfer from the initialisation: the full range
		{86.3, 92.3, 86, 93, 1, 6, 11},       // fine-tuned curves a few points apart
		{86.25, 86.33, 86, 86.6, 0.1, 6, 11}, // GMT and FGMT 0.08 apart
		{61.2, 61.2, 60.9, 61.5, 0.1, 6, 11}, // one value
		{-3, 40, -10, 45, 5, 6, 12},          // data below 0 keep their margin
	} {
		min, max, step := zoomAxis(c.lo, c.hi)
		if math.Abs(min-c.min) > 1e-9 || math.Abs(max-c.max) > 1e-9 || math.Abs(step-c.step) > 1e-12 {
			t.Errorf("zoomAxis(%g, %g) = %g, %g, %g; want %g, %g, %g", c.lo, c.hi, min, max, step, c.min, c.max, c.step)
		}
		if min > c.lo || max < c.hi {
			t.Errorf("zoomAxis(%g, %g) = [%g, %g] cuts the data", c.lo, c.hi, min, max)
		}
		n := 0
		for _, tk := range (stepTicks{Step: step}).Ticks(min, max) {
			if tk.Label != "" {
				n++
			}
		}
		if n < c.minLabels || n > c.maxLabels {
			t.Errorf("zoomAxis(%g, %g): %d labelled ticks, want %d…%d", c.lo, c.hi, n, c.minLabels, c.maxLabels)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for x, want := range map[float64]float64{0.07: 0.1, 0.1: 0.1, 0.11: 0.2, 0.21: 0.25, 0.3: 0.5, 0.6: 1, 8.6: 10, 12.5: 20, 0: 1} {
		if got := niceStep(x); math.Abs(got-want) > 1e-12 {
			t.Errorf("niceStep(%g) = %g, want %g", x, got, want)
		}
	}
}

func TestStepTicksLabels(t *testing.T) {
	var labels []string
	for _, tk := range (stepTicks{Step: 0.25}).Ticks(-0.5, 0.5) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := []string{"-0.50", "-0.25", "0.00", "0.25", "0.50"}
	if len(labels) != len(want) {
		t.Fatalf("labels %q, want %q", labels, want)
	}
	for i := range want {
		if labels[i] != want[i] {
			t.Errorf("label %d: %q, want %q", i, labels[i], want[i])
		}
	}
	ticks := (stepTicks{Step: 10}).Ticks(0, 100)
	if len(ticks) != 51 || ticks[0].Label != "0" || ticks[50].Label != "100" || ticks[1].Label != "" {
		t.Errorf("step 10 over 0…100: %d ticks, first %+v, last %+v", len(ticks), ticks[0], ticks[len(ticks)-1])
	}
}

// The automatic legend takes a corner no curve enters, and goes outside
// the plot when the curves take every corner.
func TestAutoLegend(t *testing.T) {
	newPlot := func(curves ...plotter.XYs) (*plot.Plot, draw.Canvas) {
		p := plot.New()
		for _, c := range curves {
			l, err := plotter.NewLine(c)
			if err != nil {
				t.Fatal(err)
			}
			p.Add(l)
		}
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 10, 0, 100
		return p, draw.New(vgimg.New(7*vg.Inch, 4.5*vg.Inch))
	}
	size := vg.Point{X: vg.Inch, Y: vg.Inch / 2}
	pad := vg.Points(6)
	rising := plotter.XYs{{X: 0, Y: 5}, {X: 10, Y: 95}}
	for _, c := range []struct {
		name   string
		curves []plotter.XYs
		want   string
	}{
		{"rising", []plotter.XYs{rising}, "top-left"},
		{"falling", []plotter.XYs{{{X: 0, Y: 95}, {X: 10, Y: 5}}}, "top-right"},
		{"along the top and the right", []plotter.XYs{{{X: 0, Y: 95}, {X: 10, Y: 95}}, {{X: 9.5, Y: 0}, {X: 9.5, Y: 100}}}, "bottom-left"},
		{"flat in the middle", []plotter.XYs{{{X: 0, Y: 50}, {X: 10, Y: 50}}}, "top-left"},
		{"every corner", []plotter.XYs{{{X: 0, Y: 99}, {X: 10, Y: 99}}, {{X: 0, Y: 1}, {X: 10, Y: 1}}}, "middle-right"},
		{"every corner, and the middle on the right", []plotter.XYs{{{X: 0, Y: 99}, {X: 10, Y: 99}}, {{X: 0, Y: 1}, {X: 10, Y: 1}}, {{X: 9.5, Y: 0}, {X: 9.5, Y: 100}}}, "middle-left"},
		{"every corner and the middle", []plotter.XYs{{{X: 0, Y: 99}, {X: 10, Y: 99}}, {{X: 0, Y: 1}, {X: 10, Y: 1}}, {{X: 0, Y: 50}, {X: 10, Y: 50}}}, legendOutside},
	} {
		p, dc := newPlot(c.curves...)
		if got := autoLegend(p, dc, size, pad, c.curves); got != c.want {
			t.Errorf("%s: legend %s, want %s", c.name, got, c.want)
		}
	}
	p, dc := newPlot(rising)
	if got := autoLegend(p, dc, vg.Point{X: 4 * vg.Inch, Y: vg.Inch / 2}, pad, []plotter.XYs{rising}); got != legendOutside {
		t.Errorf("a legend wider than half the figure: %s, want outside", got)
	}
}
