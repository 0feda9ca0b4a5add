#!/usr/bin/python3
"""PyTorch peer of `ltransfer transfer --method gmt|fgmt` on Conv8 (experiment 1).

Is ltransfer's GMT at fault for the Conv8 bar of issue 7, or is it what the
algorithm gives on these networks? This script re-implements, independently of
ltransfer's Go code (written for this repository, following the paper's
utils/learning_transfer.py and utils/weight_matching.py), the paper's GMT and
FGMT loop on the same two `ltransfer train` trajectories and evaluates its
transferred points and ltransfer's on the same 10,000 CIFAR-10 test images:

  - linear source trajectory θ₁ˢ = θ₁⁰ + λₛ(θ₁ᵀ − θ₁⁰), cosine spacing
    λₛ = Σ_{t<s} f(t) / Σ_{t<T} f(t), f(t) = 1 + cos(πt/T) (the paper's
    split_scheduling_fn);
  - step s = 1…T: GMT builds a new matcher and adds, for every t < s, the
    gradient pair (target at θ₂⁰ + π(θ₁ᵗ − θ₁⁰), source at θ₁ᵗ), each on
    BATCHES fresh random training batches of BATCH images (as the paper's
    DataLoader(shuffle=True) draws them, with its pad-4 crop + flip unless
    --no-augment); FGMT keeps its matcher and adds only t = s − 1;
  - the matcher is the paper's WeightMatching.solve: groups in random order,
    cost A = Σ_pairs Σ_tensors W_t · π₋ₐ(W_s)ᵀ, scipy's linear_sum_assignment
    (maximise), until a sweep improves no group by more than 1e-7; from the
    identity each step (the paper's default) or from the previous π (--warm,
    ltransfer's default);
  - θ₂ˢ = θ₂⁰ + π(θ₁ˢ − θ₁⁰), written as OUT/ckpt-SSSS.safetensors.

Usage:
  conv8_gmt_peer.py --source SRC_DIR --target-init TGT/ckpt-0000.safetensors
      --method gmt|fgmt --out OUT [--steps 30] [--batches 2] [--batch 128]
      [--seed 0] [--threads 1] [--warm] [--no-augment]
      [--compare LTRANSFER_TRANSFER_DIR] [--data cifar10-jpeg.tar]
A source trained on a class subset (`ltransfer train --class-subset`, experiment 3) is
read with its manifest's class_subset: only those classes, relabelled in that order.
Prints per step the test accuracy of the peer's point (and of ltransfer's
ckpt-SSSS from --compare), then one JSON line with both curves and the best.
"""
import argparse
import io
import json
import math
import os
import random
import sys
import tarfile
import time

import numpy as np
import scipy.optimize
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv8_planted as planted  # noqa: E402  safetensors reading and (atomic) writing

CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
# Conv8's permutable layers in order (PyTorch names of the paper's models/networks/convs.py);
# hidden unit group k is the output channels of LAYERS[k] and the input channels of the next.
LAYERS = ['convs.0', 'convs.2', 'convs.5', 'convs.7', 'convs.10', 'convs.12', 'convs.15', 'convs.17',
          'linear.0', 'linear.2']
POOL_AFTER = {'convs.2': 2, 'convs.7': 2, 'convs.12': 2, 'convs.17': 4}


def load(path):
    """A safetensors file as torch tensors, and its metadata."""
    d, meta = planted.load(path)
    return {k: torch.from_numpy(v) for k, v in d.items()}, meta


def save(path, d, meta):
    planted.save(path, {k: v.detach().numpy() for k, v in d.items()}, meta)


def forward(p, x):
    """Conv8 logits for images x [N 3 32 32] (the paper's Conv8: 3×3 convs with bias and ReLU,
    2×2 max-pools, a final 4×4 pool, a head of 1×1 convs)."""
    for L in LAYERS[:8]:
        x = F.relu(F.conv2d(x, p[L + '.weight'], p[L + '.bias'], padding=1))
        if L in POOL_AFTER:
            x = F.max_pool2d(x, POOL_AFTER[L])
    x = F.relu(F.conv2d(x, p['linear.0.weight'], p['linear.0.bias']))
    x = F.relu(F.conv2d(x, p['linear.2.weight'], p['linear.2.bias']))
    return F.conv2d(x, p['linear.4.weight'], p['linear.4.bias']).flatten(1)


# The permutation spec: for each tensor, the group of each axis (None: not permuted).
def axes_of(name):
    layer, kind = name.rsplit('.', 1)
    k = LAYERS.index(layer) if layer in LAYERS else len(LAYERS)  # linear.4: the output layer
    out = LAYERS[k] if k < len(LAYERS) else None
    if kind == 'bias':
        return [out]
    inp = LAYERS[k - 1] if k > 0 else None
    return [out, inp, None, None]


