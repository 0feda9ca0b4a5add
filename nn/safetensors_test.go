package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawSafetensors builds a file from a header string and data bytes.
func rawSafetensors(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestSafetensorsRoundTrip(t *testing.T) {
	p := NewParamSet()
	_ = p.Add("a.weight", &Tensor{Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}})
	_ = p.Add("b", &Tensor{Shape: []int{}, Data: []float32{7}})
	_ = p.Add("bn.num_batches_tracked", &Tensor{Shape: []int{}, Data: []float32{12}})
	_ = p.Add("empty", &Tensor{Shape: []int{0, 4}, Data: []float32{}})
	// Longer than one encoding chunk (2¹⁸ values), not a multiple of it.
	big := &Tensor{Shape: []int{3, 100003}, Data: make([]float32, 300009)}
	for i := range big.Data {
		big.Data[i] = float32(i) - 0.5
	}
	_ = p.Add("big", big)
	var buf bytes.Buffer
	opt := SaveOptions{Metadata: map[string]string{"k": "v"}, Int64: map[string]bool{"bn.num_batches_tracked": true}}
	if err := WriteSafetensors(&buf, p, opt); err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(buf.Bytes()); (8+hl)%8 != 0 {
		t.Errorf("header length %d leaves the data unaligned", hl)
	}
	f, err := ParseSafetensors(buf.Bytes(), "mem")
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata %v", f.Metadata)
	}
	if e := f.Get("bn.num_batches_tracked"); e.DType != "I64" {
		t.Errorf("num_batches_tracked written as %s, want I64", e.DType)
	}
	q := f.ParamSet()
	for _, name := range p.Names() {
		a, b := p.Get(name), q.Get(name)
		if b == nil || !shapeEq(a.Shape, b.Shape) || len(a.Data) != len(b.Data) {
			t.Fatalf("%s: got %+v, want %+v", name, b, a)
		}
		for i := range a.Data {
			if a.Data[i] != b.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, b.Data[i], a.Data[i])
			}
		}
	}
}

func TestSafetensorsHalfConversions(t *testing.T) {
	// F16: 1.0, -2.0, 65504 (max), smallest subnormal 2^-24, +Inf, 0.5.
	f16 := []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3800}
	want16 := []float32{1, -2, 65504, float32(math.Ldexp(1, -24)), float32(math.Inf(1)), 0.5}
	// BF16: 1.0, -3.0, 1/3 (truncated bits 0x3eab).
	bf := []uint16{0x3f80, 0xc040, 0x3eab}
	wantbf := []float32{1, -3, math.Float32frombits(0x3eab0000)}
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, f16)
	binary.Write(&data, binary.LittleEndian, bf)
	binary.Write(&data, binary.LittleEndian, []int64{-5, 1 << 40})
	hdr := `{"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]},"i":{"dtype":"I64","shape":[2],"data_offsets":[18,34]}}`
	f, err := ParseSafetensors(rawSafetensors(hdr, data.Bytes()), "mem")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f.Get("h").Float32() {
		if v != want16[i] {
			t.Errorf("F16[%d] = %v, want %v", i, v, want16[i])
		}
	}
	for i, v := range f.Get("b").Float32() {
		if v != wantbf[i] {
			t.Errorf("BF16[%d] = %v, want %v", i, v, wantbf[i])
		}
	}
	ints, err := f.Get("i").Int64s()
	if err != nil || ints[0] != -5 || ints[1] != 1<<40 {
		t.Errorf("I64 = %v, %v", ints, err)
	}
	// Every finite F16 value widens exactly: compare with float64 math.
	for h := 0; h < 1<<16; h++ {
		exp := (h >> 10) & 0x1f
		if exp == 0x1f {
			continue
		}
		man := float64(h & 0x3ff)
		var v float64
		if exp == 0 {
			v = man * math.Ldexp(1, -24)
		} else {
			v = (1 + man/1024) * math.Ldexp(1, exp-15)
		}
		if h&0x8000 != 0 {
			v = -v
		}
		if got := f16ToF32(uint16(h)); float64(got) != v {
			t.Fatalf("f16 %#04x → %v, want %v", h, got, v)
		}
	}
}

