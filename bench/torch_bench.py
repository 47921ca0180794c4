#!/usr/bin/env python3
"""Time every entry of bench/shapes.json on PyTorch; one JSON line per entry.

    /usr/bin/python3 bench/torch_bench.py [--shapes bench/shapes.json]
        [--threads 2] [--repeat 20] [--warmup 3] [--only SUBSTRING] [--device cpu|cuda]

Output lines: {"name", "impl": "torch", "fwd_ms", "fwdbwd_ms", "threads", "device"},
each time the median of --repeat runs after --warmup untimed runs. What fwd and
fwd+bwd cover for each op is defined in the "schema" key of shapes.json.
The model definitions come from tests/fixtures/make_fixtures.py (the same
classes the fixtures are made with), instantiated at the benchmark's sizes.
"""
import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def load_models():
    path = os.path.join(ROOT, "tests", "fixtures", "make_fixtures.py")
    spec = importlib.util.spec_from_file_location("spurcl_make_fixtures", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------
# Reference implementations of the loss ops (timing only)
# --------------------------------------------------------------------------

def nt_xent(z1, z2, tau):
    """SimCLR NT-Xent over 2N views (methods.md section 3)."""
    n = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    s = (u @ u.t()) / tau
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, pos)


def barlow_twins(z1, z2, lam, eps=1e-5):
    """BarlowTwins: per-dimension batch standardisation (biased variance + eps,
    as BatchNorm1d(affine=False)), C = Z1^T Z2 / N, on- and off-diagonal terms."""
    n = z1.shape[0]
    a = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + eps)
    b = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + eps)
    c = a.t() @ b / n
    d = torch.diagonal(c)
    return (d - 1).pow(2).sum() + lam * (c.pow(2).sum() - d.pow(2).sum())


def attention(q, k, v):
    hd = q.shape[-1]
    a = torch.softmax(q @ k.transpose(-2, -1) / hd ** 0.5, dim=-1)
    return a @ v


# --------------------------------------------------------------------------
# Entry builders: each returns (fwd, fwdbwd), two closures over fixed tensors
# --------------------------------------------------------------------------

def rnd(*shape, grad=True):
    return torch.randn(*shape, dtype=torch.float32).requires_grad_(grad)


def op_closures(fn, inputs, scalar):
    """fwd: fn(*inputs) without autograd recording. fwdbwd: fn(*inputs) recorded,
    then the gradient w.r.t. every input that requires grad (a fixed random
    upstream gradient for non-scalar outputs)."""
    wrt = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    with torch.no_grad():
        out_shape = fn(*inputs).shape
    upstream = None if scalar else torch.randn(out_shape)

    def fwd():
        with torch.no_grad():
            fn(*inputs)

    def fwdbwd():
        out = fn(*inputs)
        torch.autograd.grad(out, wrt, grad_outputs=upstream)

    return fwd, fwdbwd


def build(entry, models):
    op, s = entry["op"], entry["shapes"]
    if op == "conv2d":
        x = rnd(s["n"], s["c_in"], s["h"], s["w"])
        w = rnd(s["c_out"], s["c_in"], s["kh"], s["kw"])
        b = rnd(s["c_out"]) if s["bias"] else None
        return op_closures(lambda x, w, b: F.conv2d(x, w, b, stride=s["stride"], padding=s["pad"]),
                           [x, w, b], False)
    if op == "relu":
        return op_closures(F.relu, [rnd(*s["dims"])], False)
    if op == "gelu":
        return op_closures(lambda x: F.gelu(x), [rnd(*s["dims"])], False)
    if op == "maxpool2d":
        x = rnd(s["n"], s["c"], s["h"], s["w"])
        return op_closures(lambda x: F.max_pool2d(x, s["k"], s["stride"], s["pad"]), [x], False)
    if op == "linear":
        x, w = rnd(s["m"], s["k"]), rnd(s["n"], s["k"])
        b = rnd(s["n"]) if s["bias"] else None
        return op_closures(F.linear, [x, w, b], False)
    if op == "layer_norm":
        x, w, b = rnd(s["rows"], s["dim"]), rnd(s["dim"]), rnd(s["dim"])
        return op_closures(lambda x, w, b: F.layer_norm(x, (s["dim"],), w, b, s["eps"]), [x, w, b], False)
    if op == "batch_norm":
        dims = (s["n"], s["c"], s["h"], s["w"]) if s["h"] else (s["n"], s["c"])
        x, w, b = rnd(*dims), rnd(s["c"]), rnd(s["c"])
        return op_closures(lambda x, w, b: F.batch_norm(x, None, None, w, b, True, 0.1, s["eps"]),
                           [x, w, b], False)
    if op == "softmax":
        return op_closures(lambda x: torch.softmax(x, dim=-1), [rnd(s["rows"], s["cols"])], False)
    if op == "attention":
        shape = (s["b"], s["heads"], s["t"], s["head_dim"])
        return op_closures(attention, [rnd(*shape), rnd(*shape), rnd(*shape)], False)
    if op == "cross_entropy":
        logits = rnd(s["n"], s["classes"])
        labels = torch.randint(0, s["classes"], (s["n"],))
        return op_closures(F.cross_entropy, [logits, labels], True)
    if op == "nt_xent":
        return op_closures(lambda a, b: nt_xent(a, b, s["tau"]), [rnd(s["n"], s["dim"]), rnd(s["n"], s["dim"])], True)
    if op == "barlow_twins":
        return op_closures(lambda a, b: barlow_twins(a, b, s["lambda_offdiag"]),
                           [rnd(s["n"], s["dim"]), rnd(s["n"], s["dim"])], True)
    if op == "model_step":
        return build_model_step(s, models)
    raise ValueError(f"unknown op {op!r} in entry {entry['name']!r}")