def permuted(perm, w, axes, except_axis=None):
    """w with every permuted axis (but except_axis) indexed by its group's permutation:
    unit i of the result is unit perm[g][i] of w (the paper's get_permuted_param)."""
    for a, g in enumerate(axes):
        if g is None or a == except_axis:
            continue
        w = torch.index_select(w, a, perm[g])
    return w


def apply(perm, d):
    return {k: permuted(perm, v, axes_of(k)) for k, v in d.items()}


def identity(sizes):
    return {g: torch.arange(n) for g, n in sizes.items()}


class Matcher:
    """The paper's WeightMatching: maximise Σ_pairs ⟨T, π(S)⟩ by coordinate descent."""

    def __init__(self, sizes, rng):
        self.sizes, self.rng, self.pairs = sizes, rng, []
        self.members = {g: [] for g in sizes}
        self.names = None

    def add(self, t, s):
        if self.names is None:
            self.names = sorted(t)
            for k in self.names:
                for a, g in enumerate(axes_of(k)):
                    if g is not None:
                        self.members[g].append((k, a))
        self.pairs.append((t, s))

    def solve(self, init, eps=1e-7, max_iter=100):
        perm = {g: p.clone() for g, p in init.items()}
        groups = list(self.sizes)
        for _ in range(max_iter):
            progress = False
            order = list(range(len(groups)))
            self.rng.shuffle(order)
            for gi in order:
                g = groups[gi]
                n = self.sizes[g]
                A = torch.zeros((n, n), dtype=torch.float64)
                for t, s in self.pairs:
                    for k, a in self.members[g]:
                        wt = torch.movedim(t[k], a, 0).reshape(n, -1)
                        ws = torch.movedim(permuted(perm, s[k], axes_of(k), except_axis=a), a, 0).reshape(n, -1)
                        A += (wt @ ws.T).double()
                An = A.numpy()
                _, ci = scipy.optimize.linear_sum_assignment(An, maximize=True)
                old = An[np.arange(n), perm[g].numpy()].sum()
                new = An[np.arange(n), ci].sum()
                if new > old + eps:
                    progress = True
                    perm[g] = torch.from_numpy(ci.astype(np.int64))
            if not progress:
                break
        return perm


def read_cifar(path, classes=None):
    """CIFAR-10's train and test images from the JPEG tar, normalised; with classes (a
    list of class indices, a trajectory's class_subset) only those, relabelled 0…k−1."""
    keep = {c: i for i, c in enumerate(classes)} if classes else {c: c for c in range(len(CLASSES))}
    tf = tarfile.open(path)
    parts = {'train': ([], []), 'test': ([], [])}
    for m in tf.getmembers():
        if not (m.isfile() and m.name.endswith('.jpg')):
            continue
        q = m.name.lstrip('./').split('/')
        if len(q) < 3 or q[-3] not in parts or q[-2] not in CLASSES or CLASSES.index(q[-2]) not in keep:
            continue
        img = np.asarray(Image.open(io.BytesIO(tf.extractfile(m).read())).convert('RGB'))
        parts[q[-3]][0].append(img)
        parts[q[-3]][1].append(keep[CLASSES.index(q[-2])])
    out = {}
    for k, (xs, ys) in parts.items():
        if not xs:
            sys.exit('%s: no %s/<class>/*.jpg images' % (path, k))
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float() / 255
        out[k] = ((x - MEAN) / STD, torch.tensor(ys))
    return out


def augment(x, g):
    """Pad-4 random crop and horizontal flip (the paper's CIFAR-10 training transform)."""
    n = x.shape[0]
    # torchvision pads the image with black before normalising: pad with black's normalised value
    xp = (-MEAN / STD).expand(n, 3, 40, 40).clone()
    xp[:, :, 4:36, 4:36] = x
    ox = torch.randint(0, 9, (n,), generator=g)
    oy = torch.randint(0, 9, (n,), generator=g)
    fl = torch.rand(n, generator=g) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        c = xp[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32]
        out[i] = c.flip(2) if fl[i] else c
    return out


def sync_grads(p_tr, p_src, train, nb, bs, aug, g):
    """Mean gradients of the cross-entropy at p_tr and p_src on the same nb fresh random batches."""
    X, Y = train
    g_tr = {k: torch.zeros_like(v) for k, v in p_tr.items()}
    g_src = {k: torch.zeros_like(v) for k, v in p_src.items()}
    for _ in range(nb):
        idx = torch.randint(0, X.shape[0], (bs,), generator=g)
        x, y = X[idx], Y[idx]
        if aug:
            x = augment(x, g)
        for p, acc in ((p_tr, g_tr), (p_src, g_src)):
            q = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
            loss = F.cross_entropy(forward(q, x), y)
            gs = torch.autograd.grad(loss, [q[k] for k in q])
            for k, gk in zip(q, gs):
                acc[k] += gk / nb
    return g_tr, g_src


