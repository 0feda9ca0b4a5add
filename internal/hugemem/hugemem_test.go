package hugemem

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func TestFloat32sZeroedAndUsable(t *testing.T) {
	for _, n := range []int{0, 1, MinBytes/4 - 1, MinBytes / 4, 3 << 20} {
		s := Float32s(n)
		if len(s) != n {
			t.Fatalf("n=%d: len %d", n, len(s))
		}
		for i, v := range s {
			if v != 0 {
				t.Fatalf("n=%d: s[%d] = %v, want 0", n, i, v)
			}
		}
		for i := range s {
			s[i] = float32(i)
		}
		c := Clone(s)
		for i := range c {
			if c[i] != float32(i) {
				t.Fatalf("n=%d: clone[%d] = %v", n, i, c[i])
			}
		}
	}
}

// TestAdvised checks, where the kernel reports it, that a large buffer's
// mapping carries the huge-page advice (smaps' VmFlags "hg").
func TestAdvised(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("no transparent huge pages on this kernel")
	}
	s := Float32s(16 << 20) // 64 MiB
	addr := uintptr(unsafe.Pointer(&s[len(s)/2]))
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	var in bool
	for _, line := range strings.Split(string(smaps), "\n") {
		var lo, hi uintptr
		if n, _ := sscanRange(line, &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			if !strings.Contains(line, " hg") {
				t.Fatalf("the mapping of a 64 MiB buffer lacks the huge-page advice: %s", line)
			}
			runtime.KeepAlive(s)
			return
		}
	}
	t.Fatal("buffer's mapping not found in /proc/self/smaps")
}

// sscanRange parses the "lo-hi " address range that starts a smaps mapping line.
func sscanRange(line string, lo, hi *uintptr) (int, error) {
	dash := strings.IndexByte(line, '-')
	sp := strings.IndexByte(line, ' ')
	if dash <= 0 || sp <= dash {
		return 0, nil
	}
	a, ok1 := parseHex(line[:dash])
	b, ok2 := parseHex(line[dash+1 : sp])
	if !ok1 || !ok2 {
		return 0, nil
	}
	*lo, *hi = a, b
	return 2, nil
}

func parseHex(s string) (uintptr, bool) {
	var v uintptr
	if s == "" {
		return 0, false
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uintptr(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uintptr(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
