//go:build !linux

package main

import "time"

func threadCPUClock() (now func() time.Duration, release func(), ok bool) {
	return nil, func() {}, false
}

// peakRSSMB is unknown here.
func peakRSSMB() float64 { return 0 }