@torch.no_grad()
def accuracy(p, test, bs=1000):
    X, Y = test
    ok = 0
    for i in range(0, X.shape[0], bs):
        ok += (forward(p, X[i:i + bs]).argmax(1) == Y[i:i + bs]).sum().item()
    return ok / X.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--source', required=True)
    ap.add_argument('--target-init', required=True)
    ap.add_argument('--method', choices=['gmt', 'fgmt'], required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--batches', type=int, default=2)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--warm', action='store_true')
    ap.add_argument('--no-augment', action='store_true')
    ap.add_argument('--compare')
    ap.add_argument('--data', default=os.environ.get('CIFAR_TAR', '../shared/data/cifar10-jpeg.tar'))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    rng = random.Random(a.seed)

    try:
        with open(os.path.join(a.source, 'manifest.json')) as fp:
            man = json.load(fp)
    except (OSError, ValueError) as e:
        sys.exit('%s: not an ltransfer trajectory: %s' % (a.source, e))
    if man.get('model') != 'conv8':
        sys.exit('%s: model %s, want conv8' % (a.source, man.get('model')))
    nc = man.get('model_config', {}).get('num_classes', 10)
    if len(man.get('class_subset') or range(10)) != nc:
        sys.exit('%s: %d classes but class_subset %s' % (a.source, nc, man.get('class_subset')))
    s0, meta = load(os.path.join(a.source, man['checkpoints'][0]['file']))
    sT, _ = load(os.path.join(a.source, man['checkpoints'][-1]['file']))
    t0, _ = load(a.target_init)
    want = sorted(L + '.' + k for L in LAYERS + ['linear.4'] for k in ('weight', 'bias'))
    if sorted(s0) != want:
        sys.exit('%s: tensors %s, want Conv8\'s %s' % (a.source, sorted(s0), want))
    if sorted(s0) != sorted(t0) or any(s0[k].shape != t0[k].shape for k in s0):
        sys.exit('source and target initialisations differ in tensors or shapes')
    sizes = {L: s0[L + '.weight'].shape[0] for L in LAYERS}
    delta = {k: sT[k] - s0[k] for k in s0}
    T = a.steps
    f = [1 + math.cos(math.pi * t / T) for t in range(T)]
    lam = [sum(f[:s]) / sum(f) for s in range(T + 1)]

    def src(s):
        return {k: s0[k] + lam[s] * delta[k] for k in s0}

    def transferred(s, perm):
        d = apply(perm, {k: lam[s] * delta[k] for k in s0})
        return {k: t0[k] + d[k] for k in t0}

    t_load = time.time()
    data = read_cifar(a.data, man.get('class_subset'))
    t_load = time.time() - t_load
    os.makedirs(a.out, exist_ok=True)
    perm = identity(sizes)
    m = Matcher(sizes, rng)
    accs, theirs = [accuracy(t0, data['test'])], []
    if a.compare:
        theirs.append(accuracy(load(os.path.join(a.compare, 'ckpt-0000.safetensors'))[0], data['test']))
    t_grad = t_match = 0.0
    start = time.time()
    for s in range(1, T + 1):
        if a.method == 'gmt':
            m = Matcher(sizes, rng)
        first = 0 if a.method == 'gmt' else s - 1
        t1 = time.time()
        for t in range(first, s):
            gt, gs = sync_grads(transferred(t, perm), src(t), data['train'], a.batches, a.batch, not a.no_augment, g)
            m.add(gt, gs)
        t2 = time.time()
        perm = m.solve(perm if a.warm else identity(sizes))
        t_match += time.time() - t2
        t_grad += t2 - t1
        p = transferred(s, perm)
        save(os.path.join(a.out, 'ckpt-%04d.safetensors' % s), p, meta)
        accs.append(accuracy(p, data['test']))
        line = 'step %2d  peer %6.2f%%' % (s, 100 * accs[-1])
        if a.compare:
            q = os.path.join(a.compare, 'ckpt-%04d.safetensors' % s)
            theirs.append(accuracy(load(q)[0], data['test']))
            line += '  ltransfer %6.2f%%' % (100 * theirs[-1])
        print(line, flush=True)
    with open(os.path.join(a.out, 'perms.json'), 'w') as fp:
        json.dump({'P%d' % i: perm[L].tolist() for i, L in enumerate(LAYERS)}, fp)
    best = max(range(len(accs)), key=lambda i: accs[i])
    res = {'method': a.method, 'warm': a.warm, 'augment': not a.no_augment, 'steps': T, 'batches': a.batches,
           'batch': a.batch, 'seed': a.seed, 'threads': a.threads, 'peer_test_acc': accs,
           'peer_best': [best, accs[best]], 'seconds': {'load': t_load, 'gradients': t_grad, 'matching': t_match,
                                                        'total': time.time() - start}}
    if a.compare:
        bt = max(range(len(theirs)), key=lambda i: theirs[i])
        res['ltransfer_test_acc'] = theirs
        res['ltransfer_best'] = [bt, theirs[bt]]
    print(json.dumps(res))


if __name__ == '__main__':
    main()
