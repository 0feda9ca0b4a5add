//go:build !amd64 || purego

package asm

// cpuHas: without assembly only the generic path can run, whatever the CPU.
func cpuHas(p Path) bool { return p == Generic }
