package main

import (
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePlotFile writes name into a new folder dir/sub and returns the folder.
func writePlotFile(t *testing.T, dir, sub, name, body string) string {
	t.Helper()
	d := filepath.Join(dir, sub)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeReport is a transfer report.json with the given val_acc per step.
func fakeReport(accs ...float64) string {
	var steps []string
	for i, a := range accs {
		steps = append(steps, fmt.Sprintf(`{"step": %d, "val_acc": %v, "objective": 0}`, i, a))
	}
	return `{"method": "gmt", "steps": [` + strings.Join(steps, ",") + `], "best_step": 0, "best_val_acc": 0.5, "timings_s": {"total": 1}}`
}

// fakeManifest is a training manifest.json with steps_per_epoch 10 and the
// given checkpoints ("step:acc"; acc "-" leaves val_acc out).
func fakeManifest(ckpts ...string) string {
	var cs []string
	for i, c := range ckpts {
		step, acc, _ := strings.Cut(c, ":")
		v := ""
		if acc != "-" {
			v = `, "val_acc": ` + acc
		}
		cs = append(cs, fmt.Sprintf(`{"index": %d, "epoch": 0, "step": %s%s, "val_loss": 2.3}`, i, step, v))
	}
	return `{"format": "ltransfer-trajectory/1", "steps_per_epoch": 10, "total_steps": 30, "checkpoints": [` +
		strings.Join(cs, ",") + `], "complete": true}`
}

func decodePNG(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s does not decode as PNG: %v", path, err)
	}
	b := img.Bounds()
	return b.Dx(), b.Dy()
}

func TestPlotCLI(t *testing.T) {
	dir := t.TempDir()
	a := writePlotFile(t, dir, "101-102/gmt", "report.json", fakeReport(0.1, 0.3, 0.5))
	// A transfer folder also holds the manifest of its trajectory:
	// report.json must win.
	writePlotFile(t, dir, "101-102/gmt", "manifest.json", fakeManifest("0:0.1"))
	b := writePlotFile(t, dir, "201-202/gmt", "report.json", fakeReport(0.1, 0.35, 0.7))
	n := writePlotFile(t, dir, "101-102/naive", "report.json", fakeReport(0.1, 0.1, 0.1))
	out := filepath.Join(dir, "fig.png")
	stdout, stderr, code := run(t, "plot", "--out", out, "--title", "test", "gmt="+a+","+b, "naive="+n,
		"--hline", "scratch=42.5", "--legend", "top-left")
	if code != 0 {
		t.Fatalf("plot: code %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, "2 series") {
		t.Errorf("stdout %q", stdout)
	}
	if w, h := decodePNG(t, out); w != 672 || h != 432 {
		t.Errorf("PNG is %d×%d, want 672×432 (7×4.5 in at 96 dpi)", w, h)
	}

	// Training curves on a log axis, a missing val_acc, an early checkpoint,
	// a custom size, --x steps and a zoomed y range.
	t1 := writePlotFile(t, dir, "ft-a", "manifest.json", fakeManifest("0:0.1", "3:0.2", "10:-", "20:0.6"))
	t2 := writePlotFile(t, dir, "ft-b", "manifest.json", fakeManifest("0:0.1", "3:0.3", "10:0.5", "20:0.8"))
	for _, extra := range [][]string{{"--log-x"}, {"--x", "steps", "--ymin", "20", "--ymax", "90"}} {
		out2 := filepath.Join(dir, "ft.png")
		args := append([]string{"plot", "--out", out2, "--force", "--fig-width", "5", "--fig-height", "3"}, extra...)
		if _, stderr, code := run(t, append(args, "ft="+t1+","+t2)...); code != 0 {
			t.Fatalf("plot %v: %s", extra, stderr)
		} else if !strings.Contains(stderr, "1 x value(s)") {
			t.Errorf("plot %v: no note of the dropped x value in %q", extra, stderr)
		}
		if w, h := decodePNG(t, out2); w != 480 || h != 288 {
			t.Errorf("PNG is %d×%d, want 480×288", w, h)
		}
	}
	// The real smoke output, when a previous reproduce.sh run left it.
	if s := "/tmp/ltransfer-repro-smoke/e1-conv8/101-102"; dirExists(s + "/gmt") {
		if _, stderr, code := run(t, "plot", "--out", filepath.Join(dir, "smoke.png"), "gmt="+s+"/gmt"); code != 0 {
			t.Errorf("plot of %s: %s", s, stderr)
		}
	}
	if _, _, code := run(t, "plot", "-h"); code != 0 {
		t.Errorf("plot -h: code %d", code)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func TestPlotAverage(t *testing.T) {
	r1 := newPlotRun(kindTransfer, [][2]float64{{0, 10}, {1, 50}, {2, 80}})
	r2 := newPlotRun(kindTransfer, [][2]float64{{1, 70}, {0, 10}})
	s, dropped := averageRuns("gmt", []plotRun{r1, r2})
	if dropped != 1 || s.n != 2 {
		t.Fatalf("dropped %d, n %d; want 1, 2", dropped, s.n)
	}
	if len(s.x) != 2 || s.x[0] != 0 || s.x[1] != 1 {
		t.Fatalf("x %v, want [0 1]", s.x)
	}
	if s.mean[1] != 60 || math.Abs(s.stddev[1]-math.Sqrt(200)) > 1e-9 {
		t.Errorf("at x=1: mean %v ± %v, want 60 ± 14.142", s.mean[1], s.stddev[1])
	}
	if s.mean[0] != 10 || s.stddev[0] != 0 {
		t.Errorf("at x=0: mean %v ± %v, want 10 ± 0", s.mean[0], s.stddev[0])
	}
	one, _ := averageRuns("one", []plotRun{r1})
	if one.stddev[2] != 0 || one.mean[2] != 80 {
		t.Errorf("one run: %v ± %v", one.mean, one.stddev)
	}

	// Through the files: val_acc 0.5 and 0.7 at step 30 (epoch 3).
	dir := t.TempDir()
	a := writePlotFile(t, dir, "a", "manifest.json", fakeManifest("0:0.1", "30:0.5"))
	b := writePlotFile(t, dir, "b", "manifest.json", fakeManifest("0:0.1", "30:0.7"))
	d, err := loadPlotSeries([]string{"ft=" + a + "," + b}, "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s = d.series[0]
	if d.kind != kindTraining || d.xLabel != "epochs (passes over the training set)" || len(s.x) != 2 || s.x[1] != 3 ||
		math.Abs(s.mean[1]-60) > 1e-9 || math.Abs(s.stddev[1]-14.142135623730951) > 1e-9 {
		t.Errorf("loaded %+v (%s), want x [0 3], mean[1] 60 ± 14.14", s, d.xLabel)
	}
}

func TestPlotErrors(t *testing.T) {
	dir := t.TempDir()
	good := writePlotFile(t, dir, "good", "report.json", fakeReport(0.1, 0.5))
	train := writePlotFile(t, dir, "train", "manifest.json", fakeManifest("0:0.1", "10:0.5"))
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// bad writes "FILE|BODY" into folder dir/name.
	bad := func(name, fileBody string) string {
		file, body, _ := strings.Cut(fileBody, "|")
		return writePlotFile(t, dir, name, file, body)
	}
	truncated := bad("trunc", "report.json|"+fakeReport(0.1, 0.5)[:40])
	nan := bad("nan", `report.json|{"steps": [{"step": 0, "val_acc": NaN}]}`)
	big := bad("big", "report.json|"+fakeReport(0.1, 1.5))
	neg := bad("neg", "manifest.json|"+fakeManifest("0:0.1", "10:-0.2"))
	huge := bad("huge", "manifest.json|"+fakeManifest("0:1e400"))
	noacc := bad("noacc", "manifest.json|"+fakeManifest("0:-", "10:-"))
	nospe := bad("nospe", `manifest.json|{"format": "ltransfer-trajectory/1", "checkpoints": [{"step": 0, "val_acc": 0.1}]}`)
	wrongfmt := bad("fmt", `manifest.json|{"format": "other/2", "steps_per_epoch": 1, "checkpoints": [{"step": 0, "val_acc": 0.1}]}`)
	noshare := bad("noshare", "report.json|"+`{"steps": [{"step": 5, "val_acc": 0.5}]}`)
	out := filepath.Join(dir, "fig.png")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"gmt=" + good}, "--out"},
		{"no series", []string{"--out", out}, "no SERIES"},
		{"no =", []string{"--out", out, good}, "LABEL=DIR"},
		{"empty label", []string{"--out", out, "=" + good}, "LABEL=DIR"},
		{"empty dir list", []string{"--out", out, "gmt="}, "LABEL=DIR"},
		{"empty dir in list", []string{"--out", out, "gmt=" + good + ","}, "empty folder"},
		{"duplicate label", []string{"--out", out, "gmt=" + good, "gmt=" + good}, "given twice"},
		{"missing dir", []string{"--out", out, "gmt=" + filepath.Join(dir, "nope")}, "does not exist"},
		{"not a dir", []string{"--out", out, "gmt=" + filepath.Join(good, "report.json")}, "not a folder"},
		{"neither file", []string{"--out", out, "gmt=" + empty}, "neither report.json"},
		{"truncated", []string{"--out", out, "gmt=" + truncated}, "trunc/report.json"},
		{"NaN", []string{"--out", out, "gmt=" + nan}, "nan/report.json"},
		{"above 1", []string{"--out", out, "gmt=" + big}, "big/report.json: step 1 has val_acc 1.5"},
		{"negative", []string{"--out", out, "ft=" + neg}, "neg/manifest.json: checkpoint at step 10 has val_acc -0.2"},
		{"overflow", []string{"--out", out, "ft=" + huge}, "huge/manifest.json"},
		{"no val_acc", []string{"--out", out, "ft=" + noacc}, "no checkpoint with a val_acc"},
		{"no steps_per_epoch", []string{"--out", out, "ft=" + nospe}, "steps_per_epoch"},
		{"wrong format", []string{"--out", out, "ft=" + wrongfmt}, "format"},
		{"no shared x", []string{"--out", out, "gmt=" + good + "," + noshare}, "share no x"},
		{"mixed kinds", []string{"--out", out, "gmt=" + good, "ft=" + train}, "separate figures"},
		{"mixed in one label", []string{"--out", out, "x=" + train + "," + good}, "separate figures"},
		{"epochs for transfer", []string{"--out", out, "--x", "epochs", "gmt=" + good}, "no epochs"},
		{"bad --x", []string{"--out", out, "--x", "hours", "gmt=" + good}, "--x"},
		{"missing out folder", []string{"--out", filepath.Join(dir, "no", "fig.png"), "gmt=" + good}, "output folder"},
		{"bad extension", []string{"--out", filepath.Join(dir, "fig.gif"), "gmt=" + good}, ".png"},
		{"ymin ≥ ymax", []string{"--out", out, "--ymin", "50", "--ymax", "50", "gmt=" + good}, "--ymin"},
		{"bad hline", []string{"--out", out, "--hline", "scratch", "gmt=" + good}, "LABEL=PERCENT"},
		{"NaN hline", []string{"--out", out, "--hline", "s=NaN", "gmt=" + good}, "finite"},
		{"bad --legend", []string{"--out", out, "--legend", "middle", "gmt=" + good}, "--legend"},
		{"bad flag", []string{"--out", out, "--bogus", "gmt=" + good}, "bogus"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := run(t, append([]string{"plot"}, c.args...)...)
			if code == 0 {
				t.Fatalf("succeeded, want an error mentioning %q", c.want)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q does not mention %q", stderr, c.want)
			}
			left, _ := filepath.Glob(filepath.Join(dir, "*.png"))
			tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
			if len(left)+len(tmp) > 0 {
				t.Errorf("wrote %v %v", left, tmp)
			}
		})
	}
}
