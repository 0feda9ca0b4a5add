package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ltransfer/ltransfer/nn"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

func init() {
	register("plot", "plot validation accuracy curves of transfer and training folders (PNG, SVG or PDF)", runPlot)
}

const plotUsage = `plot --out FIG.png [--title T] [--x steps|epochs] [--log-x] [--ymin A --ymax B] [--hline LABEL=PCT]... [--legend auto|outside|top-left|…] SERIES...

Each SERIES is LABEL=DIR[,DIR...]. A DIR holding report.json (written by
'ltransfer transfer --out DIR') is a transfer curve against the trajectory
step t; a DIR holding manifest.json (written by 'ltransfer train --out DIR')
is a training curve against epochs (or raw steps with --x steps). Several
DIRs under one label (seed pairs) are averaged over the x values they all
share and drawn with ± sample-std error bars; the legend then says
"LABEL (n=K)". Transfer and training folders cannot share one figure.
The y axis is zoomed to the data (labelled ticks 1, 2, 2.5 or 5 × 10^k
apart, 6 to 11 of them); the legend goes in a corner no curve enters, or
right of the plot when every corner is taken.

example:
  ltransfer plot --out e1.png --title "Conv8, CIFAR-10" \
      gmt=runs/101-102/gmt,runs/201-202/gmt naive=runs/101-102/naive`

// plotKind says what a folder holds and so what its x axis means.
type plotKind int

const (
	kindTransfer plotKind = iota + 1 // report.json: x = trajectory step t
	kindTraining                     // manifest.json: x = epochs or steps
)

func (k plotKind) String() string {
	if k == kindTransfer {
		return "transfer (report.json)"
	}
	return "training (manifest.json)"
}

// plotRun is one folder's curve: accuracy in percent at increasing x.
type plotRun struct {
	kind plotKind
	x, y []float64
	// stepsPerEpoch and batch are a training run's, for the x label.
	stepsPerEpoch, batch int64
}

// plotSeries is one legend entry: the point-wise mean of n runs and, when
// n ≥ 2, their sample standard deviation.
type plotSeries struct {
	label           string
	n               int
	x, mean, stddev []float64
}

// hlineFlag collects repeated --hline LABEL=PCT.
type hlineFlag []plotHLine

type plotHLine struct {
	label string
	value float64
}

func (h *hlineFlag) String() string {
	if h == nil {
		return ""
	}
	s := make([]string, len(*h))
	for i, l := range *h {
		s[i] = fmt.Sprintf("%s=%g", l.label, l.value)
	}
	return strings.Join(s, " ")
}

func (h *hlineFlag) Set(v string) error {
	label, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(label) == "" {
		return fmt.Errorf("want LABEL=PERCENT, got %q", v)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%q: value %q is not a finite number (percent)", v, val)
	}
	*h = append(*h, plotHLine{label: label, value: f})
	return nil
}

// plotOptions is everything runPlot parsed, so tests can call makePlot.
type plotOptions struct {
	out, title    string
	xMode         string // "", "steps" or "epochs"
	logX          bool
	yMin, yMax    float64
	yMinSet       bool
	yMaxSet       bool
	width, height float64 // inches
	legend        string  // auto, outside, top-left, top-right, bottom-left or bottom-right
	hlines        []plotHLine
	// xTicks, when set, makes the x axis's ticks from where x = 0 is drawn.
	xTicks func(zeroAt float64) plot.Ticker
}

