#!/usr/bin/python3
"""Golden values for ltransfer's convolutional models, from PyTorch.

Run by hand (not in CI), with Debian's python3-torch (1.13):

    /usr/bin/python3 nn/testdata/golden_conv.py nn/testdata/golden_conv.safetensors

For each model (conv4, conv6, conv8 as the paper's models/conv.py defines
them; resnet20 and resnet18 with the paper's ConvNormBlock/BasicBlock names)
at a small width, it fixes seeded weights and one seeded batch, runs one
training-mode forward/backward in float64 and stores, as F32:

    x, y                 the batch (y as I64)
    <model>/p/<name>     every state_dict entry before the step (the
                         num_batches_tracked buffers as I64)
    <model>/loss         mean cross-entropy (shape [1])
    <model>/g/<name>     the gradient of every trainable parameter
    <model>/post/<name>  the BN running statistics after the step
    <model>/eval_loss    the loss of the same batch in eval mode, with the
                         post-step running statistics

The Go test (conv_golden_test.go) loads the weights, runs the same step and
compares to 1e-4 relative (per tensor, against the tensor's largest value).
The file is written without the safetensors package, which Debian lacks.
"""
import json
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

# Smallest |pre-activation| / std seen by any ReLU in the current forward.
# A value within float32 rounding of a ReLU kink would make a float32
# implementation legitimately take the other side (one flipped mask moves
# some gradients by ~1%), so main() redraws weights until every ReLU input
# stays clear of zero.
MARGIN = [float("inf")]
MIN_MARGIN = 3e-5


def relu(x):
    MARGIN[0] = min(MARGIN[0], (x.abs().min() / x.std()).item())
    return F.relu(x)


class ReLU(nn.Module):
    def forward(self, x):
        return relu(x)


class ConvNet(nn.Module):
    """The paper's Conv4/6/8 (models/conv.py)."""

    def __init__(self, depth, f, classes=10):
        super().__init__()
        layers, prev = [], 3
        for stage in range(depth // 2):
            w = int((64 << stage) * f)
            layers += [nn.Conv2d(prev, w, 3, 1, 1), ReLU(), nn.Conv2d(w, w, 3, 1, 1), ReLU()]
            pool = 2
            if depth == 6 and stage == 2:
                pool = 8
            if depth == 8 and stage == 3:
                pool = 4
            layers.append(nn.MaxPool2d((pool, pool)))
            prev = w
        self.convs = nn.Sequential(*layers)
        self.flat = prev * 64 if depth == 4 else prev
        h = int(256 * f)
        self.linear = nn.Sequential(nn.Conv2d(self.flat, h, 1), ReLU(), nn.Conv2d(h, h, 1), ReLU(), nn.Conv2d(h, classes, 1))

    def forward(self, x):
        out = self.convs(x)
        out = out.view(out.size(0), self.flat, 1, 1)
        return self.linear(out).squeeze()


class ConvNormBlock(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.norm(self.conv(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.convnb1 = ConvNormBlock(cin, planes, 3, stride, 1)
        self.convnb2 = ConvNormBlock(planes, planes, 3, 1, 1)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = ConvNormBlock(cin, planes, 1, stride)

    def forward(self, x):
        out = relu(self.convnb1(x))
        out = self.convnb2(out)
        out = out + self.shortcut(x)
        return relu(out)


class ResNet(nn.Module):
    """The paper's ResNet (32×32 stem: 3×3 stride 1, no max-pool)."""

    def __init__(self, bases, blocks, f, classes=10):
        super().__init__()
        widths = [int(b * f) for b in bases]
        self.convnb1 = ConvNormBlock(3, widths[0], 3, 1, 1)
        prev = widths[0]
        for s, (w, nb) in enumerate(zip(widths, blocks)):
            mods = []
            for b in range(nb):
                stride = 2 if (b == 0 and s > 0) else 1
                mods.append(BasicBlock(prev, w, stride))
                prev = w
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*mods))
        self.nstages = len(widths)
        self.linear = nn.Linear(prev, classes)

    def forward(self, x):
        out = relu(self.convnb1(x))
        for s in range(self.nstages):
            out = getattr(self, "layer%d" % (s + 1))(out)
        out = F.avg_pool2d(out, out.size(3))
        return self.linear(out.view(out.size(0), -1))


MODELS = [
    ("conv4", 0.0625, lambda f: ConvNet(4, f)),
    ("conv6", 0.125, lambda f: ConvNet(6, f)),
    ("conv8", 0.0625, lambda f: ConvNet(8, f)),
    ("resnet20", 0.25, lambda f: ResNet([16, 32, 64], [3, 3, 3], f)),
    ("resnet18", 0.0625, lambda f: ResNet([64, 128, 256, 512], [2, 2, 2, 2], f)),
]


def build(make, f, seed):
    torch.manual_seed(seed)
    m = make(f)
    # Non-default BN affine parameters and running statistics, so that
    # every term of the BN formulas is exercised.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(3)
    return m


def main(out):
    torch.manual_seed(20240521)
    n = 4
    x = torch.randn(n, 3, 32, 32)
    y = torch.randint(0, 10, (n,))
    tensors = {"x": x, "y": y}
    widths = {}
    seeds = {}
    for name, f, make in MODELS:
        seed = sum(map(ord, name))
        while True:
            m = build(make, f, seed)
            MARGIN[0] = float("inf")
            m.train()
            with torch.no_grad():
                m(x)  # (a throwaway copy of the BN statistics update)
            if MARGIN[0] >= MIN_MARGIN:
                break
            seed += 1
        m = build(make, f, seed)
        widths[name] = f
        seeds[name] = seed
        for k, v in m.state_dict().items():
            tensors["%s/p/%s" % (name, k)] = v.clone()
        m.train()
        m.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        tensors["%s/loss" % name] = loss.detach().reshape(1)
        for k, p in m.named_parameters():
            tensors["%s/g/%s" % (name, k)] = p.grad.clone()
        for k, v in m.state_dict().items():
            if "running" in k or "num_batches" in k:
                tensors["%s/post/%s" % (name, k)] = v.clone()
        m.eval()
        with torch.no_grad():
            tensors["%s/eval_loss" % name] = F.cross_entropy(m(x), y).reshape(1)
    write_safetensors(out, tensors, {"widths": json.dumps(widths), "seeds": json.dumps(seeds), "torch": torch.__version__})


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k, v in tensors.items():
        if v.dtype in (torch.int64, torch.long):
            dt, raw = "I64", v.contiguous().numpy().astype("<i8").tobytes()
        else:
            dt, raw = "F32", v.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": dt, "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(h)))
        fp.write(h)
        for b in blobs:
            fp.write(b)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nn/testdata/golden_conv.safetensors")
