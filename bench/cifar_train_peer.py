#!/usr/bin/python3
"""PyTorch 1.13 peer of `ltransfer train` on CIFAR-10 (issue 5's real runs).

Trains the paper's Conv8 (any width factor) or our ResNet-20 (projection
shortcuts, the same module layout as nn/resnet.go) on the CIFAR-10 JPEG tar
with the recipe `ltransfer train` uses:

  SGD (momentum, weight decay, PyTorch semantics), batch 128, cosine decay
  per optimiser step from lr to 0 (CosineAnnealingLR with T_max in steps),
  optional linear warm-up in steps, 45,000/5,000 random train/validation
  split, inputs normalised with the CIFAR-10 mean/std, training augmentation
  pad-4 random crop (black padding in pixel space, as torchvision's Pad
  before ToTensor) + horizontal flip, PyTorch default initialisation; the
  last, partial batch of an epoch is kept (steps per epoch = ceil(n/128)).

Prints one line per epoch and a final JSON line:
  {"model":..., "epochs":..., "threads":..., "epoch_s":[...], "val_acc":[...],
   "test_acc":..., "train_loss":[...]}

Usage:
  /usr/bin/python3 bench/cifar_train_peer.py --model conv8 --width 0.25 \
      --epochs 20 --lr 0.05 --threads 2 --seed 101 [--data ../shared/data/cifar10-jpeg.tar]
"""
import argparse, io, json, math, os, tarfile, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def load(path, limit):
    """Decodes train/ and test/ of the JPEG tar into uint8 NCHW tensors."""
    parts = {'train': ([], []), 'test': ([], [])}
    with tarfile.open(path) as tf:
        for m in tf:
            if not (m.isfile() and m.name.endswith('.jpg')):
                continue
            p = m.name.lstrip('./').split('/')
            if len(p) < 3 or p[-3] not in parts or p[-2] not in CLASSES:
                continue
            img = Image.open(io.BytesIO(tf.extractfile(m).read())).convert('RGB')
            parts[p[-3]][0].append(np.asarray(img))
            parts[p[-3]][1].append(CLASSES.index(p[-2]))
    out = {}
    for k, (xs, ys) in parts.items():
        if not xs:
            raise SystemExit(f'cifar_train_peer: no {k}/ images in {path}')
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
        y = torch.tensor(ys)
        if limit:
            g = torch.Generator().manual_seed(0)
            idx = torch.randperm(len(y), generator=g)[:limit]
            x, y = x[idx], y[idx]
        out[k] = (x, y)
    return out


def normalise(x):
    return (x.float() / 255 - MEAN) / STD


def conv8(f, k=10):
    layers, prev = [], 3
    for stage in range(4):
        w = int((64 << stage) * f)
        layers += [nn.Conv2d(prev, w, 3, 1, 1), nn.ReLU(), nn.Conv2d(w, w, 3, 1, 1), nn.ReLU()]
        layers.append(nn.MaxPool2d((4, 4) if stage == 3 else (2, 2)))
        prev = w
    h = int(256 * f)
    head = nn.Sequential(nn.Conv2d(prev, h, 1), nn.ReLU(), nn.Conv2d(h, h, 1), nn.ReLU(), nn.Conv2d(h, k, 1))
    return nn.Sequential(nn.Sequential(*layers), head, nn.Flatten())


class ConvNB(nn.Module):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, bias=False)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.norm(self.conv(x))


