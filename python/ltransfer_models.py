"""PyTorch definitions of ltransfer's built-in models (numpy + torch only).

Every model here has exactly the state_dict of the ltransfer model of the
same name and configuration: the same tensor names, shapes and layouts, the
same buffers (BatchNorm's running_mean, running_var and the int64 scalar
num_batches_tracked), so

    model = build("conv8", width_factor=0.25)
    model.load_state_dict(load_state_dict("ckpt-0010.safetensors"))   # strict

loads an ltransfer checkpoint, and the converse (pt2safetensors.py) gives a
file `ltransfer eval --params` accepts. Initialisation is PyTorch's default
and is not meant to reproduce ltransfer's random draws.

Models (build(arch, ...) with the ltransfer flag of the same meaning):

  mlp        784→W→classes, no bias, no activation: linear1.weight [W, 784],
             linear2.weight [classes, W]. width (--width, default 4096).
  mlp-relu   depth hidden layers (--depth, default 1) of width units with
             bias and ReLU: linear1 … linear{depth+1}, .weight and .bias.
  conv4/6/8  pairs of 3×3 stride-1 pad-1 convolutions with bias and ReLU,
             64·f, 128·f, 256·f, 512·f channels (f = --width-factor,
             int() truncation), a 2×2 max-pool after each pair, in one
             nn.Sequential "convs" (convolutions at convs.0, convs.2, convs.5,
             convs.7, …); conv6's third pool is 8×8 and conv8's fourth is
             4×4, so both reach 1×1; conv4 views its 128·f×8×8 features as
             [N, 128·f·64, 1, 1] (C, H, W order). The head "linear" is 1×1
             convolutions with bias: linear.0 (→ 256·f), ReLU, linear.2,
             ReLU, linear.4 (→ classes). Inputs must be [C, 32, 32].
  resnet20   He et al.'s CIFAR ResNet-20: stem convnb1 (3×3 conv without
             bias, then BatchNorm "norm"), layer1 … layer3 of 3 basic blocks
             with 16·f, 32·f, 64·f channels; a block is
             relu(convnb2(relu(convnb1(x))) + shortcut(x)), shortcut a 1×1
             stride-s conv + BatchNorm where the stride or width changes and
             the identity (no tensors) otherwise; global average pool,
             linear (with bias).
  resnet18   the same blocks, [2, 2, 2, 2], 64·f … 512·f channels (the stem is
             scaled by f too). Stem by input size: ≤ 32 pixels 3×3 stride 1;
             33–127 pixels 3×3 stride 1 then a 3×3 stride-2 pad-1 max-pool;
             ≥ 128 pixels 7×7 stride 2 pad 3 then that max-pool.

BatchNorm is PyTorch's BatchNorm2d (eps 1e-5, momentum 0.1). The loss
ltransfer reports is the mean softmax cross-entropy (F.cross_entropy), the
accuracy the fraction of samples whose first maximal logit is the label.

Input normalisation (what ltransfer feeds the model)
----------------------------------------------------
Samples are float32 tensors [N, C, H, W] (NCHW), C-order, channels in the
file's order (CIFAR-10: R, G, B planes, as in the binary batches and in
torchvision's CIFAR10 with ToTensor). Each pixel p in 0…255 becomes

    x = (p / 255 − mean[c]) / std[c]

that is torchvision's ToTensor() followed by Normalize(mean, std) with

  mnist          mean (0.1307,)                   std (0.3081,)
  fashion-mnist  mean (0.2860,)                   std (0.3530,)
  cifar10        mean (0.4914, 0.4822, 0.4465)    std (0.2470, 0.2435, 0.2616)
  imagefolder    the training split's own per-channel mean and std

(CIFAR-10's std is the per-pixel standard deviation over the training set,
not the (0.2023, 0.1994, 0.2010) found in some tutorials). MLPs flatten
[N, C, H, W] in C order (x.flatten(1)). Training on CIFAR-10 augments with a
random crop of the image zero-padded by 4 pixels (padding in pixel space,
before normalisation, i.e. RandomCrop(32, padding=4) before ToTensor) and a
horizontal flip; evaluation never augments.

normalize_images(pixels, dataset) applies the normalisation to a uint8
array [N, C, H, W].
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ARCHS", "NORMALIZATION", "build", "infer_config", "load_state_dict",
    "normalize_images", "MLP", "MLPReLU", "ConvNet", "ConvNormBlock",
    "BasicBlock", "ResNet",
]

ARCHS = ("mlp", "mlp-relu", "conv4", "conv6", "conv8", "resnet18", "resnet20")

# Per-channel mean and std in [0, 1] pixel units, as ltransfer's data loaders.
NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}

DEFAULT_MLP_WIDTH = 4096


def normalize_images(pixels, dataset):
    """uint8 [N, C, H, W] (or [N, H, W] for one channel) → float32 tensor
    normalised as ltransfer normalises `dataset` (see the module doc)."""
    if dataset not in NORMALIZATION:
        raise ValueError("dataset %r has no fixed normalisation (known: %s)" % (dataset, ", ".join(NORMALIZATION)))
    mean, std = NORMALIZATION[dataset]
    x = np.asarray(pixels)
    if x.dtype != np.uint8:
        raise ValueError("pixels must be uint8, got %s" % x.dtype)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] != len(mean):
        raise ValueError("pixels have shape %s, want [N, %d, H, W]" % (x.shape, len(mean)))
    t = torch.from_numpy(x.astype(np.float32) / np.float32(255))
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (t - m) / s


def _width(arch, base, width_factor):
    f = width_factor if width_factor else 1.0
    w = int(float(base) * f)  # int() truncation, as ltransfer
    if w < 1:
        raise ValueError("model %s: width factor %g leaves %d channels of %d" % (arch, f, w, base))
    return w


class MLP(nn.Module):
    """ltransfer's "mlp": linear1 (no bias) then linear2 (no bias), no activation."""

    def __init__(self, width=DEFAULT_MLP_WIDTH, in_features=784, num_classes=10):
        super().__init__()
        self.linear1 = nn.Linear(in_features, width, bias=False)
        self.linear2 = nn.Linear(width, num_classes, bias=False)

    def forward(self, x):
        return self.linear2(self.linear1(x.flatten(1)))


