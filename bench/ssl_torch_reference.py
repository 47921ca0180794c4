#!/usr/bin/env python3
"""PyTorch reference for spurcl's self-supervised pre-training + linear probe.

Replicates, on a data set written by `spurcl data build` (docs/data.md):

  * the `cnn` encoder of src/nn/models.c: conv1 (3x3, pad 1) - ReLU - maxpool 2
    - conv2 (3x3, pad 1) - ReLU - maxpool 2 - flatten - fc1 - ReLU (= the
    features), fc2 (unused by SSL and the probe); widths 32, 64, 128;
    PyTorch's default initialisation (what sc_model_init reproduces);
  * inputs: uint8 / 255 in [0, 1], no per-channel standardisation (ssl.c and
    probe.c create their batchers without `normalize`);
  * the projector of src/train/ssl.c: Linear(F, 512) - ReLU - Linear(512, 128),
    no batch norm, PyTorch's default Linear init;
  * the augmentation of src/train/augment.c + cl/augment.cl, per view:
    torchvision's RandomResizedCrop.get_params (scale 0.2-1, log-uniform ratio
    0.75-1.333, 10 tries then a centre crop), the integer box resampled to HxW
    bilinearly (align_corners = False, reads clamped into the box), flip with
    prob 0, with prob 0.8 brightness x' = clamp(b x, 0, 1) then contrast
    x'' = clamp(c x' + (1 - c) m, 0, 1) with b, c ~ U(0.6, 1.4) and
    m = b * mean of the source pixels inside the box (all channels), then
    x''' = clamp(x'' + 0.05 z, 0, 1); the random streams differ from spurcl's;
  * the losses of src/nn/ops_contrastive.c: NT-Xent over the 2N views (unit
    rows, F.normalize eps, positives k +- N, the anchor itself excluded,
    mean over all 2N anchors), BarlowTwins (per-dimension batch
    standardisation as BatchNorm1d(affine=False), C = a^T b / N,
    sum (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2);
  * training as sc_train_ssl: AdamW (lr 1e-3, weight decay 0.01, betas 0.9,
    0.999, eps 1e-8) on encoder + projector, batch 256 over a seeded
    reshuffle of the training split each epoch, the last short batch kept
    (skipped only when it has < 2 samples), epoch loss = mean of the batch
    losses weighted by batch size, positive cosine = mean cos(z1_i, z2_i) of
    the projector outputs;
  * the linear probe of src/train/probe.c: frozen-encoder features computed
    once per split, z-scored with the training split's mean and biased std
    (1 / sqrt(var + 1e-6)), a Linear(F, K) with default init trained with
    AdamW (weight decay 0) and mean cross-entropy, batch 256, reshuffled
    every epoch, last short batch kept; evaluated per group
    (groups = label * num_attrs + attr): average accuracy, worst-group
    accuracy, mean of group accuracies, average weighted by the training
    split's group shares.

--random-encoder skips the SSL training and probes the initial encoder (the
same weights the SSL run starts from with that seed: spurcl's
`probe --random-encoder` also initialises with the probe seed, so with the
same seed it is spurcl's step-0 encoder too).
"""
import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.numpy import load_file
from safetensors import safe_open


# ---------------------------------------------------------------- data

def load_dataset(path):
    d = load_file(path)
    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
    build = json.loads(meta.get("build", "{}"))
    labels = d["labels"].astype(np.int64)
    attrs = d["attrs"].astype(np.int64)
    num_classes = int(build.get("num_classes", labels.max() + 1))
    num_attrs = int(build.get("num_attrs", attrs.max() + 1))
    groups = d["groups"].astype(np.int64)
    assert np.array_equal(groups, labels * num_attrs + attrs), "groups != label * A + attr"
    return dict(images=d["images"], labels=labels, attrs=attrs, groups=groups,
                split=d["split"].astype(np.int64), num_classes=num_classes,
                num_attrs=num_attrs, class_names=build.get("class_names"), build=build)


