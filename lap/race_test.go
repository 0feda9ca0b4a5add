//go:build race

package lap

// raceEnabled shrinks the largest test problems under the race detector,
// which slows the pure-Go parts about tenfold.
const raceEnabled = true
