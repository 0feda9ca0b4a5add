package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ltransfer/ltransfer/transfer"
)

func TestFormatRate(t *testing.T) {
	for _, c := range []struct {
		r       float64
		unit    string
		perUnit int
		want    string
	}{
		{12.34, "step", 0, "12.3 steps/s"},
		{1, "step", 0, "1.00 steps/s"},
		{0.25, "step", 0, "4.00 s/step"},
		{1 / 123.4, "step", 0, "123 s/step"},
		{3.5, "it", 0, "3.50 it/s"},
		{343.2, "step", 128, "43.9k samples/s"},
		{0.5, "step", 128, "64.0 samples/s"},
		{95911, "sample", 0, "95.9k samples/s"},
		{2.5e7, "sample", 0, "25.0M samples/s"},
		{9999.6, "sample", 0, "10.0k samples/s"},
		{0, "step", 0, ""},
		{-1, "step", 0, ""},
	} {
		if got := formatRate(c.r, c.unit, c.perUnit); got != c.want {
			t.Errorf("formatRate(%g, %q, %d) = %q, want %q", c.r, c.unit, c.perUnit, got, c.want)
		}
	}
}

func TestPhaseNote(t *testing.T) {
	for _, c := range []struct {
		p    transfer.Progress
		want string
	}{
		{transfer.Progress{Phase: "gradients", Step: 5, Steps: 10, Done: 3, Total: 5}, "step 5/10: gradients 3/5"},
		{transfer.Progress{Phase: "matching", Step: 5, Steps: 10, Done: 0, Total: 1}, "step 5/10: matching"},
		{transfer.Progress{Phase: "eval", Step: 10, Steps: 10}, "step 10/10: eval"},
	} {
		if got := phaseNote(c.p); got != c.want {
			t.Errorf("phaseNote(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}

// fakeClock steps by the durations a test sets.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// A plain (non-terminal) display prints at the end and every logEvery,
// with the label, the count and the rate since the first report.
func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := newProgress(&buf, "epoch 1/2", 100).Units("step", 64)
	p.clock, p.start, p.last = clk.now, clk.t, clk.t
	p.Set(1, "loss 2.3")
	clk.t = clk.t.Add(time.Second)
	p.Set(11, "loss 2.0") // within logEvery: no line
	if buf.Len() != 0 {
		t.Fatalf("a line before logEvery: %q", buf.String())
	}
	clk.t = clk.t.Add(logEvery)
	p.Set(51, "loss 1.0")
	clk.t = clk.t.Add(time.Second)
	p.Set(100, "loss 0.5")
	p.Set(100, "again") // finished: ignored
	p.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		// 50 steps of 64 in 11 s since the first report.
		"epoch 1/2 51/100 (51%) 11s loss 1.0, 291 samples/s",
		"epoch 1/2 100/100 (100%) 12s loss 0.5, 528 samples/s", // 99 × 64 in 12 s
	}
	if len(lines) != len(want) {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
}

// The transfer bar counts completed steps and labels the phase that runs,
// whatever order the background evaluation reports in.
func TestTransferBar(t *testing.T) {
	var buf bytes.Buffer
	b := &transferBar{bar: newProgress(&buf, "transfer gmt", 3).Units("step", 0)}
	for _, c := range []struct {
		p     transfer.Progress
		steps int64
		note  string
	}{
		{transfer.Progress{Phase: "gradients", Step: 1, Steps: 3, Done: 0, Total: 2}, 0, "step 1/3: gradients 0/2"},
		{transfer.Progress{Phase: "gradients", Step: 1, Steps: 3, Done: 1, Total: 2}, 0, "step 1/3: gradients 1/2"},
		{transfer.Progress{Phase: "eval", Step: 0, Steps: 3}, 0, "step 0/3: eval"},
		{transfer.Progress{Phase: "matching", Step: 1, Steps: 3, Done: 1, Total: 1}, 0, "step 1/3: matching"},
		{transfer.Progress{Phase: "step", Step: 0, Steps: 3, Done: 0, Total: 3}, 0, "step 1/3: matching"},
		{transfer.Progress{Phase: "gradients", Step: 2, Steps: 3, Done: 3, Total: 4}, 0, "step 2/3: gradients 3/4"},
		{transfer.Progress{Phase: "step", Step: 1, Steps: 3, Done: 1, Total: 3}, 1, "step 2/3: gradients 3/4"},
		{transfer.Progress{Phase: "step", Step: 2, Steps: 3, Done: 2, Total: 3}, 2, "step 2/3: gradients 3/4"},
		{transfer.Progress{Phase: "step", Step: 3, Steps: 3, Done: 3, Total: 3}, 2, "step 2/3: gradients 3/4"},
	} {
		b.report(c.p)
		if b.steps != c.steps || b.note != c.note {
			t.Errorf("after %+v: %d steps, note %q; want %d, %q", c.p, b.steps, b.note, c.steps, c.note)
		}
	}
	if b.bar.done {
		t.Error("the last step's report finished the bar before the run's summary")
	}
}
