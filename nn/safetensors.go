package nn

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/ltransfer/ltransfer/internal/hugemem"
)

// maxHeader bounds the JSON header, as the reference implementation does.
const maxHeader = 100 << 20

// dtypeSize lists the safetensors dtypes we read and their element sizes.
var dtypeSize = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

// SafetensorsEntry is one tensor of a safetensors file: its raw
// little-endian bytes and how to read them.
type SafetensorsEntry struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// SafetensorsFile is a parsed safetensors file. Entries are in file
// (offset) order; their Data alias the buffer given to ParseSafetensors.
type SafetensorsFile struct {
	Source   string
	Entries  []SafetensorsEntry
	Metadata map[string]string
	byName   map[string]int
}

// Get returns the named entry or nil.
func (f *SafetensorsFile) Get(name string) *SafetensorsEntry {
	i, ok := f.byName[name]
	if !ok {
		return nil
	}
	return &f.Entries[i]
}

// ReadSafetensorsFile reads and validates a safetensors file. The 8-byte
// length and the header are read and checked against the file's size
// before the data section is read, so a file with a bad header costs no
// more than its header; only regular files (of known size) are read, so
// a device such as /dev/zero is refused at once. Errors wrap ErrFormat.
func ReadSafetensorsFile(path string) (*SafetensorsFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, errFormatf("safetensors %q: not a regular file (a %s)", path, fileKind(st.Mode()))
	}
	size := uint64(st.Size())
	var lenb [8]byte
	if size >= 8 {
		if _, err := io.ReadFull(fh, lenb[:]); err != nil {
			return nil, errFormatf("safetensors %q: reading the header length: %w", path, err)
		}
	}
	hlen, err := checkSafetensorsLen(lenb, size, path)
	if err != nil {
		return nil, err
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(fh, header); err != nil {
		return nil, errFormatf("safetensors %q: reading the %d-byte header: %w", path, hlen, err)
	}
	f, offs, err := parseSafetensorsHeader(header, size-8-hlen, size, path)
	if err != nil {
		return nil, err
	}
	data := make([]byte, size-8-hlen)
	if _, err := io.ReadFull(fh, data); err != nil {
		return nil, errFormatf("safetensors %q: reading the %d-byte data section: %w", path, len(data), err)
	}
	f.bind(data, offs)
	return f, nil
}

// fileKind names a non-regular file's type for errors.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeNamedPipe != 0:
		return "pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

type stHeaderEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// ParseSafetensors validates and indexes a safetensors file held in buf;
// source names the file in errors. It checks the header length and JSON
// bounds, dtypes, shapes, that every tensor's byte range lies inside the
// file and matches its shape, that ranges neither overlap nor leave holes,
// and that no name repeats. Errors wrap ErrFormat.
func ParseSafetensors(buf []byte, source string) (*SafetensorsFile, error) {
	var lenb [8]byte
	copy(lenb[:], buf)
	hlen, err := checkSafetensorsLen(lenb, uint64(len(buf)), source)
	if err != nil {
		return nil, err
	}
	data := buf[8+hlen:]
	f, offs, err := parseSafetensorsHeader(buf[8:8+hlen], uint64(len(data)), uint64(len(buf)), source)
	if err != nil {
		return nil, err
	}
	f.bind(data, offs)
	return f, nil
}

// checkSafetensorsLen checks the little-endian header length lenb of a
// file of size bytes.
func checkSafetensorsLen(lenb [8]byte, size uint64, source string) (uint64, error) {
	if size < 8 {
		return 0, errFormatf("safetensors %q: file has %d bytes, too short for the 8-byte header length", source, size)
	}
	hlen := binary.LittleEndian.Uint64(lenb[:])
	if hlen > maxHeader {
		return 0, errFormatf("safetensors %q: header length %d exceeds the %d-byte limit (not a safetensors file?)", source, hlen, maxHeader)
	}
	if hlen > size-8 {
		return 0, errFormatf("safetensors %q: header length %d runs past the end of the %d-byte file (truncated?)", source, hlen, size)
	}
	return hlen, nil
}

