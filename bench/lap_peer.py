#!/usr/bin/python3
"""Side-by-side timing of ltransfer's LAP solver against
scipy.optimize.linear_sum_assignment, on the same matrices in the same run.

Usage: lap_peer.py LTRANSFER_BINARY [--sizes 256,512,...] [--classes a,b] [--reps R]

For each class and size it writes the matrix as .npy (float64, C order),
times scipy on it in this process (best of R), runs `LTRANSFER lap --cost F
--json` R times (its "seconds" excludes file reading; best of R), asserts
both objectives are equal and prints the time ratio scipy/ours.
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np
from scipy.optimize import linear_sum_assignment

# Noise scale per n for the weight-matching class, chosen so that roughly
# half of the true permutation is recovered by the optimal assignment
# (printed as "recovered" for checking).
WM_WIDTH = 512


def weight_matching(rng, n):
    wa = rng.standard_normal((n, WM_WIDTH))
    perm = rng.permutation(n)
    sigma = 8.0 - 0.43 * np.log2(n / 256)
    wb = wa[perm] + sigma * rng.standard_normal((n, WM_WIDTH))
    return wa @ wb.T, perm


CLASSES = {
    "uniform": lambda rng, n: (rng.random((n, n)), None),
    "wm": weight_matching,
    "int100": lambda rng, n: (rng.integers(0, 100, (n, n)).astype(np.float64), None),
    "lowrank10": lambda rng, n: (rng.standard_normal((n, 10)) @ rng.standard_normal((n, 10)).T, None),
    "lowrank40": lambda rng, n: (rng.standard_normal((n, 40)) @ rng.standard_normal((n, 40)).T, None),
}
MAXIMIZE = {"wm": True}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--sizes", default="256,512,1024,2048,4096")
    ap.add_argument("--classes", default=",".join(CLASSES))
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20260527)
    ap.add_argument("--extra", default="", help="extra flags for `ltransfer lap`")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="dtype of the matrices written (float32: what weight and gradient matching "
                         "produce; scipy widens it to float64 exactly, so both solve the same problem)")
    a = ap.parse_args()
    print(f"seed {a.seed}; dtype {a.dtype}; scipy {__import__('scipy').__version__}; numpy {np.__version__}")
    print(f"{'class':<10} {'n':>5} {'scipy ms':>10} {'ours ms':>10} {'ratio':>7}  objective")
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        for cls in a.classes.split(","):
            for n in map(int, a.sizes.split(",")):
                rng = np.random.default_rng([a.seed, n, list(CLASSES).index(cls)])
                c, perm = CLASSES[cls](rng, n)
                c = np.ascontiguousarray(c, dtype=a.dtype)
                path = os.path.join(tmp, f"{cls}-{n}.npy")
                np.save(path, c)
                mx = MAXIMIZE.get(cls, False)
                best_s = float("inf")
                for _ in range(a.reps):
                    t0 = time.perf_counter()
                    r, col = linear_sum_assignment(c, maximize=mx)
                    best_s = min(best_s, time.perf_counter() - t0)
                obj_s = float(c[r, col].astype(np.float64).sum())
                best_o, obj_o = float("inf"), None
                cmd = [a.binary, "lap", "--cost", path, "--json"] + (["--maximize"] if mx else []) + a.extra.split()
                for _ in range(a.reps):
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    js = json.loads(out)
                    best_o, obj_o = min(best_o, js["seconds"]), js["objective"]
                ok = abs(obj_s - obj_o) <= 1e-9 * max(1.0, abs(obj_s))
                fails += not ok
                note = ""
                if perm is not None:
                    note = f" recovered {np.mean(col[perm] == np.arange(n)):.2f}"
                print(f"{cls:<10} {n:>5} {best_s*1e3:>10.1f} {best_o*1e3:>10.1f} {best_s/best_o:>6.2f}x  "
                      f"{obj_s:.10g} {'==' if ok else '!= ' + repr(obj_o)}{note}", flush=True)
                os.remove(path)
    if fails:
        print(f"FAIL: {fails} objective mismatches")
        sys.exit(1)


if __name__ == "__main__":
    main()
