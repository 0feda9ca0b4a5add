package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/asm"
)

func TestSelftestCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain([]string{"selftest", "--shapes", "3"}, &out, &errb); code != 0 {
		t.Fatalf("selftest exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, p := range asm.Available() {
		if !strings.Contains(out.String(), p.String()+" ") || !strings.Contains(out.String(), "cpu: ") {
			t.Fatalf("selftest output lacks path %s or the CPU line:\n%s", p, out.String())
		}
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Fatalf("selftest reports a failure:\n%s", out.String())
	}
	for _, family := range []string{"conv (im2col, winograd, direct", "pooling", "batch-norm", "lap scans"} {
		if n := strings.Count(out.String(), family); n != len(asm.Available()) {
			t.Errorf("selftest checks %q on %d paths, want %d:\n%s", family, n, len(asm.Available()), out.String())
		}
	}
}

// The comparison the self-tests use flags an error past its bound, a NaN
// where the oracle has a number, and nothing within the bound.
func TestSelftestCheckFlagsErrors(t *testing.T) {
	var c check
	c.close("ok", []float32{1, 2, float32(math.NaN())}, []float32{1, math.Nextafter32(2, 3), float32(math.NaN())}, nil, 1e-6)
	if c.bad != "" || c.worst == 0 {
		t.Fatalf("within the bound: %+v", c)
	}
	for _, got := range [][]float32{{1, 2.01, 0}, {1, float32(math.NaN()), 0}, {1, 2}} {
		var c check
		c.close("x", got, []float32{1, 2, 0}, nil, 1e-6)
		if c.bad == "" {
			t.Errorf("%v against [1 2 0]: not flagged", got)
		}
	}
}

func TestBenchGemmCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain([]string{"bench", "gemm", "--m", "20", "--n", "17", "--k", "9", "--trans", "tn", "--threads", "2", "--reps", "3", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("bench exit %d: %s", code, errb.String())
	}
	var r map[string]any
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("bench --json printed %q: %v", out.String(), err)
	}
	if len(r) != 3 || r["gflops"].(float64) <= 0 || r["path"] != asm.Selected().String() || r["threads"].(float64) != 2 {
		t.Fatalf("bench --json printed %v", r)
	}
	for _, bad := range [][]string{
		{"bench", "gemm", "--m", "0", "--n", "1", "--k", "1"},
		{"bench", "gemm", "--m", "1", "--n", "1", "--k", "1", "--trans", "XN"},
		{"bench", "gemm", "--m", "1", "--n", "1", "--k", "1", "--threads", "-1"},
		{"bench", "gemm", "--m", "1", "--n", "1", "--k", "1", "--bogus"},
		{"bench", "conv"},
	} {
		out.Reset()
		errb.Reset()
		if code := runMain(bad, &out, &errb); code == 0 || errb.Len() == 0 {
			t.Fatalf("%v: exit %d, stderr %q; want a failure with a message", bad, code, errb.String())
		}
	}
}
