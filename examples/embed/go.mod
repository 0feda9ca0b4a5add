module example.com/embed

go 1.26.8

require github.com/ltransfer/ltransfer v0.0.0

require (
	github.com/klauspost/cpuid/v2 v2.4.2 // indirect
	golang.org/x/sys v0.46.0 // indirect
)

replace github.com/ltransfer/ltransfer => ../..