class MLPReLU(nn.Module):
    """ltransfer's "mlp-relu": linear1 … linear{depth+1} with bias, ReLU between."""

    def __init__(self, width=DEFAULT_MLP_WIDTH, depth=1, in_features=784, num_classes=10):
        super().__init__()
        self.depth = depth
        prev = in_features
        for i in range(1, depth + 1):
            setattr(self, "linear%d" % i, nn.Linear(prev, width))
            prev = width
        setattr(self, "linear%d" % (depth + 1), nn.Linear(prev, num_classes))

    def forward(self, x):
        x = x.flatten(1)
        for i in range(1, self.depth + 1):
            x = F.relu(getattr(self, "linear%d" % i)(x))
        return getattr(self, "linear%d" % (self.depth + 1))(x)


class ConvNet(nn.Module):
    """ltransfer's conv4, conv6 and conv8 (depth 4, 6, 8)."""

    def __init__(self, depth=8, width_factor=1.0, in_channels=3, num_classes=10):
        super().__init__()
        if depth not in (4, 6, 8):
            raise ValueError("ConvNet depth %d: want 4, 6 or 8" % depth)
        arch = "conv%d" % depth
        self.depth = depth
        layers = []
        prev = in_channels
        for stage in range(depth // 2):
            w = _width(arch, 64 << stage, width_factor)
            for _ in range(2):
                layers += [nn.Conv2d(prev, w, 3, stride=1, padding=1, bias=True), nn.ReLU()]
                prev = w
            pool = 2
            if depth == 6 and stage == 2:
                pool = 8
            elif depth == 8 and stage == 3:
                pool = 4
            layers.append(nn.MaxPool2d(pool))
        self.convs = nn.Sequential(*layers)
        if depth == 4:
            prev *= 64
        head = _width(arch, 256, width_factor)
        self.linear = nn.Sequential(
            nn.Conv2d(prev, head, 1, bias=True), nn.ReLU(),
            nn.Conv2d(head, head, 1, bias=True), nn.ReLU(),
            nn.Conv2d(head, num_classes, 1, bias=True),
        )

    def forward(self, x):
        if x.shape[-2:] != (32, 32):
            raise ValueError("conv%d is defined for [C, 32, 32] inputs, got %s" % (self.depth, tuple(x.shape[1:])))
        out = self.convs(x)
        if self.depth == 4:
            out = out.reshape(out.shape[0], -1, 1, 1)
        return self.linear(out).flatten(1)


class ConvNormBlock(nn.Module):
    """conv (no bias) → BatchNorm2d, as modules "conv" and "norm"."""

    def __init__(self, in_channels, out_channels, kernel, stride, padding):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.norm(self.conv(x))


class BasicBlock(nn.Module):
    """relu(convnb2(relu(convnb1(x))) + shortcut(x)); the shortcut is a 1×1
    ConvNormBlock when the stride or width changes, else the identity."""

    def __init__(self, in_channels, planes, stride):
        super().__init__()
        self.convnb1 = ConvNormBlock(in_channels, planes, 3, stride, 1)
        self.convnb2 = ConvNormBlock(planes, planes, 3, 1, 1)
        if stride != 1 or in_channels != planes:
            self.shortcut = ConvNormBlock(in_channels, planes, 1, stride, 0)
        else:
            self.shortcut = None

    def forward(self, x):
        out = self.convnb2(F.relu(self.convnb1(x)))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNet(nn.Module):
    """ltransfer's resnet20 (blocks [3, 3, 3], base 16) and resnet18
    (blocks [2, 2, 2, 2], base 64)."""

    def __init__(self, arch="resnet20", width_factor=1.0, input_shape=(3, 32, 32), num_classes=10):
        super().__init__()
        if arch == "resnet20":
            bases, blocks = (16, 32, 64), 3
        elif arch == "resnet18":
            bases, blocks = (64, 128, 256, 512), 2
        else:
            raise ValueError("ResNet arch %r: want resnet18 or resnet20" % arch)
        c, h, w = input_shape
        if h < 8 or w < 8:
            raise ValueError("model %s needs inputs of at least 8×8, got %s" % (arch, tuple(input_shape)))
        widths = [_width(arch, b, width_factor) for b in bases]
        size = min(h, w)
        self.stem_pool = arch == "resnet18" and size > 32
        if arch == "resnet18" and size >= 128:
            self.convnb1 = ConvNormBlock(c, widths[0], 7, 2, 3)
        else:
            self.convnb1 = ConvNormBlock(c, widths[0], 3, 1, 1)
        prev = widths[0]
        for s, wd in enumerate(widths):
            layer = []
            for b in range(blocks):
                stride = 2 if b == 0 and s > 0 else 1
                layer.append(BasicBlock(prev, wd, stride))
                prev = wd
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layer))
        self.nlayers = len(widths)
        self.linear = nn.Linear(prev, num_classes)

    def forward(self, x):
        out = F.relu(self.convnb1(x))
        if self.stem_pool:
            out = F.max_pool2d(out, 3, stride=2, padding=1)
        for s in range(1, self.nlayers + 1):
            out = getattr(self, "layer%d" % s)(out)
        out = out.mean(dim=(2, 3))
        return self.linear(out)


