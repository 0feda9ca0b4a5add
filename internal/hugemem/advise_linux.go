//go:build linux

package hugemem

import (
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// advise marks the 2 MiB-aligned interior of the n bytes at p
// MADV_HUGEPAGE. Errors (a kernel without transparent huge pages, EINVAL
// on an odd mapping) are ignored: the advice only changes how the pages
// are mapped.
func advise(p unsafe.Pointer, n int) {
	if n == 0 {
		return
	}
	start := uintptr(p)
	end := start + uintptr(n)
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := end &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, lo, hi-lo, madvHugepage)
}

const madvHugepage = 14 // MADV_HUGEPAGE