func runPlot(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plot", stderr, plotUsage)
	var o plotOptions
	fs.StringVar(&o.out, "out", "", "output image (.png, .svg or .pdf; its folder must exist) (required)")
	fs.StringVar(&o.title, "title", "", "figure title")
	fs.StringVar(&o.xMode, "x", "", "x axis of training folders: epochs (default) or steps; transfer folders always use the trajectory step")
	fs.BoolVar(&o.logX, "log-x", false, "logarithmic x axis (x = 0 drawn, and labelled 0, at half the smallest positive x)")
	yMin := fs.Float64("ymin", 0, "lower end of the y axis in percent (default: zoomed to the data)")
	yMax := fs.Float64("ymax", 100, "upper end of the y axis in percent (default: zoomed to the data)")
	fs.Float64Var(&o.width, "fig-width", 7, "figure width in inches (PNG at 96 dpi)")
	fs.Float64Var(&o.height, "fig-height", 4.5, "figure height in inches")
	fs.StringVar(&o.legend, "legend", legendAuto, "legend place: auto (a corner or side of the plot no curve enters, else outside), outside (right of the plot), top-left, top-right, bottom-left, bottom-right, middle-left or middle-right")
	force := fs.Bool("force", false, "replace --out if it exists")
	var hl hlineFlag
	fs.Var(&hl, "hline", "horizontal reference line LABEL=PERCENT, e.g. scratch-10ep=71.3 (repeatable)")
	if err := movedFlags(args, map[string]string{"width": "--fig-width INCHES (--width is a model's width in the other commands)",
		"height": "--fig-height INCHES"}); err != nil {
		return err
	}
	specs, done, err := parseFlagsAndArgs(fs, args)
	if done {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "ymin":
			o.yMinSet = true
		case "ymax":
			o.yMaxSet = true
		}
	})
	o.yMin, o.yMax, o.hlines = *yMin, *yMax, hl
	if err := o.check(); err != nil {
		return err
	}
	if err := checkOutFile("--out", o.out, *force); err != nil {
		return err
	}
	if len(specs) == 0 {
		return fmt.Errorf("no SERIES given; want LABEL=DIR[,DIR...] after the flags (see ltransfer plot -h)")
	}
	series, err := loadPlotSeries(specs, o.xMode, stderr)
	if err != nil {
		return err
	}
	if err := makePlot(o, series); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d series)\n", o.out, len(series.series))
	return nil
}

// parseFlagsAndArgs is parseFlags for a command with positional arguments:
// flags may come before, between or after them; "--" ends the flags.
func parseFlagsAndArgs(fs *flag.FlagSet, args []string) (pos []string, done bool, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, true, nil
			}
			return nil, true, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, false, checkNumericFlags(fs)
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), false, checkNumericFlags(fs)
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (o *plotOptions) check() error {
	if o.out == "" {
		return fmt.Errorf("--out FIG.png is required")
	}
	switch ext := strings.ToLower(filepath.Ext(o.out)); ext {
	case ".png", ".svg", ".pdf":
	default:
		return fmt.Errorf("--out %q: want a .png, .svg or .pdf file name, got extension %q", o.out, ext)
	}
	dir := filepath.Dir(o.out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--out %q: output folder %q does not exist (create it first)", o.out, dir)
	}
	switch o.xMode {
	case "", "steps", "epochs":
	default:
		return fmt.Errorf("--x %q: want steps or epochs", o.xMode)
	}
	switch o.legend {
	case legendAuto, legendOutside, "top-left", "top-right", "bottom-left", "bottom-right", "middle-left", "middle-right":
	default:
		return fmt.Errorf("--legend %q: want auto, outside, top-left, top-right, bottom-left, bottom-right, middle-left or middle-right", o.legend)
	}
	for _, v := range []float64{o.yMin, o.yMax, o.width, o.height} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("--ymin, --ymax, --fig-width and --fig-height must be finite numbers")
		}
	}
	if o.yMinSet && o.yMaxSet && o.yMin >= o.yMax {
		return fmt.Errorf("--ymin %g must be below --ymax %g", o.yMin, o.yMax)
	}
	if o.width <= 0 || o.height <= 0 || o.width > 100 || o.height > 100 {
		return fmt.Errorf("--fig-width %g and --fig-height %g must be in (0, 100] inches", o.width, o.height)
	}
	return nil
}

// plotData is the loaded figure: one kind of folder, one x axis.
type plotData struct {
	kind   plotKind
	xLabel string
	series []plotSeries
}

