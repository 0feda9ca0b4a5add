package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotPalette is a colour-blind-safe palette (Okabe–Ito).
var plotPalette = []color.Color{
	color.RGBA{0, 114, 178, 255},
	color.RGBA{213, 94, 0, 255},
	color.RGBA{0, 158, 115, 255},
	color.RGBA{204, 121, 167, 255},
	color.RGBA{230, 159, 0, 255},
	color.RGBA{86, 180, 233, 255},
	color.RGBA{0, 0, 0, 255},
}

// plotGlyphs and plotDashes tell series apart where they overlap (GMT
// and FGMT often do) and in grey print: series i has glyph i and every
// other series a dashed line, drawn over the solid one before it.
var (
	plotGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{},
		draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}}
	plotDashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, nil, {vg.Points(2), vg.Points(2)}}
)

// styleSeries gives series i its colour, line and glyph.
func styleSeries(i int, l *plotter.Line, sc *plotter.Scatter) {
	col := plotPalette[i%len(plotPalette)]
	l.Color, sc.Color = col, col
	l.Width = vg.Points(1.5)
	l.Dashes = plotDashes[i%len(plotDashes)]
	sc.Shape = plotGlyphs[i%len(plotGlyphs)]
	sc.Radius = vg.Points(3)
}

// zoomAxis is the range of an accuracy axis (percent) that shows lo…hi
// with a margin, and the step of its labelled ticks: 1, 2, 2.5 or 5 times
// a power of ten, 6 to 11 of them, so curves a few tenths apart read
// apart. The range stays within [0, 100] unless the data leave it.
func zoomAxis(lo, hi float64) (min, max, step float64) {
	if !(lo <= hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return 0, 100, 10
	}
	if span := hi - lo; span < 0.5 {
		mid := (lo + hi) / 2
		lo, hi = mid-0.25, mid+0.25
	}
	pad := 0.05 * (hi - lo)
	min, max = lo-pad, hi+pad
	if lo >= 0 && min < 0 {
		min = 0
	}
	if hi <= 100 && max > 100 {
		max = 100
	}
	step = niceStep((max - min) / 10)
	min = math.Floor(min/step+1e-9)*step + 0 // + 0: no −0
	max = math.Ceil(max/step-1e-9) * step
	return min, max, step
}

