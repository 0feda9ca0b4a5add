//go:build !amd64 || purego

package asm

const (
	haveAVX2   = false
	haveAVX512 = false
)
