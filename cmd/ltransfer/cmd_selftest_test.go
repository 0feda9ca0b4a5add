package main

import (
	"bytes"
	"encoding/json"
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
		{"bench", "gemm", "--m", "1", "--n", "1", "--k", "1", "--threads", "0"},
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
