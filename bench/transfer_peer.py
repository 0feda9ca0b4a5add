#!/usr/bin/python3
"""PyTorch peer of `ltransfer transfer` on the paper's MNIST MLP.

A small re-implementation (written for this repository) of the steps the
paper's GMT / FGMT perform on the 784→W→10 MLP without bias: along the
linear source trajectory θ₁ᵗ (cosine spacing, step ∝ 1+cos(πt/T)), for
s = 1…T gradients of the target at θ₂⁰ + π(θ₁ᵗ − θ₁⁰) and of the source at
θ₁ᵗ on the same mini-batch (GMT: every t < s, recomputed; FGMT: only
t = s−1, earlier pairs kept), cost matrix Σ T·Sᵀ over the hidden axis of
both layers in torch, one scipy.optimize.linear_sum_assignment
(maximise), then θ₂ˢ and its validation accuracy. Times each phase.

The MLP has one permutation group and the cost matrix of a step does not
depend on the permutation, so one assignment solve per step is optimal.
The paper's code runs its coordinate descent until a sweep gains nothing,
which for one group means a second solve of the same matrix (and a second
cost-matrix build) every step: --paper-loop does that, for a peer that
times the paper's loop as written (twice the cost and LAP work).

Usage: transfer_peer.py --source-init A.safetensors --source-final B.safetensors
       --target-init C.safetensors --data MNIST_DIR --method gmt|fgmt
       [--steps 10] [--threads 2] [--val N] [--paper-loop]
Prints one JSON line.
"""
import argparse
import gzip
import json
import math
import os
import resource
import struct
import time

import numpy as np
import scipy.optimize
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        buf = f.read()
    (hl,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + hl])
    base = 8 + hl
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(buf[base + a:base + b], dtype=np.float32).reshape(e["shape"]).copy())
    return out


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data[4 + 4 * nd:], dtype=np.uint8).reshape(dims)


def load_mnist(d):
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255.0
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255.0
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    norm = lambda x: torch.from_numpy((x - 0.1307) / 0.3081)
    return norm(xtr), torch.from_numpy(ytr), norm(xte), torch.from_numpy(yte)


def lambdas(T):
    w = [1 + math.cos(math.pi * t / T) for t in range(T)]
    z = sum(w)
    out, acc = [0.0], 0.0
    for t in range(T):
        acc += w[t]
        out.append(acc / z)
    out[-1] = 1.0
    return out


def grads(p, x, y):
    w1 = p["linear1.weight"].clone().requires_grad_(True)
    w2 = p["linear2.weight"].clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(x @ w1.t() @ w2.t(), y)
    g1, g2 = torch.autograd.grad(loss, (w1, w2))
    return {"linear1.weight": g1, "linear2.weight": g2}


def permute(p, perm):
    return {"linear1.weight": p["linear1.weight"][perm, :], "linear2.weight": p["linear2.weight"][:, perm]}


def accuracy(p, x, y):
    with torch.no_grad():
        correct = 0
        for i in range(0, len(y), 1000):
            logits = x[i:i + 1000] @ p["linear1.weight"].t() @ p["linear2.weight"].t()
            correct += (logits.argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-init", required=True)
    ap.add_argument("--source-final", required=True)
    ap.add_argument("--target-init", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", choices=["gmt", "fgmt"], default="gmt")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val", type=int, default=6000, help="validation samples (the first N of the test set)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--paper-loop", action="store_true",
                    help="re-solve until no improvement, as the paper's coordinate descent (a second, identical solve per step)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load_mnist(a.data)
    xval, yval = xte[:a.val], yte[:a.val]
    s0, s1, t0 = read_safetensors(a.source_init), read_safetensors(a.source_final), read_safetensors(a.target_init)
    names = ["linear1.weight", "linear2.weight"]
    T = a.steps
    lam = lambdas(T)
    src = lambda t: {k: s0[k] + lam[t] * (s1[k] - s0[k]) for k in names}
    n = s0["linear1.weight"].shape[0]
    perm = torch.arange(n)
    tm = {"gradients": 0.0, "cost_matrices": 0.0, "lap": 0.0, "eval": 0.0}
    lap_calls = 0
    start = time.perf_counter()
    accs = []
    pairs = []
    for s in range(1, T + 1):
        t_0 = time.perf_counter()
        if a.method == "gmt":
            pairs = []
            first = 0
        else:
            first = s - 1
        for t in range(first, s):
            th = src(t)
            d = permute({k: th[k] - s0[k] for k in names}, perm)
            tgt = {k: t0[k] + d[k] for k in names}
            idx = torch.randint(0, len(ytr), (a.batch,))
            x, y = xtr[idx], ytr[idx]
            pairs.append((grads(tgt, x, y), grads(th, x, y)))
        tm["gradients"] += time.perf_counter() - t_0
        # One hidden group: the cost matrix does not depend on perm, so the
        # first solve is optimal; --paper-loop repeats it until no gain.
        while True:
            t_0 = time.perf_counter()
            with torch.no_grad():
                c = torch.zeros(n, n)
                for gt, gs in pairs:
                    c += gt["linear1.weight"] @ gs["linear1.weight"].t()
                    c += gt["linear2.weight"].t() @ gs["linear2.weight"]
            cn = c.numpy()
            tm["cost_matrices"] += time.perf_counter() - t_0
            t_0 = time.perf_counter()
            _, col = scipy.optimize.linear_sum_assignment(cn, maximize=True)
            lap_calls += 1
            tm["lap"] += time.perf_counter() - t_0
            old = cn[np.arange(n), perm.numpy()].sum()
            new = cn[np.arange(n), col].sum()
            improved = new > old + 1e-12 * abs(old)
            if improved:
                perm = torch.from_numpy(col)
            if not (improved and a.paper_loop):
                break
        t_0 = time.perf_counter()
        th = src(s)
        d = permute({k: th[k] - s0[k] for k in names}, perm)
        accs.append(accuracy({k: t0[k] + d[k] for k in names}, xval, yval))
        tm["eval"] += time.perf_counter() - t_0
    tm["total"] = time.perf_counter() - start
    best = max(range(T), key=lambda i: accs[i])
    print(json.dumps({"method": a.method, "val_accs": accs, "best_step": best + 1, "best_val_acc": accs[best],
                      "timings_s": tm, "lap_calls": lap_calls, "paper_loop": a.paper_loop, "threads": a.threads,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