// bind points the entries at their bytes in the data section.
func (f *SafetensorsFile) bind(data []byte, offs [][2]uint64) {
	for i := range f.Entries {
		f.Entries[i].Data = data[offs[i][0]:offs[i][1]]
	}
}

// parseSafetensorsHeader validates the JSON header against a data section
// of dataLen bytes (in a file of fileLen bytes) and returns the entries in
// offset order with their byte ranges; Data is left unset.
func parseSafetensorsHeader(header []byte, dataLen, fileLen uint64, source string) (*SafetensorsFile, [][2]uint64, error) {
	bad := func(format string, a ...any) error {
		return errFormatf("safetensors %q: %s", source, fmt.Sprintf(format, a...))
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, bad("header is not a JSON object")
	}
	f := &SafetensorsFile{Source: source, byName: map[string]int{}}
	type span struct {
		begin, end uint64
		name       string
	}
	var spans []span
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, bad("malformed header JSON: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, bad("malformed header JSON: key %v is not a string", tok)
		}
		if seen[name] {
			return nil, nil, bad("tensor name %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, bad("__metadata__ must map strings to strings: %v", err)
			}
			f.Metadata = meta
			continue
		}
		var h stHeaderEntry
		if err := dec.Decode(&h); err != nil {
			return nil, nil, bad("tensor %q: malformed header entry: %v", name, err)
		}
		size, ok := dtypeSize[h.DType]
		if !ok {
			return nil, nil, bad("tensor %q: unsupported dtype %q (want F32, F16, BF16, F64 or an integer type)", name, h.DType)
		}
		if len(h.DataOffsets) != 2 {
			return nil, nil, bad("tensor %q: data_offsets must hold [begin, end], got %v", name, h.DataOffsets)
		}
		shape := make([]int, len(h.Shape))
		numel := uint64(1)
		for i, d := range h.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, nil, bad("tensor %q: invalid shape %v", name, h.Shape)
			}
			shape[i] = int(d)
			numel *= uint64(d)
			if numel > fileLen {
				return nil, nil, bad("tensor %q: shape %v needs more bytes than the file has", name, h.Shape)
			}
		}
		b, e := h.DataOffsets[0], h.DataOffsets[1]
		if b > e || e > dataLen {
			return nil, nil, bad("tensor %q: data_offsets [%d, %d] outside the %d-byte data section", name, b, e, dataLen)
		}
		if e-b != numel*uint64(size) {
			return nil, nil, bad("tensor %q: %s %v needs %d bytes, data_offsets give %d", name, h.DType, shape, numel*uint64(size), e-b)
		}
		f.Entries = append(f.Entries, SafetensorsEntry{Name: name, DType: h.DType, Shape: shape})
		spans = append(spans, span{b, e, name})
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, bad("malformed header JSON: %v", err)
	}
	if rest := bytes.TrimSpace(header[dec.InputOffset():]); len(rest) != 0 {
		return nil, nil, bad("trailing bytes after the header JSON object")
	}
	// Entries in offset order; the byte ranges must tile the data section.
	order := make([]int, len(spans))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return spans[order[a]].begin < spans[order[b]].begin })
	var pos uint64
	entries := make([]SafetensorsEntry, len(order))
	offs := make([][2]uint64, len(order))
	for k, i := range order {
		s := spans[i]
		if s.begin < pos {
			return nil, nil, bad("tensor %q: bytes [%d, %d] overlap the previous tensor", s.name, s.begin, s.end)
		}
		if s.begin > pos {
			return nil, nil, bad("tensor %q: hole of %d bytes before its data", s.name, s.begin-pos)
		}
		pos = s.end
		entries[k] = f.Entries[i]
		offs[k] = [2]uint64{s.begin, s.end}
	}
	if pos != dataLen {
		return nil, nil, bad("%d bytes after the last tensor's data", dataLen-pos)
	}
	f.Entries = entries
	for i, e := range f.Entries {
		f.byName[e.Name] = i
	}
	return f, offs, nil
}