// loadPlotSeries reads every SERIES argument and averages each label's runs.
// Notes about dropped points go to warn.
func loadPlotSeries(specs []string, xMode string, warn io.Writer) (plotData, error) {
	var d plotData
	seen := map[string]bool{}
	spe, batch := int64(-1), int64(-1) // shared by every training run, else 0
	for _, spec := range specs {
		label, dirs, ok := strings.Cut(spec, "=")
		label = strings.TrimSpace(label)
		if !ok || label == "" || dirs == "" {
			return d, fmt.Errorf("series %q: want LABEL=DIR[,DIR...]", spec)
		}
		if seen[label] {
			return d, fmt.Errorf("series %q: label %q given twice (list every folder of a label in one LABEL=DIR,DIR argument)", spec, label)
		}
		seen[label] = true
		var runs []plotRun
		for _, dir := range strings.Split(dirs, ",") {
			if dir == "" {
				return d, fmt.Errorf("series %q: empty folder name in the list", spec)
			}
			r, err := loadPlotRun(dir, xMode)
			if err != nil {
				return d, fmt.Errorf("series %q: %w", label, err)
			}
			if d.kind == 0 {
				d.kind = r.kind
			} else if d.kind != r.kind {
				return d, fmt.Errorf("series %q: %s is a %s folder but earlier folders are %s; plot transfer and training curves in separate figures",
					label, dir, r.kind, d.kind)
			}
			runs = append(runs, r)
			for _, v := range []struct {
				shared *int64
				run    int64
			}{{&spe, r.stepsPerEpoch}, {&batch, r.batch}} {
				if *v.shared == -1 {
					*v.shared = v.run
				} else if *v.shared != v.run {
					*v.shared = 0
				}
			}
		}
		s, dropped := averageRuns(label, runs)
		if len(s.x) == 0 {
			return d, fmt.Errorf("series %q: its %d folders share no x value", label, len(runs))
		}
		if dropped > 0 {
			fmt.Fprintf(warn, "plot: series %q: %d x value(s) not present in all %d folders left out of the mean\n", label, dropped, len(runs))
		}
		d.series = append(d.series, s)
	}
	switch {
	case d.kind == kindTransfer && xMode == "epochs":
		return d, fmt.Errorf("--x epochs: transfer folders (report.json) have no epochs; their x is the trajectory step t")
	case d.kind == kindTransfer:
		d.xLabel = "trajectory step t (0: the target's initialisation)"
	case xMode == "steps" && spe > 0 && batch > 0:
		d.xLabel = fmt.Sprintf("training steps (mini-batches of %d; %d steps = 1 epoch)", batch, spe)
	case xMode == "steps":
		d.xLabel = "training steps (mini-batches)"
	default:
		d.xLabel = "epochs (passes over the training set)"
	}
	return d, nil
}

// loadPlotRun reads DIR/report.json or, failing that, DIR/manifest.json.
// report.json wins: a transfer folder also holds the manifest of its
// trajectory.
func loadPlotRun(dir, xMode string) (plotRun, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return plotRun{}, fmt.Errorf("folder %q does not exist", dir)
		}
		return plotRun{}, err
	}
	if !st.IsDir() {
		return plotRun{}, fmt.Errorf("%q is not a folder", dir)
	}
	rep := filepath.Join(dir, "report.json")
	if b, err := nn.ReadFileLimit(rep, nn.MaxJSONBytes); err == nil {
		return parseTransferReport(rep, b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return plotRun{}, err
	}
	man := filepath.Join(dir, "manifest.json")
	if b, err := nn.ReadFileLimit(man, nn.MaxManifestBytes); err == nil {
		return parseTrainingManifest(man, b, xMode)
	} else if !errors.Is(err, os.ErrNotExist) {
		return plotRun{}, err
	}
	return plotRun{}, fmt.Errorf("folder %q has neither report.json (from ltransfer transfer) nor manifest.json (from ltransfer train)", dir)
}

// checkAcc rejects accuracies that are not fractions in [0, 1].
func checkAcc(file, what string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1 {
		return fmt.Errorf("%s: %s has val_acc %v, want a fraction in [0, 1]", file, what, v)
	}
	return nil
}

