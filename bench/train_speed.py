#!/usr/bin/env python3
"""PyTorch's side of the training-speed comparison (bench/train_speed.sh):
the loop `spurcl train` runs, written the plain PyTorch way, on the same
data file and model, and its images per second.

    /usr/bin/python3 bench/train_speed.py --data FILE [--model cnn|vit] [--epochs 2]
        [--batch 128] [--threads 2] [--seed 0]

Reads the training split of a `spurcl data build` file (safetensors: images
U8 [N,C,H,W], labels and split I32 [N]) without the safetensors package,
scales pixels to [0, 1], and trains tests/fixtures/make_fixtures.py's CNN
(32, 64, 128) or ViT (patch 7, dim 64, depth 4, 4 heads, MLP 128: spurcl's
defaults) with cross-entropy and AdamW (lr 1e-3, weight decay 0.01), batch
128, shuffled each epoch. Prints one JSON line per epoch with its images per
second; the first epoch is warm-up (allocator, thread pool), compare the
last.
"""
import argparse
import importlib.util
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            dt = {"U8": np.uint8, "I32": np.int32, "F32": np.float32}[meta["dtype"]]
            a, b = meta["data_offsets"]
            f.seek(base + a)
            out[name] = np.frombuffer(f.read(b - a), dtype=dt).reshape(meta["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="cnn", choices=["cnn", "vit"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    d = read_safetensors(args.data)
    train = d["split"] == 0
    x = torch.from_numpy(d["images"][train].astype(np.float32) / 255.0)
    y = torch.from_numpy(d["labels"][train].astype(np.int64))
    n, c, h, w = x.shape
    classes = int(y.max()) + 1

    spec = importlib.util.spec_from_file_location(
        "spurcl_make_fixtures", os.path.join(ROOT, "tests", "fixtures", "make_fixtures.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    if args.model == "cnn":
        model = m.CNN(c, h, classes)
    else:
        model = m.ViT(c, h, 7 if h == 28 else 4, 64, 4, 4, 128, classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n, generator=g)
        t0 = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        s = time.perf_counter() - t0
        print(json.dumps({"impl": "torch", "model": args.model, "epoch": epoch, "images": n,
                          "epoch_s": round(s, 3), "images_per_s": round(n / s, 1),
                          "threads": args.threads, "loss": round(float(loss), 4)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