def build_model_step(s, m):
    if s["model"] == "cnn":
        assert (s["c1"], s["c2"], s["fc"]) == (32, 64, 128), "make_fixtures.CNN has fixed widths 32, 64, 128"
        model = m.CNN(s["c"], s["h"], s["classes"])
    elif s["model"] == "vit":
        model = m.ViT(s["c"], s["h"], s["patch"], s["dim"], s["depth"], s["heads"], s["mlp"], s["classes"])
    else:
        raise ValueError(s["model"])
    params = list(model.parameters())
    x = torch.rand(s["n"], s["c"], s["h"], s["w"])
    y = torch.randint(0, s["classes"], (s["n"],))

    if s["loss"] == "ce":
        def fwd():
            with torch.no_grad():
                F.cross_entropy(model(x), y)

        def fwdbwd():
            torch.autograd.grad(F.cross_entropy(model(x), y), params)
        return fwd, fwdbwd

    if s["loss"] == "ule":
        cfg = {"saliency": s["saliency"], "norm": s["norm"], "form": s["form"], "lambda": s["lambda"]}
        # The student's normalised saliency is a constant input of the teacher step.
        student_sal = m.normalise(torch.randn(s["n"], s["c"], s["h"], s["w"]), s["norm"])

        def fwd():   # loss value; needs the input gradient built with create_graph=True
            m.ule_loss(model, x, y, cfg, student_sal)

        def fwdbwd():
            torch.autograd.grad(m.ule_loss(model, x, y, cfg, student_sal), params)
        return fwd, fwdbwd
    raise ValueError(s["loss"])


def loaded_blas():
    """Path of the BLAS library this process has mapped (after one matmul):
    Debian's torch calls whatever libblas.so.3 the system alternative points to,
    the netlib reference BLAS unless OpenBLAS/BLIS is installed."""
    torch.randn(8, 8) @ torch.randn(8, 8)
    try:
        with open("/proc/self/maps") as f:
            libs = {l.split()[-1] for l in f if "blas" in l.lower() or "mkl" in l.lower()}
        return ", ".join(sorted(os.path.realpath(x) for x in libs if x.startswith("/"))) or "none mapped"
    except OSError:
        return "unknown"


def proc_status_kb(key):
    """A /proc/self/status entry in kB (VmRSS, VmHWM), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_rss_peak():
    """Resets VmHWM to the current resident set (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def median_ms(fn, repeat, warmup, sync, mem=None):
    """Median wall time of fn in ms; sync() waits for queued device work, so a
    GPU time covers the kernels and not only their launch. With a dict `mem`,
    fills rss_peak_mb (VmHWM over the timed runs) and rss_growth_kb (VmRSS
    after the last timed run minus after the first), as spurcl-bench does."""
    for _ in range(warmup):
        fn()
    sync()
    if mem is not None:
        reset_rss_peak()
    times = []
    first = None
    for i in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
        if i == 0:
            first = proc_status_kb("VmRSS")
    if mem is not None:
        last, peak = proc_status_kb("VmRSS"), proc_status_kb("VmHWM")
        if peak is not None:
            mem["rss_peak_mb"] = round(peak / 1024, 1)
        if first is not None and last is not None:
            mem["rss_growth_kb"] = round(last - first)
    return statistics.median(times)


def peak_sgemm(args, sync, n=2048):
    """Best rate of an n x n x n float32 matmul over --repeat runs: the
    fp32 peak that a dense GEMM reaches on this machine with this BLAS and
    thread count (the GEMM and convolution entries are reported as a share
    of it)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(max(args.warmup, 1)):
        torch.mm(a, b)
    sync()
    best = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync()
        best = min(best, time.perf_counter() - t0)
    rec = {"name": "peak.sgemm", "impl": "torch", "gflops": round(2 * n ** 3 / best / 1e9, 1),
           "n": n, "threads": args.threads, "device": args.device}
    print(json.dumps(rec), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description="Time bench/shapes.json entries on PyTorch (JSON lines on stdout).")
    ap.add_argument("--shapes", default=os.path.join(HERE, "shapes.json"))
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per measurement; the median is reported (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs before timing (default 3)")
    ap.add_argument("--only", default=None, help="run only entries whose name contains this substring")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu",
                    help="cpu (default) or cuda: every tensor and model is created there (torch >= 2.0 for cuda)")
    ap.add_argument("--peak", action="store_true",
                    help="instead of the entries, the machine's float32 peak as its BLAS reaches "
                         "it: the best of --repeat timed N x N x N matmuls (N = 2048), one JSON "
                         "line {name: peak.sgemm, gflops, n, threads} for compare.py --flops")
    args = ap.parse_args()

    sync = lambda: None
    if args.device != "cpu":
        torch.set_default_device(args.device)
        sync = torch.cuda.synchronize if args.device.startswith("cuda") else sync

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.peak:
        return peak_sgemm(args, sync)
    with open(args.shapes) as f:
        entries = json.load(f)["entries"]
    models = load_models()
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"# torch {torch.__version__} on {where}, {args.threads} threads, median of {args.repeat} after {args.warmup} warm-up; "
          f"BLAS: {loaded_blas()}", file=sys.stderr)
    for e in entries:
        if args.only and args.only not in e["name"]:
            continue
        fwd, fwdbwd = build(e, models)
        mem = {}
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        rec = {
            "name": e["name"],
            "impl": "torch",
            "fwd_ms": round(median_ms(fwd, args.repeat, args.warmup, sync), 4),
            "fwdbwd_ms": round(median_ms(fwdbwd, args.repeat, args.warmup, sync, mem), 4),
            "threads": args.threads,
            "device": args.device,
        }
        if args.device.startswith("cuda"):
            mem["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 1048576, 2)
        rec.update(mem)
        print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