def to_float(images_u8):
    """uint8 [n, C, H, W] -> float32 in [0, 1] (the batcher's x / 255)."""
    return torch.from_numpy(images_u8.astype(np.float32) / np.float32(255.0))


# ---------------------------------------------------------------- models

class CNN(nn.Module):
    """spurcl's `cnn` (src/nn/models.c build_cnn / cnn_features)."""

    def __init__(self, c, h, w, num_classes, c1=32, c2=64, fc=128):
        super().__init__()
        assert h % 4 == 0 and w % 4 == 0
        self.conv1 = nn.Conv2d(c, c1, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=1, padding=1)
        self.fc1 = nn.Linear(c2 * (h // 4) * (w // 4), fc)
        self.fc2 = nn.Linear(fc, num_classes)
        self.feature_dim = fc

    def features(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2, 2)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x):
        return self.fc2(self.features(x))


class Projector(nn.Module):
    """projector.0 (Linear F->H), ReLU, projector.2 (Linear H->P): ssl.c."""

    def __init__(self, f, hidden=512, out=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(f, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, x):
        return self.net(x)


# ---------------------------------------------------------------- augmentation

class AugConfig:
    def __init__(self, scale=(0.2, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), flip=0.0,
                 jitter_prob=0.8, brightness=0.4, contrast=0.4, noise=0.05):
        self.scale, self.ratio, self.flip = scale, ratio, flip
        self.jitter_prob, self.brightness, self.contrast = jitter_prob, brightness, contrast
        self.noise = noise


def draw_params(cfg, n_views, h, w, rng):
    """Per-view parameters as sc_augment_draw (vectorised over the views):
    returns int arrays y0, x0, ch, cw, bool flip, float brightness, contrast."""
    area = float(h) * float(w)
    lr0, lr1 = math.log(cfg.ratio[0]), math.log(cfg.ratio[1])
    tries = 10
    target = area * (cfg.scale[0] + (cfg.scale[1] - cfg.scale[0]) * rng.random((n_views, tries)))
    aspect = np.exp(lr0 + (lr1 - lr0) * rng.random((n_views, tries)))
    # np.rint rounds half to even, like Python's round() and C's nearbyint()
    cw_t = np.rint(np.sqrt(target * aspect))
    ch_t = np.rint(np.sqrt(target / aspect))
    ok = (cw_t > 0) & (cw_t <= w) & (ch_t > 0) & (ch_t <= h)
    found = ok.any(axis=1)
    first = ok.argmax(axis=1)
    rows = np.arange(n_views)
    ch = ch_t[rows, first].astype(np.int64)
    cw = cw_t[rows, first].astype(np.int64)
    # fallback: the centre crop with the ratio clamped into range
    in_ratio = w / h
    if in_ratio < cfg.ratio[0]:
        fcw, fch = w, int(round(w / cfg.ratio[0]))
    elif in_ratio > cfg.ratio[1]:
        fch, fcw = h, int(round(h * cfg.ratio[1]))
    else:
        fcw, fch = w, h
    fch, fcw = min(max(fch, 1), h), min(max(fcw, 1), w)
    ch = np.where(found, ch, fch)
    cw = np.where(found, cw, fcw)
    y0 = np.where(found, rng.integers(0, h - ch + 1), (h - fch) // 2)
    x0 = np.where(found, rng.integers(0, w - cw + 1), (w - fcw) // 2)
    flip = rng.random(n_views) < cfg.flip
    jitter = rng.random(n_views) < cfg.jitter_prob
    ub, uc = rng.random(n_views), rng.random(n_views)
    b = np.where(jitter, 1.0 - cfg.brightness + 2.0 * cfg.brightness * ub, 1.0)
    c = np.where(jitter, 1.0 - cfg.contrast + 2.0 * cfg.contrast * uc, 1.0)
    return y0, x0, ch, cw, flip, b.astype(np.float32), c.astype(np.float32)


def augment_views(x, cfg, rng, gen):
    """x: float [B, C, H, W] in [0, 1] -> [2B, C, H, W] (rows v * B + i are
    view v of image i), cl/augment.cl's semantics."""
    B, C, H, W = x.shape
    V = 2 * B
    y0, x0, ch, cw, flip, bf, cf = draw_params(cfg, V, H, W, rng)
    src = torch.cat([x, x], 0)                                   # [V, C, H, W]
    t = lambda a, dt=torch.float32: torch.from_numpy(np.ascontiguousarray(a)).to(dt)
    y0f, x0f, chf, cwf = t(y0)[:, None], t(x0)[:, None], t(ch)[:, None], t(cw)[:, None]
    oy = torch.arange(H, dtype=torch.float32)[None, :]
    ox = torch.arange(W, dtype=torch.float32)[None, :].expand(V, W)
    ox = torch.where(t(flip, torch.bool)[:, None], (W - 1) - ox, ox)
    sy = y0f + (oy + 0.5) * (chf / H) - 0.5                      # [V, H]
    sx = x0f + (ox + 0.5) * (cwf / W) - 0.5                      # [V, W]
    ylast, xlast = y0f + chf - 1.0, x0f + cwf - 1.0
    sy = torch.maximum(torch.minimum(sy, ylast), y0f)
    sx = torch.maximum(torch.minimum(sx, xlast), x0f)
    fy0, fx0 = torch.floor(sy), torch.floor(sx)
    wy, wx = sy - fy0, sx - fx0
    iy0, ix0 = fy0.long(), fx0.long()
    iy1 = torch.minimum(fy0 + 1.0, ylast).long()
    ix1 = torch.minimum(fx0 + 1.0, xlast).long()
    # gather rows then columns: [V, C, H, W]
    vi = torch.arange(V)[:, None, None, None]
    ci = torch.arange(C)[None, :, None, None]

    def g(iy, ix):
        return src[vi, ci, iy[:, None, :, None], ix[:, None, None, :]]

    a, b_, c_, d_ = g(iy0, ix0), g(iy0, ix1), g(iy1, ix0), g(iy1, ix1)
    wx4, wy4 = wx[:, None, None, :], wy[:, None, :, None]
    top = a + wx4 * (b_ - a)
    bot = c_ + wx4 * (d_ - c_)
    val = top + wy4 * (bot - top)
    # contrast centre: b * mean of the source pixels in the box (integral image)
    ii = F.pad(src.sum(1, dtype=torch.float64).cumsum(1).cumsum(2), (1, 0, 1, 0))  # [V, H+1, W+1]
    r = torch.arange(V)
    Y0, X0, Y1, X1 = t(y0, torch.long), t(x0, torch.long), t(y0 + ch, torch.long), t(x0 + cw, torch.long)
    box = ii[r, Y1, X1] - ii[r, Y0, X1] - ii[r, Y1, X0] + ii[r, Y0, X0]
    mean = (t(bf, torch.float64) * box / (C * t(ch * cw, torch.float64))).float()
    bfv, cfv = t(bf)[:, None, None, None], t(cf)[:, None, None, None]
    val = torch.clamp(val * bfv, 0.0, 1.0)
    val = torch.clamp(cfv * val + (1.0 - cfv) * mean[:, None, None, None], 0.0, 1.0)
    if cfg.noise > 0:
        val = torch.clamp(val + cfg.noise * torch.randn(val.shape, generator=gen), 0.0, 1.0)
    return val


# ---------------------------------------------------------------- losses

def nt_xent(z1, z2, tau):
    n = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2], 0), dim=1, eps=1e-12)
    s = (u @ u.t()) / tau
    eye = torch.eye(2 * n, dtype=torch.bool)
    s = s.masked_fill(eye, float("-inf"))
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, pos)          # mean over the 2N anchors


