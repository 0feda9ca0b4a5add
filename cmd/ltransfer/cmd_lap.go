package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ltransfer/ltransfer/lap"
	"github.com/ltransfer/ltransfer/nn"
)

func init() {
	register("lap", "solve a linear assignment problem from a .npy or safetensors cost matrix", runLap)
}

func runLap(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	costPath := fs.String("cost", "", "cost matrix: .npy (float32/float64, C order, 2-D) or .safetensors (tensor \"cost\", F32/F64, 2-D)")
	maximize := fs.Bool("maximize", false, "maximise the total instead of minimising (-Inf marks a forbidden pair; +Inf when minimising)")
	outPath := fs.String("out", "", "write the assignment as JSON to this file (atomically)")
	force := fs.Bool("force", false, "replace --out if it exists")
	asJSON := fs.Bool("json", false, `print one JSON line {"n","m","objective","seconds"} instead of text`)
	threads := fs.Int("threads", 1, "goroutines for the solver's phases that read the whole matrix row by row (the candidate lists of a matrix of 2^20 entries or more); the assignment is the same for any value")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ltransfer lap --cost FILE [--maximize] [--out FILE] [--json]\n\n"+
			"Solves the assignment problem exactly. An n×m matrix with n > m is solved transposed;\n"+
			"rows left without a column get -1 in the assignment. seconds excludes file reading.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := checkNumericFlags(fs); err != nil {
		return err
	}
	if *costPath == "" {
		fs.Usage()
		return errors.New("--cost is required")
	}
	if *threads < 1 || *threads > 4096 {
		return fmt.Errorf("--threads %d: want 1 to 4096", *threads)
	}
	if *outPath != "" {
		if err := checkOutFile("--out", *outPath, *force, *costPath); err != nil {
			return err
		}
	}
	mat, err := lapReadMatrix(*costPath)
	if err != nil {
		return err
	}

	// Collect the file buffer now so that no GC cycle runs inside the
	// timed solve.
	runtime.GC()
	start := time.Now()
	rowToCol, obj, err := lapSolveMatrix(mat, *maximize, *threads)
	secs := time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%s: %w", *costPath, err)
	}
	if *outPath != "" {
		out := struct {
			N         int     `json:"n"`
			M         int     `json:"m"`
			Maximize  bool    `json:"maximize"`
			Objective float64 `json:"objective"`
			RowToCol  []int   `json:"row_to_col"`
		}{mat.n, mat.m, *maximize, obj, rowToCol}
		buf, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if err := lapWriteFileAtomic(*outPath, append(buf, '\n')); err != nil {
			return err
		}
	}
	if *asJSON {
		line, _ := json.Marshal(struct {
			N         int     `json:"n"`
			M         int     `json:"m"`
			Objective float64 `json:"objective"`
			Seconds   float64 `json:"seconds"`
		}{mat.n, mat.m, obj, secs})
		fmt.Fprintln(stdout, string(line))
		return nil
	}
	sense := "minimum"
	if *maximize {
		sense = "maximum"
	}
	fmt.Fprintf(stdout, "%d×%d %s objective %s in %.4f s\n", mat.n, mat.m, sense, strconv.FormatFloat(obj, 'g', -1, 64), secs)
	return nil
}

// lapMatrix is a 2-D matrix read from a file, in one of two precisions.
type lapMatrix struct {
	n, m int
	f32  []float32
	f64  []float64
}

func (c *lapMatrix) at(i, j int) float64 {
	if c.f32 != nil {
		return float64(c.f32[i*c.m+j])
	}
	return c.f64[i*c.m+j]
}

// lapSolveMatrix solves mat, transposed when it has more rows than columns,
// and returns the row → column assignment of mat (-1 for unassigned rows).
func lapSolveMatrix(mat *lapMatrix, maximize bool, threads int) ([]int, float64, error) {
	opt := &lap.Options{Maximize: maximize, Parallel: func() (int, func()) { return threads, nil }}
	n, m := mat.n, mat.m
	transpose := n > m
	negated := false
	if maximize && mat.f64 != nil && !transpose {
		// The library would copy a float64 matrix to negate it; this one is
		// ours, so negate it in place (−Inf, forbidden when maximising,
		// becomes +Inf, forbidden when minimising).
		for k, x := range mat.f64 {
			mat.f64[k] = -x
		}
		opt.Maximize, negated = false, true
	}
	var res *lap.Result
	var err error
	switch {
	case !transpose && mat.f32 != nil:
		res, err = lap.SolveFloat32(n, m, mat.f32, opt)
	case !transpose:
		res, err = lap.SolveFloat64(n, m, mat.f64, opt)
	case mat.f32 != nil:
		t := make([]float32, n*m)
		for i := 0; i < n; i++ {
			for j := 0; j < m; j++ {
				t[j*n+i] = mat.f32[i*m+j]
			}
		}
		res, err = lap.SolveFloat32(m, n, t, opt)
	default:
		t := make([]float64, n*m)
		for i := 0; i < n; i++ {
			for j := 0; j < m; j++ {
				t[j*n+i] = mat.f64[i*m+j]
			}
		}
		res, err = lap.SolveFloat64(m, n, t, opt)
	}
	if err != nil && negated {
		// Report the error in the caller's terms: undo the negation and let
		// the library validate the maximisation itself.
		for k, x := range mat.f64 {
			mat.f64[k] = -x
		}
		opt.Maximize = true
		if _, err2 := lap.SolveFloat64(n, m, mat.f64, opt); err2 != nil {
			err = err2
		}
	}
	if err != nil {
		if transpose {
			// Errors name rows and columns of the transposed problem.
			return nil, 0, fmt.Errorf("(solved transposed, rows and columns swapped) %w", err)
		}
		return nil, 0, err
	}
	if !transpose {
		if negated {
			return res.RowToCol, -res.Objective, nil
		}
		return res.RowToCol, res.Objective, nil
	}
	rowToCol := make([]int, n)
	for i := range rowToCol {
		rowToCol[i] = -1
	}
	for j, i := range res.RowToCol {
		rowToCol[i] = j
	}
	return rowToCol, res.Objective, nil
}

