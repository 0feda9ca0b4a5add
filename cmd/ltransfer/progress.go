package main

import (
	"fmt"
	"io"
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
	p := &progress{w: w, desc: desc, total: total, start: time.Now(), last: time.Now(), lastPct: -1}
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

// Set moves the display to n units done; note is shown beside it.
func (p *progress) Set(n int64, note string) {
	if p == nil || p.done {
		return
	}
	if p.bar != nil {
		if note != "" {
			p.bar.Describe(p.desc + " " + note)
		}
		_ = p.bar.Set64(n)
		if n >= p.total {
			p.done = true
		}
		return
	}
	now := time.Now()
	if n < p.total && now.Sub(p.last) < logEvery {
		return
	}
	p.last = now
	p.line(n, note)
	if n >= p.total {
		p.done = true
	}
}

func (p *progress) line(n int64, note string) {
	pct := 100 * float64(n) / float64(max(p.total, 1))
	fmt.Fprintf(p.w, "%s %d/%d (%.0f%%) %s %s\n", p.desc, n, p.total, pct, time.Since(p.start).Round(time.Second), note)
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
