"""PyTorch side of TestPyTorchRoundTrip (cmd/ltransfer/pytorch_roundtrip_test.go).

    torch_roundtrip.py export WORK   # models → .pt → safetensors, PyTorch's logits
    torch_roundtrip.py back WORK     # ltransfer checkpoints → strict load → logits

WORK/models.json lists {name, arch, kwargs, dataset, seed}; WORK/data holds
the test split in MNIST idx or CIFAR-10 binary format. The test data is
read here with numpy and normalised with ltransfer_models.normalize_images,
so the documented normalisation is what is checked.
"""

import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "..", "python")
sys.path.insert(0, PYDIR)

import ltransfer_models as lm  # noqa: E402
import pt2safetensors as pts  # noqa: E402


def test_split(data, dataset):
    if dataset == "mnist":
        with gzip.open(os.path.join(data, "t10k-images-idx3-ubyte.gz")) as f:
            b = f.read()
        n, h, w = (int.from_bytes(b[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
        pix = np.frombuffer(b[16:], np.uint8).reshape(n, 1, h, w)
        with gzip.open(os.path.join(data, "t10k-labels-idx1-ubyte.gz")) as f:
            y = np.frombuffer(f.read()[8:], np.uint8)
    else:
        b = np.fromfile(os.path.join(data, "test_batch.bin"), np.uint8).reshape(-1, 3073)
        y, pix = b[:, 0], b[:, 1:].reshape(-1, 3, 32, 32)
    return lm.normalize_images(pix, dataset), torch.from_numpy(y.astype(np.int64))


def perturb(model, seed):
    """Give BatchNorm state that is not the identity, and spread the logits
    so the loss and accuracy tell models apart."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(c, generator=g))
                mod.bias.copy_(0.2 * torch.randn(c, generator=g))
                mod.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=g))
                mod.num_batches_tracked.fill_(seed + 3)
        last = [p for n, p in model.named_parameters() if n.endswith("weight")][-1]
        last.mul_(4)


def logits_of(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def export(work):
    spec = json.load(open(os.path.join(work, "models.json")))
    ptdir, stdir, out = (os.path.join(work, d) for d in ("pt", "st", "torch"))
    for d in (ptdir, out):
        os.makedirs(d)
    for m in spec:
        torch.manual_seed(m["seed"])
        model = lm.build(m["arch"], **m["kwargs"])
        perturb(model, m["seed"])
        torch.save(model.state_dict(), os.path.join(ptdir, m["name"] + ".pt"))
    # The converter's command line, folder mode (in this process: a second
    # torch import costs seconds).
    if pts.main([ptdir, stdir]) != 0:
        sys.exit("pt2safetensors.py %s %s failed" % (ptdir, stdir))
    results = {}
    for m in spec:
        model = lm.build(m["arch"], **m["kwargs"])
        model.load_state_dict(torch.load(os.path.join(ptdir, m["name"] + ".pt")))
        x, y = test_split(os.path.join(work, "data", m["dataset"]), m["dataset"])
        z = logits_of(model, x)
        results[m["name"]] = {
            "loss": F.cross_entropy(z, y).item(),
            "accuracy": (z.argmax(1) == y).double().mean().item(),
            "n": len(y),
        }
        pts.save_safetensors({"logits": z}, os.path.join(out, m["name"] + ".safetensors"))
    # A trajectory saved as PyTorch files, numbered without padding.
    tdir = os.path.join(work, "traj_pt")
    os.makedirs(tdir)
    torch.manual_seed(5)
    model = lm.build("mlp", width=16)
    for step in (0, 1, 2, 10):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        torch.save({"state_dict": model.state_dict(), "step": step}, os.path.join(tdir, "ckpt-%d.pt" % step))
    if pts.main(["--key", "state_dict", tdir, os.path.join(work, "traj_st")]) != 0:
        sys.exit("pt2safetensors.py %s failed" % tdir)
    json.dump(results, open(os.path.join(work, "torch.json"), "w"))


def back(work):
    spec = json.load(open(os.path.join(work, "models.json")))
    out = os.path.join(work, "back_torch")
    os.makedirs(out)
    for m in spec:
        src = os.path.join(work, "back", m["name"] + ".safetensors")
        sd = lm.load_state_dict(src)
        model = lm.build(m["arch"], **lm.infer_config(m["arch"], sd))
        model.load_state_dict(sd, strict=True)
        # The reverse converter gives the same state_dict.
        pt = os.path.join(out, m["name"] + ".pt")
        pts.convert(src, pt)
        sd2 = torch.load(pt)
        assert list(sd2) == list(sd) and all(torch.equal(sd[k], sd2[k]) for k in sd), m["name"]
        x, _ = test_split(os.path.join(work, "data", m["dataset"]), m["dataset"])
        pts.save_safetensors({"logits": logits_of(model, x)}, os.path.join(out, m["name"] + ".safetensors"))


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"export": export, "back": back}[sys.argv[1]](sys.argv[2])
