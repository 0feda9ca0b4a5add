#!/usr/bin/python3
"""Side-by-side SGEMM benchmark: ltransfer (`ltransfer bench gemm --json`)
against OpenBLAS through numpy, on the same shapes, in the same run.

For each thread count and shape it alternates ours / OpenBLAS for --rounds
rounds (so both see the same background load; each round is the median of
about a second of runs) and prints, for each side, the median and the best
round, then two ratios ours/OpenBLAS: the median of the per-round ratios and
best round over best round (the least disturbed by other processes).

Usage: bench/gemm_peer.sh [--threads 1,2] [--rounds 5] [--shapes square|project|all] [--only 1024x1024] [--clock wall|cpu]
"""
import argparse
import json
import os
import subprocess
import statistics
import sys

# m, n, k, trans (op(A) is m×k, op(B) is k×n), as in kernels/gemm_bench_test.go.
SQUARE = [(256, 256, 256, "NN"), (512, 512, 512, "NN"), (1024, 1024, 1024, "NN"), (2048, 2048, 2048, "NN")]
PROJECT = [
    (128, 4096, 784, "NN"),   # dense layer forward: batch 128, 784 → 4096
    (128, 10, 4096, "NN"),    # classifier forward: 4096 → 10
    (4096, 784, 128, "TN"),   # weight gradient Aᵀ·B, 4096×128 · 128×784
    (784, 4096, 128, "TN"),   # weight gradient Aᵀ·B, 784×128 · 128×4096
    (128, 784, 4096, "NT"),   # input gradient dY·Wᵀ
]

# The numpy side runs in a child process so that the thread count is fixed
# before OpenBLAS loads; it reads "m n k trans" lines and answers GFLOP/s.
NUMPY_WORKER = r'''
import sys, time, numpy as np
rng = np.random.default_rng(1)
for line in sys.stdin:
    m, n, k, tr, clock = line.split(); m, n, k = int(m), int(n), int(k)
    now = time.thread_time if clock == "cpu" else time.perf_counter
    a = (rng.random((k, m) if tr[0] == "T" else (m, k), dtype=np.float32) - 0.5)
    b = (rng.random((n, k) if tr[1] == "T" else (k, n), dtype=np.float32) - 0.5)
    A = a.T if tr[0] == "T" else a
    B = b.T if tr[1] == "T" else b
    c = np.empty((m, n), dtype=np.float32)
    t0 = now(); np.matmul(A, B, out=c); first = now() - t0
    w = first
    while w < 0.1 and first < 0.02:
        t0 = now(); np.matmul(A, B, out=c); w += now() - t0
    reps = max(5, min(1000, int(1.0 / max(first, 1e-6))))
    ts = []
    for _ in range(reps):
        t0 = now(); np.matmul(A, B, out=c); ts.append(now() - t0)
    print(2.0 * m * n * k / statistics.median(ts) / 1e9, flush=True)
'''


def numpy_worker(threads):
    env = dict(os.environ)
    # OPENBLAS_CORETYPE would pin OpenBLAS to another CPU's kernels; let it
    # detect this CPU itself (only for the numpy side).
    env.pop("OPENBLAS_CORETYPE", None)
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    return subprocess.Popen([sys.executable, "-c", "import statistics\n" + NUMPY_WORKER],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)


def ours(binary, m, n, k, tr, threads, clock):
    cmd = [binary, "bench", "gemm", "--m", str(m), "--n", str(n), "--k", str(k),
           "--trans", tr, "--threads", str(threads), "--json"]
    if clock == "cpu":
        cmd.append("--cputime")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="ltransfer binary")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--shapes", default="all", choices=["square", "project", "all"])
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="cpu: time 1-thread runs by the CPU time of the computing thread on both sides "
                         "(robust to other processes sharing the cores); 2-thread runs always use the wall clock")
    ap.add_argument("--only", default="", help="keep shapes whose 'm×n×k TRANS' label contains this text (x works for ×)")
    args = ap.parse_args()
    shapes = {"square": SQUARE, "project": PROJECT, "all": SQUARE + PROJECT}[args.shapes]
    only = args.only.replace("x", "×")
    shapes = [s for s in shapes if only in "%d×%d×%d %s" % s]
    print("clock: %s for 1 thread, wall for more" % args.clock)
    print("OPENBLAS_CORETYPE in environment: %r (unset for the numpy run)" % os.environ.get("OPENBLAS_CORETYPE"))
    import numpy
    print("numpy %s" % numpy.__version__)
    print("| threads | shape (m×n×k, trans) | path | ours GFLOP/s (median, best round) | OpenBLAS GFLOP/s (median, best round) | ours/OpenBLAS (median of rounds) | ours/OpenBLAS (best/best) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for threads in [int(t) for t in args.threads.split(",")]:
        w = numpy_worker(threads)
        for (m, n, k, tr) in shapes:
            us, them, ratios, path = [], [], [], "?"
            clock = args.clock if threads == 1 else "wall"
            for _ in range(args.rounds):
                o = ours(args.bin, m, n, k, tr, threads, clock)
                path = o["path"]
                w.stdin.write("%d %d %d %s %s\n" % (m, n, k, tr, clock))
                w.stdin.flush()
                t = float(w.stdout.readline())
                us.append(o["gflops"])
                them.append(t)
                ratios.append(o["gflops"] / t)
            print("| %d | %d×%d×%d %s | %s | %.1f, %.1f | %.1f, %.1f | %.2f | %.2f |" % (
                threads, m, n, k, tr, path, statistics.median(us), max(us), statistics.median(them), max(them),
                statistics.median(ratios), max(us) / max(them)), flush=True)
        w.stdin.close()
        w.wait()


if __name__ == "__main__":
    main()