func parseTransferReport(file string, b []byte) (plotRun, error) {
	var rep struct {
		Steps []struct {
			Step   *float64 `json:"step"`
			ValAcc *float64 `json:"val_acc"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return plotRun{}, fmt.Errorf("%s: not a valid transfer report: %v", file, err)
	}
	var pts [][2]float64
	for i, s := range rep.Steps {
		if s.Step == nil || *s.Step < 0 || *s.Step != math.Trunc(*s.Step) {
			return plotRun{}, fmt.Errorf("%s: steps[%d] has no non-negative integer \"step\"", file, i)
		}
		if s.ValAcc == nil {
			continue
		}
		if err := checkAcc(file, fmt.Sprintf("step %g", *s.Step), *s.ValAcc); err != nil {
			return plotRun{}, err
		}
		pts = append(pts, [2]float64{*s.Step, 100 * *s.ValAcc})
	}
	if len(pts) == 0 {
		return plotRun{}, fmt.Errorf("%s: no step with a val_acc", file)
	}
	return newPlotRun(kindTransfer, pts), nil
}

func parseTrainingManifest(file string, b []byte, xMode string) (plotRun, error) {
	var man struct {
		Format        string `json:"format"`
		StepsPerEpoch int64  `json:"steps_per_epoch"`
		BatchSize     int64  `json:"batch_size"`
		Checkpoints   []struct {
			Step   *int64   `json:"step"`
			ValAcc *float64 `json:"val_acc"`
		} `json:"checkpoints"`
	}
	if err := json.Unmarshal(b, &man); err != nil {
		return plotRun{}, fmt.Errorf("%s: not a valid training manifest: %v", file, err)
	}
	if man.Format != "" && !strings.HasPrefix(man.Format, "ltransfer-trajectory/") {
		return plotRun{}, fmt.Errorf("%s: format %q, want ltransfer-trajectory/1", file, man.Format)
	}
	if xMode != "steps" && man.StepsPerEpoch <= 0 {
		return plotRun{}, fmt.Errorf("%s: steps_per_epoch %d, want > 0 to plot epochs (or use --x steps)", file, man.StepsPerEpoch)
	}
	var pts [][2]float64
	for i, c := range man.Checkpoints {
		if c.Step == nil || *c.Step < 0 {
			return plotRun{}, fmt.Errorf("%s: checkpoints[%d] has no non-negative \"step\"", file, i)
		}
		if c.ValAcc == nil {
			continue
		}
		if err := checkAcc(file, fmt.Sprintf("checkpoint at step %d", *c.Step), *c.ValAcc); err != nil {
			return plotRun{}, err
		}
		x := float64(*c.Step)
		if xMode != "steps" {
			x /= float64(man.StepsPerEpoch)
		}
		pts = append(pts, [2]float64{x, 100 * *c.ValAcc})
	}
	if len(pts) == 0 {
		return plotRun{}, fmt.Errorf("%s: no checkpoint with a val_acc", file)
	}
	r := newPlotRun(kindTraining, pts)
	r.stepsPerEpoch, r.batch = man.StepsPerEpoch, man.BatchSize
	return r, nil
}

// newPlotRun sorts points by x; of repeated x (a resumed run) the last wins.
func newPlotRun(kind plotKind, pts [][2]float64) plotRun {
	last := map[float64]float64{}
	for _, p := range pts {
		last[p[0]] = p[1]
	}
	r := plotRun{kind: kind}
	for x := range last {
		r.x = append(r.x, x)
	}
	sort.Float64s(r.x)
	for _, x := range r.x {
		r.y = append(r.y, last[x])
	}
	return r
}

// averageRuns is the point-wise mean and sample standard deviation (n−1)
// of the runs over the x values every run has; dropped counts the x values
// some run lacks.
func averageRuns(label string, runs []plotRun) (s plotSeries, dropped int) {
	s = plotSeries{label: label, n: len(runs)}
	count := map[float64]int{}
	sum := map[float64]float64{}
	for _, r := range runs {
		for i, x := range r.x {
			count[x]++
			sum[x] += r.y[i]
		}
	}
	for x, c := range count {
		if c == len(runs) {
			s.x = append(s.x, x)
		} else {
			dropped++
		}
	}
	sort.Float64s(s.x)
	for _, x := range s.x {
		m := sum[x] / float64(len(runs))
		var ss float64
		for _, r := range runs {
			i := sort.SearchFloat64s(r.x, x)
			d := r.y[i] - m
			ss += d * d
		}
		sd := 0.0
		if len(runs) > 1 {
			sd = math.Sqrt(ss / float64(len(runs)-1))
		}
		s.mean = append(s.mean, m)
		s.stddev = append(s.stddev, sd)
	}
	return s, dropped
}

// log10Ticks places the ticks of a log axis drawn as log10(x): inner
// makes them from the values of x.
type log10Ticks struct{ inner plot.Ticker }

func (t log10Ticks) Ticks(min, max float64) []plot.Tick {
	ticks := t.inner.Ticks(math.Pow(10, min), math.Pow(10, max))
	for i := range ticks {
		ticks[i].Value = math.Log10(ticks[i].Value)
	}
	return ticks
}

// zeroLogTicks is plot.LogTicks with x = 0, drawn at ZeroAt, labelled 0;
// a labelled tick closer to it than a factor 2 is left unlabelled.
type zeroLogTicks struct{ ZeroAt float64 }

func (t zeroLogTicks) Ticks(min, max float64) []plot.Tick {
	ticks := []plot.Tick{{Value: t.ZeroAt, Label: "0"}}
	for _, tk := range (plot.LogTicks{Prec: -1}).Ticks(min, max) {
		if math.Abs(math.Log2(tk.Value/t.ZeroAt)) < 1 {
			tk.Label = ""
		}
		if tk.Value != t.ZeroAt {
			ticks = append(ticks, tk)
		}
	}
	return ticks
}

// meanStd carries a series to plotter.NewYErrorBars.
type meanStd struct {
	x, y, e []float64
}

func (m meanStd) Len() int                        { return len(m.x) }
func (m meanStd) XY(i int) (float64, float64)     { return m.x[i], m.y[i] }
func (m meanStd) YError(i int) (float64, float64) { return m.e[i], m.e[i] }

// makePlot draws the series and reference lines and writes o.out atomically.
func makePlot(o plotOptions, d plotData) error {
	p := plot.New()
	p.Title.Text = o.title
	p.X.Label.Text = d.xLabel
	p.Y.Label.Text = "validation accuracy (%)"
	p.Add(plotter.NewGrid())

	// A log axis cannot show x = 0 (every curve starts there): draw it at
	// half the smallest positive x and say so on the axis.
	zeroAt := 0.0
	if o.logX {
		minPos := math.Inf(1)
		for _, s := range d.series {
			for _, x := range s.x {
				if x > 0 && x < minPos {
					minPos = x
				}
			}
		}
		if math.IsInf(minPos, 1) {
			minPos = 1
		}
		zeroAt = minPos / 2
		// x is drawn as log10(x) on a linear axis whose ticks carry the
		// values of x: gonum centres an axis label by the arithmetic mean
		// of the range, which on a log scale pushes a long label right.
		p.X.Tick.Marker = log10Ticks{zeroLogTicks{ZeroAt: zeroAt}}
		p.X.Label.Text = d.xLabel + " (log scale)"
	}

	lo, hi := math.Inf(1), math.Inf(-1)
	var curves []plotter.XYs // what the legend must not cover
	for i, s := range d.series {
		ms := meanStd{x: make([]float64, len(s.x)), y: s.mean, e: s.stddev}
		var up, down plotter.XYs
		for k, x := range s.x {
			if o.logX {
				x = math.Log10(math.Max(x, zeroAt))
			}
			ms.x[k] = x
			lo = math.Min(lo, s.mean[k]-s.stddev[k])
			hi = math.Max(hi, s.mean[k]+s.stddev[k])
			up = append(up, plotter.XY{X: x, Y: s.mean[k] + s.stddev[k]})
			down = append(down, plotter.XY{X: x, Y: s.mean[k] - s.stddev[k]})
		}
		curves = append(curves, up, down)
		l, sc, err := plotter.NewLinePoints(ms)
		if err != nil {
			return fmt.Errorf("series %q: %w", s.label, err)
		}
		styleSeries(i, l, sc)
		p.Add(l, sc)
		name := s.label
		if s.n > 1 {
			name = fmt.Sprintf("%s (n=%d)", s.label, s.n)
			eb, err := plotter.NewYErrorBars(ms)
			if err != nil {
				return fmt.Errorf("series %q: %w", s.label, err)
			}
			eb.Color = l.Color
			eb.CapWidth = vg.Points(4)
			p.Add(eb)
		}
		p.Legend.Add(name, l, sc)
	}
	xMin, xMax := p.X.Min, p.X.Max
	for i, h := range o.hlines {
		v := h.value
		f := plotter.NewFunction(func(float64) float64 { return v })
		f.Color = plotPalette[(len(d.series)+i)%len(plotPalette)]
		f.Width = vg.Points(1.2)
		f.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(f)
		p.Legend.Add(fmt.Sprintf("%s (%.4g%%)", h.label, h.value), f)
		lo, hi = math.Min(lo, h.value), math.Max(hi, h.value)
		curves = append(curves, plotter.XYs{{X: xMin, Y: v}, {X: xMax, Y: v}})
	}
	// The y axis is zoomed to the data; an explicit --ymin/--ymax is kept.
	yMin, yMax, step := zoomAxis(lo, hi)
	if o.yMinSet {
		yMin = o.yMin
	}
	if o.yMaxSet {
		yMax = o.yMax
	}
	if yMin >= yMax { // one end given, the data beyond it
		yMin, yMax = math.Min(yMin, yMax), math.Max(yMin, yMax)+1
	}
	if o.yMinSet || o.yMaxSet {
		step = niceStep((yMax - yMin) / 8)
	}
	p.Y.Min, p.Y.Max = yMin, yMax
	p.Y.Tick.Marker = stepTicks{Step: step}
	if p.X.Min == p.X.Max { // a single x value: give the axis some width
		p.X.Min, p.X.Max = p.X.Min-1, p.X.Max+1
		if o.logX {
			p.X.Min, p.X.Max = math.Log10(zeroAt/2), math.Log10(zeroAt*4)
		}
	}
	if o.xTicks != nil {
		p.X.Tick.Marker = log10Ticks{o.xTicks(zeroAt)}
	}
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(o.out), "."))
	w, err := drawFigure(p, o.legend, vg.Length(o.width)*vg.Inch, vg.Length(o.height)*vg.Inch, ext, curves)
	if err != nil {
		return err
	}
	return writeAtomic(o.out, func(f io.Writer) error { _, err := w.WriteTo(f); return err })
}
