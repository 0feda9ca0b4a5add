package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows the advance of a long operation: a progress bar when w is
// a terminal, otherwise a plain log line at most every logEvery (and at
// the end), so logs of batch jobs stay readable. Commands share it; the
// library reports through callbacks that feed it.
type progress struct {
	w       io.Writer
	desc    string
	total   int64
	bar     *progressbar.ProgressBar
	last    time.Time
	start   time.Time
	lastPct int64
	done    bool
	// unit names what is counted (singular: "step", "sample"); perUnit,
	// when positive, is the samples in one unit: the rate is samples/s.
	unit    string
	perUnit int
	// n0 and t0 are the first Set: the rate counts from there, so a
	// resumed run or a bar made after its first unit reads true.
	n0      int64
	t0      time.Time
	started bool
	// clock is time.Now; tests set it.
	clock func() time.Time
}

// logEvery is the plain-mode interval between log lines.
const logEvery = 10 * time.Second

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress starts a progress display of total units described by desc.
func newProgress(w io.Writer, desc string, total int64) *progress {
	p := &progress{w: w, desc: desc, total: total, start: time.Now(), last: time.Now(), lastPct: -1, unit: "it", clock: time.Now}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
	}
	return p
}

// Units sets what the display counts (singular, e.g. "step") and, when
// perUnit > 0, how many samples one unit is: the rate is then samples/s.
func (p *progress) Units(unit string, perUnit int) *progress {
	p.unit, p.perUnit = unit, perUnit
	return p
}

// Set moves the display to n units done; note is shown beside it, with
// the rate.
func (p *progress) Set(n int64, note string) {
	if p == nil || p.done {
		return
	}
	now := p.clock()
	if !p.started {
		p.n0, p.t0, p.started = n, now, true
	}
	if r := p.rate(n, now); r != "" {
		if note != "" {
			note += ", "
		}
		note += r
	}
	if p.bar != nil {
		p.bar.Describe(p.desc + " " + note)
		_ = p.bar.Set64(n)
		if n >= p.total {
			p.done = true
		}
		return
	}
	if n < p.total && now.Sub(p.last) < logEvery {
		return
	}
	p.last = now
	p.line(n, note)
	if n >= p.total {
		p.done = true
	}
}

// rate is the speed since the first Set, or "" before there is one.
func (p *progress) rate(n int64, now time.Time) string {
	dt := now.Sub(p.t0).Seconds()
	if n <= p.n0 || dt < 0.05 {
		return ""
	}
	return formatRate(float64(n-p.n0)/dt, p.unit, p.perUnit)
}

// formatRate writes r units per second as "12.3 steps/s" or, below one
// a second, "4.56 s/step"; when perUnit > 0 it is the samples a second
// instead ("65.9k samples/s"), which compares across batch sizes. It is
// short: a terminal bar cuts what does not fit the line.
func formatRate(r float64, unit string, perUnit int) string {
	switch {
	case !(r > 0) || math.IsInf(r, 0):
		return ""
	case perUnit > 0:
		return rateNum(r*float64(perUnit)) + " samples/s"
	case r >= 1:
		return rateNum(r) + " " + plural(unit) + "/s"
	}
	return rateNum(1/r) + " s/" + unit
}

func plural(unit string) string {
	if unit == "it" {
		return unit
	}
	return unit + "s"
}

// rateNum prints three significant digits, no exponent, k and M for
// thousands and millions.
func rateNum(x float64) string {
	suffix := ""
	switch {
	case x >= 9999.5e3:
		x, suffix = x/1e6, "M"
	case x >= 9999.5:
		x, suffix = x/1e3, "k"
	}
	switch {
	case x >= 99.95:
		return fmt.Sprintf("%.0f%s", x, suffix)
	case x >= 9.995:
		return fmt.Sprintf("%.1f%s", x, suffix)
	}
	return fmt.Sprintf("%.2f%s", x, suffix)
}

func (p *progress) line(n int64, note string) {
	pct := 100 * float64(n) / float64(max(p.total, 1))
	fmt.Fprintf(p.w, "%s %d/%d (%.0f%%) %s %s\n", p.desc, n, p.total, pct, p.clock().Sub(p.start).Round(time.Second), note)
}

// Log prints a line without disturbing a bar.
func (p *progress) Log(format string, a ...any) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.w, format+"\n", a...)
	if p.bar != nil && !p.done {
		_ = p.bar.RenderBlank()
	}
}

// Finish ends the display.
func (p *progress) Finish() {
	if p == nil || p.done {
		return
	}
	p.done = true
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
}