// lapReadMatrix reads a .npy or safetensors file, chosen by its content.
// Only a regular file is read (its size bounds every allocation), and its
// header is checked against that size before the data is read.
func lapReadMatrix(path string) (*lapMatrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, lapKind(nn.ErrFormat, fmt.Errorf("%q is not a regular file (want a .npy or safetensors file)", path))
	}
	var magic [6]byte
	k, _ := io.ReadFull(f, magic[:])
	if string(magic[:k]) == "\x93NUMPY" {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		mat, err := lapReadNpy(f, st.Size())
		if err != nil {
			return nil, fmt.Errorf("npy %q: %w", path, err)
		}
		return mat, nil
	}
	if strings.HasSuffix(path, ".npy") {
		return nil, lapKind(nn.ErrFormat, fmt.Errorf("npy %q: missing the \\x93NUMPY magic (not a .npy file)", path))
	}
	sf, err := nn.ReadSafetensorsFile(path)
	if err != nil {
		return nil, err
	}
	e := sf.Get("cost")
	if e == nil {
		return nil, fmt.Errorf("safetensors %q: no tensor named \"cost\"", path)
	}
	if len(e.Shape) != 2 {
		return nil, lapKind(nn.ErrShape, fmt.Errorf("safetensors %q: tensor \"cost\" has shape %v, want 2-D [n m]", path, e.Shape))
	}
	if err := lapCheckShape(e.Shape[0], e.Shape[1]); err != nil {
		return nil, fmt.Errorf("safetensors %q: tensor \"cost\": %w", path, err)
	}
	mat := &lapMatrix{n: e.Shape[0], m: e.Shape[1]}
	switch e.DType {
	case "F32":
		mat.f32 = lapDecodeF32(e.Data, binary.LittleEndian)
	case "F64":
		mat.f64 = lapDecodeF64(e.Data, binary.LittleEndian)
	default:
		return nil, fmt.Errorf("safetensors %q: tensor \"cost\" has dtype %s, want F32 or F64", path, e.DType)
	}
	return mat, nil
}

// lapKindError keeps err's message and adds a sentinel kind (nn.ErrFormat,
// nn.ErrShape) to its chain for errors.Is.
type lapKindError struct{ err, kind error }

func (e *lapKindError) Error() string   { return e.err.Error() }
func (e *lapKindError) Unwrap() []error { return []error{e.err, e.kind} }

func lapKind(kind, err error) error { return &lapKindError{err, kind} }

// lapCheckShape refuses an empty matrix: the solver's work and memory
// grow with both sides, and a 0 × 50,000,000 matrix, which a 128-byte
// file can declare, has nothing to assign.
func lapCheckShape(n, m int) error {
	if n == 0 || m == 0 {
		return lapKind(nn.ErrShape, fmt.Errorf("shape (%d, %d) has no entries: nothing to assign", n, m))
	}
	return nil
}

func lapDecodeF32(b []byte, o binary.ByteOrder) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(o.Uint32(b[4*i:]))
	}
	return out
}

func lapDecodeF64(b []byte, o binary.ByteOrder) []float64 {
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(o.Uint64(b[8*i:]))
	}
	return out
}

// lapParseNpy validates a .npy file held in buf (format 1.0, 2.0 or 3.0)
// holding a 2-D float32 or float64 array in C order, and decodes it.
func lapParseNpy(buf []byte) (*lapMatrix, error) {
	return lapReadNpy(bytes.NewReader(buf), int64(len(buf)))
}

