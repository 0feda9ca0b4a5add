#!/usr/bin/python3
"""PyTorch 1.13 peer of `ltransfer train` for the paper's MNIST MLP.

Trains mlp (784→W→10, no bias, no activation) with SGD (lr, momentum 0.9),
batch 128, on the same 54,000/6,000 split sizes, validating after every
epoch, and prints one JSON line with per-epoch wall times and accuracies.

--loader tensors: batches sliced from normalised tensors held in memory
                  (the fastest way PyTorch can be fed);
--loader paper:   torchvision MNIST + ToTensor/Normalize + DataLoader, as
                  the paper's code does (per-sample transforms).
"""
import argparse, gzip, json, os, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    magic, n = struct.unpack(">II", b[:8])
    if magic == 0x803:
        h, w = struct.unpack(">II", b[8:16])
        return np.frombuffer(b, np.uint8, offset=16).reshape(n, 1, h, w)
    return np.frombuffer(b, np.uint8, offset=8).astype(np.int64)


class MLP(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear1 = nn.Linear(784, width, bias=False)
        self.linear2 = nn.Linear(width, 10, bias=False)

    def forward(self, x):
        return self.linear2(self.linear1(x.view(x.shape[0], -1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--loader", choices=["tensors", "paper"], default="tensors")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(0)
    xtr = read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz"))
    xte = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"))
    norm = lambda x: (torch.from_numpy(x.astype(np.float32) / 255) - 0.1307) / 0.3081
    perm = torch.randperm(60000, generator=g)
    tr_idx, va_idx = perm[:54000], perm[54000:]
    model = MLP(a.width)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)

    if a.loader == "tensors":
        X, Y = norm(xtr), torch.from_numpy(ytr)
        Xtr, Ytr, Xva, Yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
        Xte, Yte = norm(xte), torch.from_numpy(yte)

        def train_batches():
            p = torch.randperm(len(Ytr))
            for i in range(0, len(p), a.batch):
                j = p[i:i + a.batch]
                yield Xtr[j], Ytr[j]

        def eval_batches(X, Y):
            for i in range(0, len(Y), 500):
                yield X[i:i + 500], Y[i:i + 500]
        val = lambda: eval_batches(Xva, Yva)
        test = lambda: eval_batches(Xte, Yte)
    else:
        from torch.utils.data import DataLoader, Dataset, Subset
        import torchvision.transforms as T
        from PIL import Image
        tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])

        class DS(Dataset):
            def __init__(self, x, y):
                self.x, self.y = x, y

            def __len__(self):
                return len(self.y)

            def __getitem__(self, i):
                return tf(Image.fromarray(self.x[i, 0], mode="L")), int(self.y[i])
        full = DS(xtr, ytr)
        trl = DataLoader(Subset(full, tr_idx.tolist()), batch_size=a.batch, shuffle=True)
        val = lambda: DataLoader(Subset(full, va_idx.tolist()), batch_size=1000)
        test = lambda: DataLoader(DS(xte, yte), batch_size=1000)
        train_batches = lambda: iter(trl)

    def evaluate(batches):
        model.eval()
        n = c = 0
        loss = 0.0
        with torch.no_grad():
            for x, y in batches:
                out = model(x)
                loss += F.cross_entropy(out, y, reduction="sum").item()
                c += (out.argmax(1) == y).sum().item()
                n += len(y)
        model.train()
        return c / n, loss / n

    times, vals = [], []
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        for x, y in train_batches():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        vals.append(evaluate(val())[0])
        times.append(time.perf_counter() - t0)
    test_acc = evaluate(test())[0]
    print(json.dumps({"peer": "pytorch " + torch.__version__, "loader": a.loader, "threads": a.threads,
                      "epoch_seconds": times, "val_acc": vals, "test_acc": test_acc}))


if __name__ == "__main__":
    main()
