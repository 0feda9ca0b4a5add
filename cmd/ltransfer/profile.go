package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile of the command to path
// (`ltransfer --cpuprofile FILE <command> …`), for `go tool pprof`. An
// existing file is never replaced; the profile goes to a temporary file
// renamed into place when the command ends.
func startCPUProfile(path string) (stop func(), err error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("--cpuprofile %s already exists; choose another file", path)
	}
	if err := checkOutFile("--cpuprofile", path, false); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if f.Close() != nil || os.Chmod(f.Name(), 0o644) != nil || os.Rename(f.Name(), path) != nil {
			os.Remove(f.Name())
		}
	}, nil
}