// lapReadNpy reads a .npy file of size bytes from r: the header first,
// whose shape must account for exactly the bytes that follow it, and
// only then the data, so nothing is allocated beyond the file's size.
// Errors wrap nn.ErrFormat or nn.ErrShape.
func lapReadNpy(r io.Reader, size int64) (*lapMatrix, error) {
	bad := func(format string, a ...any) error {
		return lapKind(nn.ErrFormat, fmt.Errorf(format, a...))
	}
	var pre [12]byte
	if size < 10 {
		return nil, bad("file has %d bytes, too short for a header", size)
	}
	if _, err := io.ReadFull(r, pre[:10]); err != nil {
		return nil, bad("reading the header: %v", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, bad("missing the \\x93NUMPY magic (not a .npy file)")
	}
	major := pre[6]
	var hlen, off int64
	switch major {
	case 1:
		hlen, off = int64(binary.LittleEndian.Uint16(pre[8:])), 10
	case 2, 3:
		if size < 12 {
			return nil, bad("file has %d bytes, too short for a version %d header", size, major)
		}
		if _, err := io.ReadFull(r, pre[10:12]); err != nil {
			return nil, bad("reading the header: %v", err)
		}
		h := binary.LittleEndian.Uint32(pre[8:])
		if h > 1<<24 {
			return nil, bad("header length %d is implausible", h)
		}
		hlen, off = int64(h), 12
	default:
		return nil, bad("unsupported format version %d.%d", major, pre[7])
	}
	if off+hlen > size {
		return nil, bad("header length %d runs past the end of the %d-byte file", hlen, size)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, bad("reading the header: %v", err)
	}
	hdr, err := lapParseNpyHeader(string(hb))
	if err != nil {
		return nil, bad("header: %v", err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	var esize int64
	switch hdr.descr {
	case "<f4", "|f4", "=f4":
		esize = 4
	case ">f4":
		esize, order = 4, binary.BigEndian
	case "<f8", "|f8", "=f8":
		esize = 8
	case ">f8":
		esize, order = 8, binary.BigEndian
	default:
		return nil, bad("dtype %q, want float32 ('<f4') or float64 ('<f8')", hdr.descr)
	}
	if hdr.fortran {
		return nil, bad("array is in Fortran order, want C order (np.ascontiguousarray)")
	}
	if len(hdr.shape) != 2 {
		return nil, lapKind(nn.ErrShape, fmt.Errorf("shape %v, want a 2-D matrix (n, m)", hdr.shape))
	}
	n, m := hdr.shape[0], hdr.shape[1]
	if err := lapCheckShape(n, m); err != nil {
		return nil, err
	}
	if n > math.MaxInt32/m {
		return nil, bad("shape (%d, %d) is too large", n, m)
	}
	dataLen := size - off - hlen
	if want := int64(n) * int64(m) * esize; dataLen != want {
		return nil, bad("shape (%d, %d) of %d-byte floats needs %d data bytes, file has %d", n, m, esize, want, dataLen)
	}
	data := make([]byte, dataLen)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, bad("reading the %d data bytes: %v", dataLen, err)
	}
	mat := &lapMatrix{n: n, m: m}
	if esize == 4 {
		mat.f32 = lapDecodeF32(data, order)
	} else {
		mat.f64 = lapDecodeF64(data, order)
	}
	return mat, nil
}

type lapNpyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// lapParseNpyHeader parses the Python dict literal of a .npy header: exactly
// the keys descr (a string), fortran_order (True/False) and shape (a tuple
// of non-negative ints).
func lapParseNpyHeader(s string) (*lapNpyHeader, error) {
	p := &lapPyLit{s: strings.TrimRight(s, " \n\x00")}
	var h lapNpyHeader
	seen := map[string]bool{}
	if !p.eat("{") {
		return nil, fmt.Errorf("%q does not start with '{'", p.s)
	}
	for !p.eat("}") {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q repeats", key)
		}
		seen[key] = true
		if !p.eat(":") {
			return nil, fmt.Errorf("missing ':' after key %q", key)
		}
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return nil, err
			}
		case "fortran_order":
			switch {
			case p.eat("True"):
				h.fortran = true
			case p.eat("False"):
			default:
				return nil, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected key %q", key)
		}
		if !p.eat(",") && !strings.HasPrefix(strings.TrimSpace(p.s[p.i:]), "}") {
			return nil, fmt.Errorf("expected ',' or '}' after %q", key)
		}
	}
	if strings.TrimSpace(p.s[p.i:]) != "" {
		return nil, fmt.Errorf("trailing text %q after the header dict", p.s[p.i:])
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, fmt.Errorf("missing key %q", k)
		}
	}
	return &h, nil
}

// lapPyLit scans the small subset of Python literals a .npy header uses.
type lapPyLit struct {
	s string
	i int
}

func (p *lapPyLit) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *lapPyLit) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *lapPyLit) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("expected a quoted string at offset %d", p.i)
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *lapPyLit) tuple() ([]int, error) {
	if !p.eat("(") {
		return nil, errors.New("shape is not a tuple")
	}
	var dims []int
	for !p.eat(")") {
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i || j-p.i > 9 {
			return nil, fmt.Errorf("bad shape dimension at offset %d", p.i)
		}
		d, _ := strconv.Atoi(p.s[p.i:j])
		dims = append(dims, d)
		p.i = j
		if !p.eat(",") {
			p.skip()
			if !strings.HasPrefix(p.s[p.i:], ")") {
				return nil, errors.New("shape tuple is malformed")
			}
		}
	}
	return dims, nil
}

// lapWriteFileAtomic writes data through nn.WriteFileAtomic, so readers
// never see a half-written file.
func lapWriteFileAtomic(path string, data []byte) error {
	return nn.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
