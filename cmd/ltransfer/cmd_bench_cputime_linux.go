package main

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUClock returns a clock of the CPU time of the calling OS thread,
// and the function that releases the thread afterwards. It is for
// one-thread benchmarks on a shared machine: time slices given to other
// processes do not count.
func threadCPUClock() (now func() time.Duration, release func(), ok bool) {
	runtime.LockOSThread()
	now = func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}
	return now, runtime.UnlockOSThread, true
}

// peakRSSMB is the process's peak resident set size in MiB.
func peakRSSMB() float64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