def build(arch, width=None, width_factor=None, depth=None, input_shape=None, num_classes=10):
    """The model ltransfer builds for `ltransfer train --model arch` with the
    same --width, --width-factor, --depth, --classes; input_shape is the
    per-sample [C, H, W] of the data (MLPs: [1, 28, 28] by default, conv
    nets and ResNets: [3, 32, 32])."""
    if arch in ("mlp", "mlp-relu"):
        shape = tuple(input_shape) if input_shape else (1, 28, 28)
        feats = int(np.prod(shape))
        w = width or DEFAULT_MLP_WIDTH
        if arch == "mlp":
            if depth and depth > 1:
                raise ValueError("model mlp has one hidden layer (depth %d requested; use mlp-relu)" % depth)
            return MLP(w, feats, num_classes)
        return MLPReLU(w, depth or 1, feats, num_classes)
    shape = tuple(input_shape) if input_shape else (3, 32, 32)
    if arch in ("conv4", "conv6", "conv8"):
        if len(shape) != 3 or shape[1:] != (32, 32):
            raise ValueError("model %s is defined for [C, 32, 32] inputs, got %s" % (arch, shape))
        return ConvNet(int(arch[4:]), width_factor or 1.0, shape[0], num_classes)
    if arch in ("resnet18", "resnet20"):
        return ResNet(arch, width_factor or 1.0, shape, num_classes)
    raise ValueError("unknown model %r (known: %s)" % (arch, ", ".join(ARCHS)))