// Numel is the entry's element count.
func (e *SafetensorsEntry) Numel() int { return Numel(e.Shape) }

// Float32 converts the entry to float32 (F16 and BF16 widen exactly; F64
// and integers round to nearest).
func (e *SafetensorsEntry) Float32() []float32 {
	n := e.Numel()
	out := hugemem.Float32s(n)
	d := e.Data
	le := binary.LittleEndian
	switch e.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(d[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = f16ToF32(le.Uint16(d[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(d[2*i:])) << 16)
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(d[8*i:])))
		}
	default:
		for i, v := range e.ints() {
			out[i] = float32(v)
		}
	}
	return out
}

// Int64s returns the values of an integer (or BOOL) entry; float entries
// are accepted when every value is integral, so labels written as floats
// still load.
func (e *SafetensorsEntry) Int64s() ([]int64, error) {
	switch e.DType {
	case "F32", "F16", "BF16", "F64":
		fs := e.Float32()
		out := make([]int64, len(fs))
		for i, v := range fs {
			if v != float32(math.Trunc(float64(v))) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %q: value %v at index %d is not an integer", e.Name, v, i)
			}
			out[i] = int64(v)
		}
		return out, nil
	}
	return e.ints(), nil
}

func (e *SafetensorsEntry) ints() []int64 {
	n := e.Numel()
	out := make([]int64, n)
	d := e.Data
	le := binary.LittleEndian
	for i := range out {
		switch e.DType {
		case "I64":
			out[i] = int64(le.Uint64(d[8*i:]))
		case "I32":
			out[i] = int64(int32(le.Uint32(d[4*i:])))
		case "I16":
			out[i] = int64(int16(le.Uint16(d[2*i:])))
		case "I8":
			out[i] = int64(int8(d[i]))
		case "U8", "BOOL":
			out[i] = int64(d[i])
		}
	}
	return out
}

// f16ToF32 widens an IEEE half-precision value exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = man · 2^-24.
		v := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// ParamSet returns every entry converted to float32, in file order.
func (f *SafetensorsFile) ParamSet() *ParamSet {
	p := NewParamSet()
	for i := range f.Entries {
		e := &f.Entries[i]
		_ = p.Add(e.Name, &Tensor{Shape: append([]int(nil), e.Shape...), Data: e.Float32()})
	}
	return p
}

// SaveOptions tunes how a parameter set is written.
type SaveOptions struct {
	// Metadata is stored in the header's __metadata__ object.
	Metadata map[string]string
	// Int64 names the tensors written as I64 (rounded); others are F32.
	Int64 map[string]bool
}

