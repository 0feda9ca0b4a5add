package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/ltransfer/ltransfer/nn"
)

// allocated returns the heap bytes f allocates (give or take the
// runtime's bookkeeping, a few MiB: small allocations are counted when a
// cache span is handed back).
func allocated(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// TestNpyBounded: a 128-byte .npy declaring shape (0, 50000000) is refused
// (the solver would allocate for 50,000,000 columns), as is a header whose
// shape the file cannot hold and a device in place of a file.
func TestNpyBounded(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		b    []byte
		kind error
		msg  string
	}{
		"empty.npy": {lapNpy("<f8", false, "(0, 50000000)", nil), nn.ErrShape, "no entries"},
		"huge.npy":  {lapNpy("<f4", false, "(40000, 40000)", make([]byte, 64)), nn.ErrFormat, "needs 6400000000 data bytes"},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, c.b, 0o644)
		var err error
		if got := allocated(func() { _, err = lapReadMatrix(p) }); got > 1<<20 {
			t.Errorf("%s: allocated %d bytes", name, got)
		}
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := lapReadMatrix("/dev/zero"); !errors.Is(err, nn.ErrFormat) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("/dev/zero: %v", err)
		}
	}
}

// FuzzNpy parses the input as a .npy cost matrix: no panic, an error that
// wraps nn.ErrFormat or nn.ErrShape, and memory bounded by the input.
//
//	go test -run '^$' -fuzz FuzzNpy -fuzztime 1000000x -parallel 1 ./cmd/ltransfer/
func FuzzNpy(f *testing.F) {
	f.Add(lapNpy("<f8", false, "(2, 2)", lapF64Bytes([]float64{1, 2, 3, 4})))
	f.Add(lapNpy(">f4", false, "(1, 3)", lapF32Bytes([]float32{1, 2, 3})))
	f.Add(lapNpy("<f8", false, "(0, 50000000)", nil))
	f.Add(lapNpy("<f4", true, "(2,)", nil))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x00{}"))
	f.Add([]byte("\x93NUMPY\x01\x00\x05\x00{'a'}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var err error
		if got, bound := allocated(func() { _, err = lapParseNpy(b) }), 16*uint64(len(b))+4<<20; got > bound {
			t.Fatalf("allocated %d bytes for a %d-byte input (bound %d)", got, len(b), bound)
		}
		if err != nil && !errors.Is(err, nn.ErrFormat) && !errors.Is(err, nn.ErrShape) {
			t.Fatalf("error without a sentinel: %v", err)
		}
	})
}