// niceStep is the smallest of 1, 2, 2.5, 5 × 10^k at least x.
func niceStep(x float64) float64 {
	if !(x > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// stepTicks labels every multiple of Step and marks a minor tick at every
// fifth of it; the labels carry as many decimals as Step needs.
type stepTicks struct{ Step float64 }

func (t stepTicks) Ticks(min, max float64) []plot.Tick {
	if !(t.Step > 0) || !(max > min) || (max-min)/t.Step > 1000 {
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	prec := 0
	for s := t.Step; prec < 6 && math.Abs(s-math.Round(s)) > 1e-9*t.Step; s *= 10 {
		prec++
	}
	minor := t.Step / 5
	var ticks []plot.Tick
	first := math.Ceil(min/minor - 1e-9)
	for k := first; k*minor <= max+1e-9*minor; k++ {
		v := k * minor
		tk := plot.Tick{Value: v}
		if r := v / t.Step; math.Abs(r-math.Round(r)) < 1e-6 {
			tk.Label = strconv.FormatFloat(math.Round(r)*t.Step+0, 'f', prec, 64)
		}
		ticks = append(ticks, tk)
	}
	return ticks
}

// trainingStepTicks labels the steps a training curve was recorded at on
// a log axis, step 0 (drawn at ZeroAt) as 0; 1…9 × 10^k are minor ticks.
type trainingStepTicks struct {
	Steps  []float64 // recorded steps, 0 included
	ZeroAt float64
}

func (t trainingStepTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	labelled := map[float64]bool{}
	for _, s := range t.Steps {
		v, label := s, strconv.FormatFloat(s, 'f', -1, 64)
		if s <= 0 {
			v, label = t.ZeroAt, "0"
		}
		if labelled[v] {
			continue
		}
		labelled[v] = true
		if v >= min && v <= max {
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	for p := math.Pow(10, math.Floor(math.Log10(min))); p <= max; p *= 10 {
		for m := 1.0; m < 10; m++ {
			if v := m * p; v >= min && v <= max && !labelled[v] {
				ticks = append(ticks, plot.Tick{Value: v})
			}
		}
	}
	return ticks
}

// Legend placements.
const (
	legendAuto    = "auto"    // a corner (or side) of the data area no curve enters, else outside
	legendOutside = "outside" // right of the data area
)

// legendCorners are the in-plot placements, in the order auto tries them:
// the corners, then half-way up either side (where accuracy curves that
// rise early and level off, or stay near chance, leave room).
var legendCorners = []string{"top-left", "bottom-right", "top-right", "bottom-left", "middle-right", "middle-left"}

// drawFigure draws p on a w×h canvas of format ext with its legend where
// placement says (auto, outside or a corner); curves are the plotted
// points in data coordinates, which auto keeps clear of.
func drawFigure(p *plot.Plot, placement string, w, h vg.Length, ext string, curves []plotter.XYs) (vg.CanvasWriterTo, error) {
	cw, err := draw.NewFormattedCanvas(w, h, ext)
	if err != nil {
		return nil, err
	}
	dc := draw.New(cw)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	leg := p.Legend
	p.Legend = plot.NewLegend() // drawn here, not by p.Draw
	pad := vg.Points(6)
	size := leg.Rectangle(dc).Size()
	corner := placement
	if placement == legendAuto {
		corner = autoLegend(p, dc, size, pad, curves)
	}
	if corner != legendOutside {
		p.Draw(dc)
		da := p.DataCanvas(dc)
		r := legendBox(da, corner, size, pad)
		leg.Top, leg.Left, leg.XOffs, leg.YOffs = true, true, 0, 0
		leg.Draw(draw.Canvas{Canvas: da.Canvas, Rectangle: r})
		return cw, nil
	}
	// Outside: the plot gives up the legend's width on the right and the
	// legend is drawn level with the top of the data area.
	pc := draw.Crop(dc, 0, -(size.X + 2*pad), 0, 0)
	p.Draw(pc)
	da := p.DataCanvas(pc)
	leg.Top, leg.Left, leg.XOffs, leg.YOffs = true, true, 0, 0
	leg.Draw(draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
		Min: vg.Point{X: pc.Max.X + pad, Y: da.Min.Y},
		Max: vg.Point{X: dc.Max.X - pad, Y: da.Max.Y},
	}})
	return cw, nil
}

// autoLegend is the first place in the data area where a legend of size
// covers no curve, or outside when there is none or the legend is wider
// than half the figure.
func autoLegend(p *plot.Plot, dc draw.Canvas, size vg.Point, pad vg.Length, curves []plotter.XYs) string {
	if size.X >= dc.Size().X/2 {
		return legendOutside
	}
	da := p.DataCanvas(dc)
	for _, c := range legendCorners {
		if legendClear(p, da, legendBox(da, c, size, pad), curves) {
			return c
		}
	}
	return legendOutside
}

// legendBox is the legend's rectangle in corner c of the data area.
func legendBox(da draw.Canvas, c string, size vg.Point, pad vg.Length) vg.Rectangle {
	var r vg.Rectangle
	switch c {
	case "top-left", "bottom-left", "middle-left":
		r.Min.X = da.Min.X + pad
	default:
		r.Min.X = da.Max.X - pad - size.X
	}
	switch c {
	case "top-left", "top-right":
		r.Min.Y = da.Max.Y - pad - size.Y
	case "middle-left", "middle-right":
		r.Min.Y = (da.Min.Y+da.Max.Y)/2 - size.Y/2
	default:
		r.Min.Y = da.Min.Y + pad
	}
	r.Max = vg.Point{X: r.Min.X + size.X, Y: r.Min.Y + size.Y}
	return r
}

// legendClear reports whether no curve passes through r (grown by a
// margin): each segment is sampled finely enough to catch a crossing.
func legendClear(p *plot.Plot, da draw.Canvas, r vg.Rectangle, curves []plotter.XYs) bool {
	m := vg.Points(4)
	r.Min.X, r.Min.Y, r.Max.X, r.Max.Y = r.Min.X-m, r.Min.Y-m, r.Max.X+m, r.Max.Y+m
	in := func(x, y float64) bool {
		cx, cy := da.X(p.X.Norm(x)), da.Y(p.Y.Norm(y))
		return cx >= r.Min.X && cx <= r.Max.X && cy >= r.Min.Y && cy <= r.Max.Y
	}
	for _, c := range curves {
		for i := range c {
			if in(c[i].X, c[i].Y) {
				return false
			}
			if i == 0 {
				continue
			}
			a, b := c[i-1], c[i]
			for k := 1; k < 64; k++ {
				f := float64(k) / 64
				if in(a.X+f*(b.X-a.X), a.Y+f*(b.Y-a.Y)) {
					return false
				}
			}
		}
	}
	return true
}

// plotCurves writes a PNG of validation accuracy (%) against x for every
// curve, as ltransfer plot draws it; logX puts training steps on a log
// axis (step 0 drawn left of the first step) with the recorded steps
// labelled. The file is written atomically.
func plotCurves(path, title, xlabel string, curves []demoCurve, logX bool) error {
	d := plotData{kind: kindTraining, xLabel: xlabel}
	var steps []float64
	for _, c := range curves {
		s := plotSeries{label: c.Name, n: 1}
		for k, st := range c.Steps {
			s.x = append(s.x, float64(st))
			s.mean = append(s.mean, 100*c.Acc[k])
			s.stddev = append(s.stddev, 0)
			steps = append(steps, float64(st))
		}
		if len(s.x) > 0 {
			d.series = append(d.series, s)
		}
	}
	o := plotOptions{out: path, title: title, logX: logX, width: 7, height: 4.5, legend: legendAuto}
	if logX {
		o.xTicks = func(zeroAt float64) plot.Ticker {
			return trainingStepTicks{Steps: steps, ZeroAt: zeroAt}
		}
	}
	return makePlot(o, d)
}

func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	// CreateTemp makes the file 0600; a figure is for sharing.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
