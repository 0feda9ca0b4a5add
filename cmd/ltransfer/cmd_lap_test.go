package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lapNpy encodes a 2-D matrix as a .npy file (format 1.0).
func lapNpy(descr string, fortran bool, shape string, data []byte) []byte {
	f := "False"
	if fortran {
		f = "True"
	}
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, f, shape)
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func lapF64Bytes(x []float64) []byte {
	b := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func lapF32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// lapSafetensors encodes one tensor "name" as a safetensors file.
func lapSafetensors(name, dtype string, shape []int, data []byte) []byte {
	hdr, _ := json.Marshal(map[string]any{name: map[string]any{"dtype": dtype, "shape": shape, "data_offsets": []int{0, len(data)}}})
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.Write(hdr)
	b.Write(data)
	return b.Bytes()
}

func runLapCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(append([]string{"lap"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// A 3×3 problem with a unique optimum: rows → (2, 0, 1), cost 1+2+3 = 6;
// maximum: rows → (0, 1, 2), 9+9+9 = 27.
var lapCost3 = []float64{
	9, 8, 1,
	2, 9, 9,
	9, 3, 9,
}

func TestLapCLI(t *testing.T) {
	dir := t.TempDir()
	f64 := filepath.Join(dir, "c64.npy")
	os.WriteFile(f64, lapNpy("<f8", false, "(3, 3)", lapF64Bytes(lapCost3)), 0o644)
	c32 := make([]float32, len(lapCost3))
	for i, v := range lapCost3 {
		c32[i] = float32(v)
	}
	f32 := filepath.Join(dir, "c32.npy")
	os.WriteFile(f32, lapNpy("<f4", false, "(3, 3)", lapF32Bytes(c32)), 0o644)
	st := filepath.Join(dir, "c.safetensors")
	os.WriteFile(st, lapSafetensors("cost", "F64", []int{3, 3}, lapF64Bytes(lapCost3)), 0o644)

	for _, f := range []string{f64, f32, st} {
		out, errs, code := runLapCLI(t, "--cost", f, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, errs)
		}
		var js struct {
			N, M      int
			Objective float64
			Seconds   *float64
		}
		if err := json.Unmarshal([]byte(out), &js); err != nil || strings.Count(out, "\n") != 1 {
			t.Fatalf("%s: --json printed %q (%v)", f, out, err)
		}
		if js.N != 3 || js.M != 3 || js.Objective != 6 || js.Seconds == nil || *js.Seconds < 0 {
			t.Fatalf("%s: %+v", f, js)
		}
	}

	outFile := filepath.Join(dir, "a.json")
	out, errs, code := runLapCLI(t, "--cost", f64, "--maximize", "--out", outFile)
	if code != 0 || !strings.Contains(out, "maximum objective 27") {
		t.Fatalf("maximize: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	var a struct {
		RowToCol  []int   `json:"row_to_col"`
		Objective float64 `json:"objective"`
	}
	b, err := os.ReadFile(outFile)
	if err != nil || json.Unmarshal(b, &a) != nil {
		t.Fatalf("--out: %v %q", err, b)
	}
	if fmt.Sprint(a.RowToCol) != "[0 1 2]" || a.Objective != 27 {
		t.Fatalf("--out: %+v", a)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}

	// More rows than columns: solved transposed, one row left out.
	tall := filepath.Join(dir, "tall.npy")
	os.WriteFile(tall, lapNpy("<f8", false, "(3, 2)", lapF64Bytes([]float64{1, 5, 5, 1, 0, 9})), 0o644)
	outTall := filepath.Join(dir, "tall.json")
	if _, errs, code := runLapCLI(t, "--cost", tall, "--out", outTall); code != 0 {
		t.Fatalf("tall: %s", errs)
	}
	b, _ = os.ReadFile(outTall)
	if err := json.Unmarshal(b, &a); err != nil || a.Objective != 1 || len(a.RowToCol) != 3 || a.RowToCol[0] != -1 {
		t.Fatalf("tall: %s", b)
	}
}

func TestLapCLIErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	nanCost := append([]float64(nil), lapCost3...)
	nanCost[5] = math.NaN()
	posInf := append([]float64(nil), lapCost3...)
	posInf[1] = math.Inf(1)
	cases := []struct {
		name   string
		args   []string
		substr string
	}{
		{"nocost", nil, "--cost is required"},
		{"missing", []string{"--cost", filepath.Join(dir, "nope.npy")}, "no such file"},
		{"nan", []string{"--cost", write("nan.npy", lapNpy("<f8", false, "(3, 3)", lapF64Bytes(nanCost)))}, "cost[1][2] is NaN"},
		{"posinf-max", []string{"--maximize", "--cost", write("inf.npy", lapNpy("<f8", false, "(3, 3)", lapF64Bytes(posInf)))}, "cost[0][1] = +Inf"},
		{"fortran", []string{"--cost", write("f.npy", lapNpy("<f8", true, "(3, 3)", lapF64Bytes(lapCost3)))}, "Fortran order"},
		{"dtype", []string{"--cost", write("i.npy", lapNpy("<i8", false, "(3, 3)", lapF64Bytes(lapCost3)))}, "dtype"},
		{"shape1d", []string{"--cost", write("s.npy", lapNpy("<f8", false, "(9,)", lapF64Bytes(lapCost3)))}, "2-D"},
		{"short", []string{"--cost", write("short.npy", lapNpy("<f8", false, "(3, 4)", lapF64Bytes(lapCost3)))}, "needs 96 data bytes, file has 72"},
		{"magic", []string{"--cost", write("bad.npy", []byte("hello world, not numpy"))}, "magic"},
		{"header", []string{"--cost", write("h.npy", lapNpy("<f8", false, "(3, 3", lapF64Bytes(lapCost3)))}, "header"},
		{"st-name", []string{"--cost", write("x.safetensors", lapSafetensors("w", "F64", []int{3, 3}, lapF64Bytes(lapCost3)))}, `no tensor named "cost"`},
		{"st-dtype", []string{"--cost", write("y.safetensors", lapSafetensors("cost", "I64", []int{3, 3}, lapF64Bytes(lapCost3)))}, "want F32 or F64"},
		{"infeasible", []string{"--cost", write("inf2.npy", lapNpy("<f8", false, "(2, 2)", lapF64Bytes([]float64{1, math.Inf(1), 2, math.Inf(1)})))}, "no feasible assignment"},
		{"extra", []string{"--cost", "a", "b"}, "unexpected argument"},
		{"threads", []string{"--threads", "0", "--cost", write("t.npy", lapNpy("<f8", false, "(3, 3)", lapF64Bytes(lapCost3)))}, "--threads 0: want 1 to 4096"},
	}
	for _, tc := range cases {
		_, errs, code := runLapCLI(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.substr) {
			t.Errorf("%s: exit %d, stderr %q, want it to contain %q", tc.name, code, errs, tc.substr)
		}
	}
}

// FuzzLapNpy feeds arbitrary bytes to the .npy reader: it must return a
// matrix consistent with the file size or an error, never panic.
func FuzzLapNpy(f *testing.F) {
	f.Add(lapNpy("<f8", false, "(3, 3)", lapF64Bytes(lapCost3)))
	f.Add(lapNpy("<f4", false, "(2, 1)", lapF32Bytes([]float32{1, 2})))
	f.Add(lapNpy(">f8", false, "(1, 1)", make([]byte, 8)))
	f.Add([]byte("\x93NUMPY\x02\x00\x10\x00\x00\x00{'shape': (1,1)}"))
	f.Add([]byte("\x93NUMPY\x01\x00\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mat, err := lapParseNpy(b)
		if err != nil {
			return
		}
		if got := len(mat.f32) + len(mat.f64); got != mat.n*mat.m {
			t.Fatalf("matrix %d×%d holds %d values", mat.n, mat.m, got)
		}
	})
}

// TestLapCLIThreads solves a matrix large enough for the candidate lists
// with --threads 1 and 3: the same assignment, byte for byte.
func TestLapCLIThreads(t *testing.T) {
	dir := t.TempDir()
	n := 1300 // float32: 6.8 MB, past the size where the lists are built
	r := rand.New(rand.NewPCG(3, 4))
	c := make([]float32, n*n)
	for k := range c {
		c[k] = float32(r.Float64())
	}
	cost := filepath.Join(dir, "c.npy")
	if err := os.WriteFile(cost, lapNpy("<f4", false, fmt.Sprintf("(%d, %d)", n, n), lapF32Bytes(c)), 0o644); err != nil {
		t.Fatal(err)
	}
	var got [2][]byte
	for i, th := range []string{"1", "3"} {
		out := filepath.Join(dir, "a"+th+".json")
		if _, errs, code := runLapCLI(t, "--threads", th, "--cost", cost, "--out", out); code != 0 {
			t.Fatalf("--threads %s: exit %d: %s", th, code, errs)
		}
		got[i], _ = os.ReadFile(out)
	}
	if len(got[0]) == 0 || !bytes.Equal(got[0], got[1]) {
		t.Fatal("--threads 3 gave another assignment than --threads 1")
	}
}