class Block(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.convnb1 = ConvNB(cin, planes, 3, stride, 1)
        self.convnb2 = ConvNB(planes, planes, 3, 1, 1)
        self.shortcut = ConvNB(cin, planes, 1, stride, 0) if stride != 1 or cin != planes else None

    def forward(self, x):
        out = self.convnb2(F.relu(self.convnb1(x)))
        return F.relu(out + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet20(nn.Module):
    def __init__(self, f, k=10):
        super().__init__()
        ws = [int(b * f) for b in (16, 32, 64)]
        self.convnb1 = ConvNB(3, ws[0], 3, 1, 1)
        blocks, prev = [], ws[0]
        for s, w in enumerate(ws):
            for b in range(3):
                blocks.append(Block(prev, w, 2 if b == 0 and s > 0 else 1))
                prev = w
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(prev, k)

    def forward(self, x):
        out = self.blocks(F.relu(self.convnb1(x)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def augment(x, gen):
    """Pad-4 random crop (black padding) and horizontal flip of a uint8 batch."""
    n = x.shape[0]
    xp = F.pad(x, (4, 4, 4, 4))
    dx = torch.randint(0, 9, (n,), generator=gen)
    dy = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.randint(0, 2, (n,), generator=gen).bool()
    out = torch.empty_like(x)
    for i in range(n):
        c = xp[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = c.flip(2) if flip[i] else c
    return out


def evaluate(model, x, y, bs=512):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for b in range(0, len(y), bs):
            out = model(normalise(x[b:b + bs]))
            loss += F.cross_entropy(out, y[b:b + bs], reduction='sum').item()
            correct += (out.argmax(1) == y[b:b + bs]).sum().item()
    model.train()
    return correct / len(y), loss / len(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default=os.environ.get('LTRANSFER_CIFAR10', '../shared/data/cifar10-jpeg.tar'))
    ap.add_argument('--model', choices=['conv8', 'resnet20'], default='conv8')
    ap.add_argument('--width', type=float, default=0.25)
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--lr', type=float, default=0.05)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--wd', type=float, default=1e-4)
    ap.add_argument('--warmup', type=int, default=0, help='linear warm-up steps')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seed', type=int, default=101)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--limit', type=int, default=0, help='at most N train and N test images (quick checks)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    t0 = time.time()
    d = load(a.data, a.limit)
    xtr, ytr = d['train']
    nval = len(ytr) // 10
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(0))
    xval, yval = xtr[perm[:nval]], ytr[perm[:nval]]
    xtr, ytr = xtr[perm[nval:]], ytr[perm[nval:]]
    xte, yte = d['test']
    print(f'loaded {len(ytr)} train, {len(yval)} val, {len(yte)} test in {time.time() - t0:.1f} s', flush=True)

    model = conv8(a.width) if a.model == 'conv8' else ResNet20(a.width)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    steps_per_epoch = (len(ytr) + a.batch - 1) // a.batch
    total = steps_per_epoch * a.epochs
    gen = torch.Generator().manual_seed(a.seed)
    res = {'model': a.model, 'width': a.width, 'epochs': a.epochs, 'threads': a.threads, 'seed': a.seed,
           'torch': torch.__version__, 'epoch_s': [], 'val_acc': [], 'train_loss': []}
    step = 0
    for ep in range(a.epochs):
        t = time.time()
        order = torch.randperm(len(ytr), generator=gen)
        tot, n = 0.0, 0
        for b in range(steps_per_epoch):
            if a.warmup and step < a.warmup:
                lr = a.lr * (step + 1) / a.warmup
            else:
                span = max(total - a.warmup, 1)
                lr = a.lr * (1 + math.cos(math.pi * (step - a.warmup) / span)) / 2
            for g in opt.param_groups:
                g['lr'] = lr
            idx = order[b * a.batch:(b + 1) * a.batch]
            x = normalise(augment(xtr[idx], gen))
            out = model(x)
            loss = F.cross_entropy(out, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item()
            n += 1
            step += 1
        secs = time.time() - t
        va, vl = evaluate(model, xval, yval)
        res['epoch_s'].append(round(secs, 2))
        res['val_acc'].append(va)
        res['train_loss'].append(tot / n)
        print(f'epoch {ep + 1}/{a.epochs} train loss {tot / n:.4f} val acc {100 * va:.2f}% loss {vl:.4f} ({secs:.1f} s train)', flush=True)
    res['test_acc'], res['test_loss'] = evaluate(model, xte, yte)
    print(f'test acc {100 * res["test_acc"]:.2f}%', flush=True)
    print(json.dumps(res), flush=True)


if __name__ == '__main__':
    main()