// WriteSafetensors writes p in safetensors format, tensors in p's order.
func WriteSafetensors(w io.Writer, p *ParamSet, opt SaveOptions) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	if len(opt.Metadata) > 0 {
		mb, err := json.Marshal(opt.Metadata)
		if err != nil {
			return err
		}
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(mb)
		first = false
	}
	var off uint64
	for _, name := range p.Names() {
		if name == "__metadata__" {
			return fmt.Errorf("safetensors: tensor name %q is reserved", name)
		}
		t := p.Get(name)
		if len(t.Data) != Numel(t.Shape) {
			return fmt.Errorf("safetensors: tensor %q has %d values for shape %v", name, len(t.Data), t.Shape)
		}
		dt, size := "F32", uint64(4)
		if opt.Int64[name] {
			dt, size = "I64", 8
		}
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		nb, _ := json.Marshal(name)
		hdr.Write(nb)
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sb, _ := json.Marshal(shape)
		end := off + uint64(len(t.Data))*size
		fmt.Fprintf(&hdr, `:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, dt, sb, off, end)
		off = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(hdr.Len()))
	bw.Write(lenb[:])
	bw.Write(hdr.Bytes())
	var scratch [8]byte
	longest := 1
	for _, name := range p.Names() {
		longest = max(longest, len(p.Get(name).Data))
	}
	enc := make([]byte, 4*min(longest, 1<<18))
	for _, name := range p.Names() {
		t := p.Get(name)
		if opt.Int64[name] {
			for _, v := range t.Data {
				binary.LittleEndian.PutUint64(scratch[:], uint64(int64(math.Round(float64(v)))))
				bw.Write(scratch[:8])
			}
			continue
		}
		// Encoded a chunk at a time: one Write per 256 Ki values, not per value.
		for lo := 0; lo < len(t.Data); lo += len(enc) / 4 {
			chunk := t.Data[lo:min(len(t.Data), lo+len(enc)/4)]
			for i, v := range chunk {
				binary.LittleEndian.PutUint32(enc[4*i:], math.Float32bits(v))
			}
			bw.Write(enc[:4*len(chunk)])
		}
	}
	return bw.Flush()
}

// SaveSafetensors writes p to path atomically (temporary file + rename).
func SaveSafetensors(path string, p *ParamSet, opt SaveOptions) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return WriteSafetensors(w, p, opt) })
}

// WriteFileAtomic writes a file through write into a temporary file in the
// same folder and renames it into place, so readers never see a partial
// file and a failed write leaves any previous file untouched.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SaveCheckpoint validates p against m and writes it atomically, with the
// model's integer buffers as I64, so PyTorch's load_state_dict accepts it.
func SaveCheckpoint(path string, m Model, p *ParamSet, meta map[string]string) error {
	if err := CheckParams(m, p, "parameters"); err != nil {
		return err
	}
	opt := SaveOptions{Metadata: meta, Int64: map[string]bool{}}
	ordered := NewParamSet()
	for _, pi := range m.State() {
		if pi.Int64 {
			opt.Int64[pi.Name] = true
		}
		_ = ordered.Add(pi.Name, p.Get(pi.Name))
	}
	return SaveSafetensors(path, ordered, opt)
}

// LoadCheckpoint reads a safetensors checkpoint for model m: every state
// entry must be present with the model's shape, nothing else may be there;
// the result is in the model's order, in float32.
func LoadCheckpoint(path string, m Model) (*ParamSet, error) {
	f, err := ReadSafetensorsFile(path)
	if err != nil {
		return nil, err
	}
	return CheckpointFromFile(f, m)
}

// CheckpointFromFile converts a parsed file into model m's parameter set,
// with the checks of LoadCheckpoint. A NaN or ±Inf anywhere is an error
// naming the tensor and index: no model state legitimately holds one.
func CheckpointFromFile(f *SafetensorsFile, m Model) (*ParamSet, error) {
	p := NewParamSet()
	for _, pi := range m.State() {
		e := f.Get(pi.Name)
		if e == nil {
			return nil, missingTensorError(f, m, pi)
		}
		if !shapeEq(e.Shape, pi.Shape) {
			return nil, withKind(ErrShape, shapeMismatchError(f, m, pi, e.Shape))
		}
		switch e.DType {
		case "F32", "F16", "BF16", "F64":
		default:
			if !pi.Int64 {
				return nil, fmt.Errorf("checkpoint %q: tensor %q has integer dtype %s, model %s expects floats", f.Source, pi.Name, e.DType, m.Arch())
			}
		}
		data := e.Float32()
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, withKind(ErrNonFinite, fmt.Errorf("checkpoint %q: tensor %q has a non-finite value %v at index %d", f.Source, pi.Name, v, i))
			}
		}
		_ = p.Add(pi.Name, &Tensor{Shape: append([]int(nil), e.Shape...), Data: data})
	}
	if len(f.Entries) != p.Len() {
		for _, e := range f.Entries {
			if p.Get(e.Name) == nil {
				return nil, extraTensorError(f, m, e.Name)
			}
		}
	}
	return p, nil
}