def barlow_twins(z1, z2, lam):
    def std(z):
        zc = z - z.mean(0)
        return zc * torch.rsqrt((zc * zc).mean(0) + 1e-5)
    a, b = std(z1), std(z2)
    c = a.t() @ b / z1.shape[0]
    diag = torch.diagonal(c)
    on = ((1.0 - diag) ** 2).sum()
    off = (c * c).sum() - (diag * diag).sum()
    return on + lam * off


# ---------------------------------------------------------------- SSL

def train_ssl(enc, ds, args, log):
    tr = np.nonzero(ds["split"] == 0)[0]
    xs = to_float(ds["images"][tr])
    proj = Projector(enc.feature_dim, args.proj_hidden, args.proj_dim)
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=args.weight_decay)
    cfg = AugConfig(noise=args.noise)
    gen = torch.Generator().manual_seed(args.seed * 7919 + 17)
    hist = []
    n = len(tr)
    for ep in range(args.epochs):
        t0 = time.time()
        order = np.random.default_rng([args.seed, 1, ep]).permutation(n)
        arng = np.random.default_rng([args.seed, 2, ep])
        enc.train()
        proj.train()
        loss_sum = cos_sum = 0.0
        seen = 0
        for s0 in range(0, n, args.batch):
            idx = order[s0:s0 + args.batch]
            B = len(idx)
            if B < 2:
                continue
            v = augment_views(xs[idx], cfg, arng, gen)
            z = proj(enc.features(v))
            z1, z2 = z[:B], z[B:]
            loss = barlow_twins(z1, z2, args.offdiag) if args.method == "barlow" \
                else nt_xent(z1, z2, args.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                cos = F.cosine_similarity(z1, z2, dim=1, eps=1e-8)
            lv = float(loss)
            if not math.isfinite(lv):
                raise SystemExit(f"loss became {lv} at epoch {ep + 1}")
            loss_sum += lv * B
            cos_sum += float(cos.sum())
            seen += B
        rec = dict(epoch=ep + 1, loss=loss_sum / seen, pos_cos=cos_sum / seen,
                   seconds=time.time() - t0)
        hist.append(rec)
        log(f"ssl epoch {ep + 1}/{args.epochs}  loss {rec['loss']:.4f}  "
            f"pos-cos {rec['pos_cos']:.4f}  ({rec['seconds']:.1f} s)")
    return hist


# ---------------------------------------------------------------- probe

@torch.no_grad()
def features(enc, images_u8, bs=512):
    enc.eval()
    out = []
    for i in range(0, len(images_u8), bs):
        out.append(enc.features(to_float(images_u8[i:i + bs])))
    return torch.cat(out, 0)


def group_metrics(pred, y, grp, G, props):
    total = np.bincount(grp, minlength=G)
    correct = np.bincount(grp, weights=(pred == y).astype(np.float64), minlength=G)
    have = total > 0
    acc = correct[have] / total[have]
    wi = int(np.nonzero(have)[0][np.argmin(acc)])
    p = props[have]
    return dict(acc=float(correct.sum() / total.sum()), wga=float(acc.min()),
                wga_group=wi, mean_group=float(acc.mean()),
                weighted=float((p * acc).sum() / p.sum()) if p.sum() > 0 else float("nan"),
                group_acc=[float(correct[k] / total[k]) if total[k] else -1.0 for k in range(G)])


def probe(enc, ds, args, log):
    t0 = time.time()
    K, A = ds["num_classes"], ds["num_attrs"]
    G = K * A
    sp = {s: np.nonzero(ds["split"] == s)[0] for s in (0, 1, 2)}
    feats = {s: features(enc, ds["images"][sp[s]]).double() for s in sp}
    mean = feats[0].mean(0)
    var = (feats[0] * feats[0]).mean(0) - mean * mean
    inv = 1.0 / torch.sqrt(var.clamp_min(0) + 1e-6)
    feats = {s: ((f - mean) * inv).float() for s, f in feats.items()}
    torch.manual_seed(args.probe_seed)
    lin = nn.Linear(enc.feature_dim, K)
    opt = torch.optim.AdamW(lin.parameters(), lr=args.probe_lr, weight_decay=args.probe_wd)
    ytr = torch.from_numpy(ds["labels"][sp[0]])
    ntr = len(sp[0])
    for ep in range(args.probe_epochs):
        perm = np.random.default_rng([args.probe_seed, 3, ep]).permutation(ntr)
        for s0 in range(0, ntr, args.probe_batch):
            ix = torch.from_numpy(perm[s0:s0 + args.probe_batch])
            loss = F.cross_entropy(lin(feats[0][ix]), ytr[ix])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    props = np.bincount(ds["groups"][sp[0]], minlength=G).astype(np.float64) / ntr
    res = {}
    with torch.no_grad():
        for s, name in ((0, "train"), (1, "val"), (2, "test")):
            pred = lin(feats[s]).argmax(1).numpy()
            res[name] = group_metrics(pred, ds["labels"][sp[s]], ds["groups"][sp[s]], G, props)
    res["train_acc"] = res.pop("train")["acc"]
    res["seconds"] = time.time() - t0
    log(f"linear probe: {enc.feature_dim} features, train accuracy {res['train_acc']:.4f} "
        f"({res['seconds']:.1f} s)")
    for name in ("val", "test"):
        m = res[name]
        y, a = divmod(m["wga_group"], A)
        log(f"{name}: {len(sp[1 if name == 'val' else 2])} samples  avg {m['acc']:.4f}  "
            f"wga {m['wga']:.4f} (y={y}, a={a})  mean-group {m['mean_group']:.4f}  "
            f"weighted {m['weighted']:.4f}")
    return res


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", choices=["simclr", "barlow"], default="simclr")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--offdiag", type=float, default=0.0051)
    ap.add_argument("--proj-hidden", type=int, default=512)
    ap.add_argument("--proj-dim", type=int, default=128)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--probe-epochs", type=int, default=100)
    ap.add_argument("--probe-lr", type=float, default=3e-3)
    ap.add_argument("--probe-wd", type=float, default=0.0)
    ap.add_argument("--probe-batch", type=int, default=256)
    ap.add_argument("--probe-seed", type=int, default=None, help="default: --seed")
    ap.add_argument("--random-encoder", action="store_true",
                    help="no SSL: probe the initial (random) encoder")
    ap.add_argument("--init", default=None,
                    help="start from these encoder weights (a spurcl checkpoint of the cnn; "
                         "conv1/conv2/fc1/fc2 tensors, optimiser state ignored)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.probe_seed is None:
        args.probe_seed = args.seed
    torch.set_num_threads(args.threads)

    def log(s):
        print(s, flush=True)

    t_all = time.time()
    ds = load_dataset(args.data)
    _, C, H, W = ds["images"].shape
    log(f"data {args.data}: {ds['images'].shape}, train {(ds['split'] == 0).sum()}, "
        f"val {(ds['split'] == 1).sum()}, test {(ds['split'] == 2).sum()}, "
        f"{ds['num_classes']} classes x {ds['num_attrs']} attrs; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads")
    torch.manual_seed(args.seed)
    enc = CNN(C, H, W, ds["num_classes"])
    if args.init:
        state = {k: torch.from_numpy(v) for k, v in load_file(args.init).items()
                 if not k.startswith("optim.")}
        enc.load_state_dict(state, strict=True)
        log(f"encoder weights from {args.init}")
    hist = []
    t_ssl = time.time()
    if not args.random_encoder:
        torch.manual_seed(args.seed + 1)  # projector init
        hist = train_ssl(enc, ds, args, log)
    t_ssl = time.time() - t_ssl
    res = probe(enc, ds, args, log)
    wall = time.time() - t_all
    log(f"wall time {wall:.1f} s (ssl {t_ssl:.1f} s)")
    if args.json:
        out = dict(data=args.data, method=args.method, random_encoder=args.random_encoder,
                   init=args.init,
                   epochs=args.epochs if not args.random_encoder else 0, seed=args.seed,
                   probe_epochs=args.probe_epochs, probe_lr=args.probe_lr, ssl=hist,
                   train_acc=res["train_acc"], val=res["val"], test=res["test"],
                   probe_seconds=res["seconds"], ssl_seconds=t_ssl, wall_seconds=wall,
                   torch=torch.__version__, threads=torch.get_num_threads())
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
