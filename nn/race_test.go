//go:build race

package nn

// raceEnabled lets slow data-heavy tests skip under the race detector.
const raceEnabled = true
