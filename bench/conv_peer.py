#!/usr/bin/python3
"""PyTorch 1.13 peer of bench/conv_bench_test.go (run by bench/conv_peer.sh).

Times, with torch.set_num_threads(T), batch N (default 128), float32:
every Conv8 3x3 layer shape forward (conv2d with bias) and backward (input
gradient except for the first layer, weight and bias gradients), and one
Conv8 training step (forward, cross-entropy, backward; no optimiser) at
width 1 and 0.25, with the paper's model definition, and one ResNet-20
training step (batch statistics; bench/cifar_train_peer.py's model). Prints one JSON line
per measurement: {"name": ..., "ms": fastest of the repetitions} (the
minimum is the statistic least disturbed by other load on a shared machine). The names match
the Go benchmark names so the wrapper can pair them.
"""
import argparse, json, time

import torch
import torch.nn as nn
import torch.nn.functional as F

LAYERS = [(3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16),
          (128, 256, 8), (256, 256, 8), (256, 512, 4), (512, 512, 4)]


from cifar_train_peer import conv8  # the paper's model (same folder)


def timeit(fn, reps, warm=2):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return min(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="", help="substring filter on names")
    ap.add_argument("--width", type=float, default=1.0,
                    help="width factor for the layer shapes (first layer keeps 3 inputs)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n, t = a.batch, a.threads
    out = lambda name, ms: print(json.dumps({"name": name, "ms": ms}), flush=True)
    layers = LAYERS
    if a.width != 1:
        layers = [(c if c == 3 else int(c * a.width), int(k * a.width), hw) for c, k, hw in LAYERS]
    for c, k, hw in layers:
        base = "Conv8Layer/threads=%d/c=%d,k=%d,hw=%d" % (t, c, k, hw)
        if a.only not in base + "/fwd" and a.only not in base + "/bwd":
            continue
        x = torch.randn(n, c, hw, hw, requires_grad=(c > 3))
        w = torch.randn(k, c, 3, 3, requires_grad=True)
        b = torch.randn(k, requires_grad=True)
        if a.only in base + "/fwd":
            with torch.no_grad():
                out(base + "/fwd", timeit(lambda: F.conv2d(x, w, b, 1, 1), a.reps))
        if a.only in base + "/bwd":
            y = F.conv2d(x, w, b, 1, 1)
            dy = torch.randn_like(y)

            def bwd():
                w.grad = b.grad = None
                if x.requires_grad:
                    x.grad = None
                y.backward(dy, retain_graph=True)
            out(base + "/bwd", timeit(bwd, a.reps))
    for f in (1, 0.25):
        name = "Conv8Step/threads=%d/width=%g" % (t, f)
        if a.only not in name:
            continue
        m = conv8(f)
        x = torch.randn(n, 3, 32, 32)
        y = torch.randint(0, 10, (n,))

        def step():
            m.zero_grad()
            F.cross_entropy(m(x).squeeze(), y).backward()
        out(name, timeit(step, a.reps))
    name = "ResNet20Step/threads=%d" % t
    if a.only in name:
        from cifar_train_peer import ResNet20  # same model as nn/resnet.go
        m = ResNet20(1).train()
        x = torch.randn(n, 3, 32, 32)
        y = torch.randint(0, 10, (n,))

        def step():
            m.zero_grad()
            F.cross_entropy(m(x), y).backward()
        out(name, timeit(step, a.reps))


if __name__ == "__main__":
    main()