def infer_config(arch, state_dict):
    """Keyword arguments of build() that fit a state_dict (or a dict of
    arrays): width and depth of MLPs, width factor of conv nets and
    ResNets (channels of the first convolution over its base width), the
    class count and the input channels."""
    def shape(name):
        if name not in state_dict:
            raise KeyError("state_dict has no %r, so it is not a %s (it has %s)" % (name, arch, ", ".join(list(state_dict)[:8])))
        return tuple(state_dict[name].shape)

    if arch in ("mlp", "mlp-relu"):
        w = shape("linear1.weight")
        last = 2
        while "linear%d.weight" % (last + 1) in state_dict:
            last += 1
        cfg = {"width": w[0], "num_classes": shape("linear%d.weight" % last)[0]}
        if arch == "mlp-relu":
            cfg["depth"] = last - 1
        if w[1] == 3 * 32 * 32:
            cfg["input_shape"] = (3, 32, 32)
        elif w[1] != 784:
            cfg["input_shape"] = (w[1],)
        return cfg
    # int() truncation loses the factor's low bits: the smallest factor
    # that gives every stage its width is the largest width/base.
    if arch in ("conv4", "conv6", "conv8"):
        w = shape("convs.0.weight")
        stages = [("convs.%d.weight" % (5 * s), 64 << s) for s in range(int(arch[4:]) // 2)] + [("linear.2.weight", 256)]
        f = max(shape(n)[0] / float(b) for n, b in stages)
        return {"width_factor": f, "num_classes": shape("linear.4.weight")[0], "input_shape": (w[1], 32, 32)}
    if arch in ("resnet18", "resnet20"):
        bases = (64, 128, 256, 512) if arch == "resnet18" else (16, 32, 64)
        stages = [("convnb1.conv.weight", bases[0])] + [("layer%d.0.convnb1.conv.weight" % (s + 1), b) for s, b in enumerate(bases)]
        f = max(shape(n)[0] / float(b) for n, b in stages)
        # The spatial size is not in the tensors: 32×32 (CIFAR-10) assumed.
        return {"width_factor": f, "num_classes": shape("linear.weight")[0], "input_shape": (shape("convnb1.conv.weight")[1], 32, 32)}
    raise ValueError("unknown model %r (known: %s)" % (arch, ", ".join(ARCHS)))


def load_state_dict(path):
    """A safetensors file as a state_dict of torch tensors (see
    pt2safetensors.load_safetensors)."""
    try:
        from pt2safetensors import load_state_dict as _load
    except ImportError:  # imported as part of a package
        from .pt2safetensors import load_state_dict as _load
    return _load(path)
