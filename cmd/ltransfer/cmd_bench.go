package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ltransfer/ltransfer/kernels"
)

func init() {
	register("bench", "measure kernel speed: bench gemm --m M --n N --k K [--trans NN|NT|TN|TT] [--threads T] [--json]; bench step --model conv8 [--width-factor F] [--batch B] [--threads T]", runBench)
}

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "step" {
		return runBenchStep(args[1:], stdout, stderr)
	}
	const benchUsage = "usage: ltransfer bench gemm --m M --n N --k K [--trans NN|NT|TN|TT] [--threads T] [--reps R] [--cputime] [--json]\n       ltransfer bench step --model conv8 [--width-factor F] [--width W] [--batch B] [--threads T] [--reps R] [--json]\n\n'ltransfer bench gemm --help' and 'ltransfer bench step --help' list the flags."
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintln(stderr, benchUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "gemm" {
		return errors.New(benchUsage)
	}
	fs := newFlagSet("bench gemm", stderr, "bench gemm --m M --n N --k K [--trans NN|NT|TN|TT] [--threads T] [--reps R] [--cputime] [--json]")
	m := fs.Int("m", 0, "rows of op(A) and C (required)")
	n := fs.Int("n", 0, "columns of op(B) and C (required)")
	k := fs.Int("k", 0, "columns of op(A), rows of op(B) (required)")
	trans := fs.String("trans", "NN", "transposes of A and B: NN, NT, TN or TT")
	threads := fs.Int("threads", 0, "worker threads (0: GOMAXPROCS)")
	reps := fs.Int("reps", 0, "timed runs after the warm-up (0: as many as fit in about a second, at least 5)")
	cpuTime := fs.Bool("cputime", false, "time by the CPU time of the calling thread instead of the wall clock (Linux, --threads 1 only): ignores time slices other processes take")
	asJSON := fs.Bool("json", false, `print one JSON line {"gflops":…, "path":…, "threads":…}`)
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	if *threads == 0 {
		*threads = runtime.GOMAXPROCS(0)
	}
	if *m < 1 || *n < 1 || *k < 1 {
		return fmt.Errorf("gemm: --m, --n and --k must all be ≥ 1 (got m=%d n=%d k=%d)", *m, *n, *k)
	}
	if int64(*m)*int64(*k)+int64(*k)*int64(*n)+int64(*m)*int64(*n) > 1<<30 {
		return fmt.Errorf("gemm: m=%d n=%d k=%d needs more than 4 GiB of operands", *m, *n, *k)
	}
	tr := strings.ToUpper(*trans)
	if len(tr) != 2 || strings.Trim(tr, "NT") != "" {
		return fmt.Errorf("gemm: --trans %q, want NN, NT, TN or TT", *trans)
	}
	if *threads < 1 {
		return fmt.Errorf("gemm: --threads %d, want ≥ 1", *threads)
	}
	if *reps < 0 {
		return fmt.Errorf("gemm: --reps %d, want ≥ 0", *reps)
	}
	clock := func() time.Duration { return time.Duration(time.Now().UnixNano()) }
	if *cpuTime {
		if *threads != 1 {
			return fmt.Errorf("gemm: --cputime needs --threads 1 (CPU time of one thread)")
		}
		now, release, ok := threadCPUClock()
		if !ok {
			return fmt.Errorf("gemm: --cputime is not supported on this system")
		}
		defer release()
		clock = now
	}
	e, err := kernels.New(kernels.WithThreads(*threads), kernels.WithSpin(kernels.ThroughputSpin))
	if err != nil {
		return err
	}
	tA, tB := tr[0] == 'T', tr[1] == 'T'
	lda, ldb := *k, *n
	if tA {
		lda = *m
	}
	if tB {
		ldb = *k
	}
	r := rand.New(rand.NewSource(1))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.Float64() - 0.5)
		}
		return x
	}
	a, b, c := rnd(*m**k), rnd(*k**n), rnd(*m**n)
	call := func() time.Duration {
		t0 := clock()
		e.Sgemm(tA, tB, *m, *n, *k, 1, a, lda, b, ldb, 0, c, *n)
		return clock() - t0
	}
	// Warm-up: page in the operands and the packing buffers, wake the workers.
	first := call()
	for w := first; w < 100*time.Millisecond && first < 20*time.Millisecond; w += call() {
	}
	nrep := *reps
	if nrep == 0 {
		nrep = max(5, min(1000, int(time.Second/max(first, time.Microsecond))))
	}
	times := make([]float64, nrep)
	for i := range times {
		times[i] = call().Seconds()
	}
	slices.Sort(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	flops := 2 * float64(*m) * float64(*n) * float64(*k)
	gf := flops / med / 1e9
	if *asJSON {
		out, _ := json.Marshal(struct {
			GFLOPS  float64 `json:"gflops"`
			Path    string  `json:"path"`
			Threads int     `json:"threads"`
		}{gf, e.Path().String(), e.Threads()})
		fmt.Fprintln(stdout, string(out))
		return nil
	}
	fmt.Fprintf(stdout, "sgemm %s m=%d n=%d k=%d path=%s threads=%d: median %.1f GFLOP/s (best %.1f, worst %.1f, %d runs of %.3f ms)\n",
		tr, *m, *n, *k, e.Path(), e.Threads(), gf, flops/times[0]/1e9, flops/times[len(times)-1]/1e9, nrep, med*1e3)
	return nil
}
