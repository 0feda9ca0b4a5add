package asm

import (
	"fmt"
	"os"
	"strings"
)

// Path names one implementation of the numerical routines.
type Path uint8

const (
	// Generic is the pure-Go path: correct on every GOARCH, and the test oracle.
	Generic Path = iota
	// AVX2 uses 256-bit AVX2 and FMA3 instructions.
	AVX2
	// AVX512 uses 512-bit AVX-512 (F, BW, DQ, VL) instructions.
	AVX512
)

// EnvVar is the environment variable that forces a path.
const EnvVar = "LTRANSFER_KERNELS"

// AllPaths lists every path, slowest first.
var allPaths = [...]Path{Generic, AVX2, AVX512}

func (p Path) String() string {
	switch p {
	case Generic:
		return "generic"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return fmt.Sprintf("Path(%d)", uint8(p))
}

// ParsePath parses a path name as LTRANSFER_KERNELS spells it.
func ParsePath(s string) (Path, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "generic", "go", "purego":
		return Generic, nil
	case "avx2":
		return AVX2, nil
	case "avx512", "avx-512":
		return AVX512, nil
	}
	return Generic, fmt.Errorf("asm: unknown kernel path %q (want generic, avx2 or avx512)", s)
}

// Supported reports whether this build and this CPU can run path p.
func Supported(p Path) bool {
	switch p {
	case Generic:
		return true
	case AVX2:
		return haveAVX2
	case AVX512:
		return haveAVX512
	}
	return false
}

// Available lists the paths this build and CPU can run, slowest first.
func Available() []Path {
	var ps []Path
	for _, p := range allPaths {
		if Supported(p) {
			ps = append(ps, p)
		}
	}
	return ps
}

// Best is the fastest path this build and CPU support.
func Best() Path {
	ps := Available()
	return ps[len(ps)-1]
}

var (
	selected    Path
	selectedErr error
)

func init() {
	selected, selectedErr = choose(os.Getenv(EnvVar))
}

// choose picks the path for the value of LTRANSFER_KERNELS. An unknown or
// unsupported request falls back to the best path and returns an error the
// caller must surface (the CLI refuses to run; see SelectionError).
func choose(env string) (Path, error) {
	if strings.TrimSpace(env) == "" {
		return Best(), nil
	}
	p, err := ParsePath(env)
	if err != nil {
		return Best(), fmt.Errorf("%s=%q: %w", EnvVar, env, err)
	}
	if !Supported(p) {
		return Best(), fmt.Errorf("%s=%s: this CPU or build does not support the %s path (available: %v)", EnvVar, env, p, Available())
	}
	return p, nil
}

// Selected is the path chosen at start-up.
func Selected() Path { return selected }

// SelectionError is non-nil when LTRANSFER_KERNELS asked for a path that is
// unknown or unsupported here; Selected then holds the best available path.
// Programs should refuse to run rather than silently use another path.
func SelectionError() error { return selectedErr }
