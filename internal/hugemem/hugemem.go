// Package hugemem allocates the large float32 buffers that ltransfer's
// tensors, gradients and cost matrices live in, asking the kernel to back
// them with transparent huge pages where it can.
//
// Why: a transfer of the paper's MNIST MLP touches about 1 GB of fresh
// memory. With 4 KiB pages that is some 270,000 page faults, which on a
// virtual machine cost about 10 µs each: a third of the run's CPU time,
// spent in the kernel, and a serial one (every thread waits on them). Most
// Linux distributions ship transparent huge pages in "madvise" mode, where
// a process gets 2 MiB pages only for memory it marks with
// MADV_HUGEPAGE; the Go runtime marks none of its heap. Marking the large
// buffers cuts the faults about 60-fold and the TLB misses with them.
//
// The advice is a hint: it changes no value, only how the kernel maps the
// pages, and it is skipped (silently) where the system does not support
// it. Buffers below MinBytes are left alone, so small allocations never
// split the heap's mappings.
package hugemem

import "unsafe"

// MinBytes is the smallest buffer that is advised: a 2 MiB huge page must
// fit inside it at least once, with room for alignment.
const MinBytes = 4 << 20

// Float32s returns a zeroed slice of n float32s; if it is at least
// MinBytes long, the whole 2 MiB-aligned part of it is advised to be
// backed by huge pages before it is first touched.
func Float32s(n int) []float32 {
	s := make([]float32, n)
	if n*4 >= MinBytes {
		advise(unsafe.Pointer(&s[0]), n*4)
	}
	return s
}

// Bytes is Float32s for a byte buffer (decoded image pixels).
func Bytes(n int) []byte {
	s := make([]byte, n)
	if n >= MinBytes {
		advise(unsafe.Pointer(&s[0]), n)
	}
	return s
}

// Clone returns a copy of s in a buffer from Float32s.
func Clone(s []float32) []float32 {
	d := Float32s(len(s))
	copy(d, s)
	return d
}
