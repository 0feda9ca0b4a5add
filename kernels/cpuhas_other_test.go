//go:build !amd64 || purego

package kernels

import "github.com/ltransfer/ltransfer/asm"

// cpuPaths: without assembly only the generic path runs, whatever the CPU.
func cpuPaths() []asm.Path { return []asm.Path{asm.Generic} }