func TestSafetensorsMalformed(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	d8 := make([]byte, 8)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"header past end", rawSafetensors(good, d8)[:20], "past the end"},
		{"huge header", append(binary.LittleEndian.AppendUint64(nil, 1<<40), d8...), "exceeds"},
		{"not json", rawSafetensors(`{"a":`, d8), "malformed"},
		{"not object", rawSafetensors(`[1,2]`, d8), "not a JSON object"},
		{"bad dtype", rawSafetensors(`{"a":{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}}`, d8), "unsupported dtype"},
		{"offsets outside", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}`, d8), "outside"},
		{"reversed offsets", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, d8), "outside"},
		{"size mismatch", rawSafetensors(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, d8), "needs 12 bytes"},
		{"negative shape", rawSafetensors(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, d8), "invalid shape"},
		{"huge shape", rawSafetensors(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, d8), "shape"},
		{"duplicate", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "twice"},
		{"overlap", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "overlap"},
		{"hole", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), "hole"},
		{"trailing data", rawSafetensors(good, make([]byte, 12)), "after the last"},
		{"bad metadata", rawSafetensors(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"offsets arity", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, d8), "data_offsets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSafetensors(c.file, "bad.safetensors")
			if err == nil {
				t.Fatalf("accepted a malformed file")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Errorf("error %q should mention %q and the file", err, c.want)
			}
		})
	}
}

func TestCheckpointValidation(t *testing.T) {
	dir := t.TempDir()
	m, err := NewModel("mlp", ModelConfig{Width: 4, InputShape: []int{3}, NumClasses: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := m.Init(1)
	path := filepath.Join(dir, "c.safetensors")
	if err := SaveCheckpoint(path, m, p, nil); err != nil {
		t.Fatal(err)
	}
	q, err := LoadCheckpoint(path, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Names() {
		if !shapeEq(q.Get(n).Shape, p.Get(n).Shape) || q.Get(n).Data[0] != p.Get(n).Data[0] {
			t.Errorf("%s differs after the round trip", n)
		}
	}
	other, _ := NewModel("mlp", ModelConfig{Width: 5, InputShape: []int{3}, NumClasses: 2})
	if _, err := LoadCheckpoint(path, other); err == nil || !strings.Contains(err.Error(), `"linear1.weight" has shape [4 3], model mlp expects [5 3]`) {
		t.Errorf("shape mismatch error: %v", err)
	}
	// Missing and extra tensors.
	miss := NewParamSet()
	_ = miss.Add("linear1.weight", p.Get("linear1.weight"))
	if err := SaveSafetensors(filepath.Join(dir, "miss.safetensors"), miss, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "miss.safetensors"), m); err == nil || !strings.Contains(err.Error(), `"linear2.weight" missing`) {
		t.Errorf("missing tensor error: %v", err)
	}
	extra := p.Clone()
	_ = extra.Add("linear3.weight", NewTensor(1))
	if err := SaveSafetensors(filepath.Join(dir, "extra.safetensors"), extra, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "extra.safetensors"), m); err == nil || !strings.Contains(err.Error(), `"linear3.weight" is not a parameter`) {
		t.Errorf("extra tensor error: %v", err)
	}
	if err := SaveCheckpoint(filepath.Join(dir, "x.safetensors"), other, p, nil); err == nil {
		t.Errorf("SaveCheckpoint accepted parameters of another shape")
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "none.safetensors"), m); err == nil || !strings.Contains(err.Error(), "none.safetensors") {
		t.Errorf("missing file error: %v", err)
	}
	// NaN and Inf in a checkpoint are errors naming tensor and index.
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		nanP := p.Clone()
		nanP.Get("linear2.weight").Data[3] = bad
		if err := SaveSafetensors(filepath.Join(dir, "nan.safetensors"), nanP, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCheckpoint(filepath.Join(dir, "nan.safetensors"), m); err == nil || !strings.Contains(err.Error(), `"linear2.weight" has a non-finite value`) || !strings.Contains(err.Error(), "index 3") {
			t.Errorf("checkpoint with %v: error %v", bad, err)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFileAtomic(path, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("failed write changed the file to %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("failed write left %d entries (temporary file not removed)", len(ents))
	}
}

func FuzzParseSafetensors(f *testing.F) {
	var buf bytes.Buffer
	p := NewParamSet()
	_ = p.Add("w", &Tensor{Shape: []int{2}, Data: []float32{1, 2}})
	_ = WriteSafetensors(&buf, p, SaveOptions{Metadata: map[string]string{"a": "b"}})
	f.Add(buf.Bytes())
	f.Add(rawSafetensors(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, []byte{0, 0x3c}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := ParseSafetensors(b, "fuzz")
		if err != nil {
			return
		}
		for i := range sf.Entries {
			sf.Entries[i].Float32()
			sf.Entries[i].Int64s()
		}
	})
}

// BenchmarkWriteSafetensors encodes the 4096-unit MNIST MLP's parameters
// (3.3 M values, 13 MB) into safetensors, without the file system.
func BenchmarkWriteSafetensors(b *testing.B) {
	m, err := NewModel("mlp", ModelConfig{Width: 4096})
	if err != nil {
		b.Fatal(err)
	}
	p := m.Init(1)
	var n int
	for _, name := range p.Names() {
		n += len(p.Get(name).Data)
	}
	b.SetBytes(int64(4 * n))
	for i := 0; i < b.N; i++ {
		if err := WriteSafetensors(io.Discard, p, SaveOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
