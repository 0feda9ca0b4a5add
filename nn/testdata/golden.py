#!/usr/bin/python3
"""Writes golden.safetensors: PyTorch (Debian python3-torch 1.13) reference
values for ltransfer's nn package. Run by hand from the repository root:

    /usr/bin/python3 nn/testdata/golden.py

and commit the fixture. Go's TestGolden* (nn/golden_test.go) must match it
to 1e-5 relative. Each case writes, under the prefix "<case>.":
  param.<name>        initial parameters (the model's state_dict)
  x, y                the batch (y as I64)
  loss                mean cross-entropy (scalar)
  grad.<name>         gradient of the loss for every parameter
and optimiser cases write after.<k>.<name>, the parameters after k steps on
batches x.<k>, y.<k>. The header's __metadata__ "cases" describes each case
(model config, optimiser) as JSON so the Go test needs no duplicated
constants. New models (conv, ResNet) add a case function below.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(20240527)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)

tensors = {}  # name -> np.ndarray
cases = {}


def put(name, t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    assert name not in tensors, name
    tensors[name] = np.array(a, copy=True, order="C")  # state_dict tensors alias the live parameters


class MLP(nn.Module):
    """The paper's mlp: 784→W→10, no bias, no activation."""

    def __init__(self, features, width, classes):
        super().__init__()
        self.linear1 = nn.Linear(features, width, bias=False)
        self.linear2 = nn.Linear(width, classes, bias=False)

    def forward(self, x):
        return self.linear2(self.linear1(x.flatten(1)))


class MLPReLU(nn.Module):
    """mlp-relu: depth hidden layers with bias and ReLU, named linear1…"""

    def __init__(self, features, width, depth, classes):
        super().__init__()
        dims = [features] + [width] * depth + [classes]
        self.n = depth + 1
        for i in range(self.n):
            setattr(self, "linear%d" % (i + 1), nn.Linear(dims[i], dims[i + 1]))

    def forward(self, x):
        x = x.flatten(1)
        for i in range(self.n):
            x = getattr(self, "linear%d" % (i + 1))(x)
            if i < self.n - 1:
                x = F.relu(x)
        return x


def batch(n, shape, classes):
    return torch.randn(n, *shape), torch.randint(0, classes, (n,))


def grad_case(name, model, arch, cfg, n=8):
    shape = cfg["input_shape"]
    x, y = batch(n, shape, cfg.get("num_classes", 10))
    for k, v in model.state_dict().items():
        put("%s.param.%s" % (name, k), v)
    put(name + ".x", x)
    put(name + ".y", y)
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    put(name + ".loss", loss)
    for k, p in model.named_parameters():
        put("%s.grad.%s" % (name, k), p.grad)
    cases[name] = {"kind": "grad", "arch": arch, "config": cfg}


def optim_case(name, model, arch, cfg, opt_name, opt_cfg, steps=3, n=8):
    for k, v in model.state_dict().items():
        put("%s.param.%s" % (name, k), v)
    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), **opt_cfg)
    else:
        opt = torch.optim.AdamW(model.parameters(), **opt_cfg)
    for s in range(1, steps + 1):
        x, y = batch(n, cfg["input_shape"], cfg.get("num_classes", 10))
        put("%s.x.%d" % (name, s), x)
        put("%s.y.%d" % (name, s), y)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        for k, v in model.state_dict().items():
            put("%s.after.%d.%s" % (name, s, k), v)
    go_opt = dict(opt_cfg)
    if "betas" in go_opt:
        go_opt["beta1"], go_opt["beta2"] = go_opt.pop("betas")
    go_opt["name"] = opt_name
    cases[name] = {"kind": "optim", "arch": arch, "config": cfg, "optimizer": go_opt, "steps": steps}


def main():
    cfg = {"width": 16, "input_shape": [1, 6, 6], "num_classes": 10}
    grad_case("mlp", MLP(36, 16, 10), "mlp", cfg)
    cfg2 = {"width": 12, "depth": 2, "input_shape": [36], "num_classes": 7}
    grad_case("mlprelu", MLPReLU(36, 12, 2, 7), "mlp-relu", cfg2)
    optim_case("sgd_plain", MLP(36, 16, 10), "mlp", cfg, "sgd", {"lr": 0.1, "momentum": 0.9})
    optim_case("sgd_nesterov", MLPReLU(36, 12, 2, 7), "mlp-relu", cfg2, "sgd",
               {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3, "nesterov": True})
    optim_case("sgd_damp", MLPReLU(36, 12, 2, 7), "mlp-relu", cfg2, "sgd",
               {"lr": 0.05, "momentum": 0.8, "dampening": 0.25, "weight_decay": 1e-2})
    optim_case("adamw", MLPReLU(36, 12, 2, 7), "mlp-relu", cfg2, "adamw",
               {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-7, "weight_decay": 0.05})
    write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.safetensors"))


def write(path):
    header = {"__metadata__": {"cases": json.dumps(cases, sort_keys=True), "torch": torch.__version__}}
    off = 0
    blobs = []
    for name in sorted(tensors):
        a = tensors[name]
        if a.dtype == np.int64:
            dt, b = "I64", a.astype("<i8").tobytes()
        else:
            dt, b = "F32", a.astype("<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    print("wrote %s: %d tensors, %d bytes" % (path, len(tensors), 8 + len(h) + off))


if __name__ == "__main__":
    main()
