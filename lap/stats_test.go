package lap

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestPrintStats prints the phase counts of the benchmark classes; run with
// LAP_STATS=1 go test ./lap -run PrintStats -v.
func TestPrintStats(t *testing.T) {
	if testing.Short() || !statsWanted() {
		t.Skip("set LAP_STATS=1")
	}
	for _, cl := range []string{"uniform", "int100", "lowrank10", "lowrank40"} {
		for _, n := range []int{1024, 4096} {
			cost := benchMatrix(cl, n)
			t0 := time.Now()
			r, err := SolveFloat64(n, n, cost, nil)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("%-10s n=%5d %8.1f ms %+v\n", cl, n, time.Since(t0).Seconds()*1e3, r.Stats)
		}
	}
}

func statsWanted() bool { return os.Getenv("LAP_STATS") != "" }
