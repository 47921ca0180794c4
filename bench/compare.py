#!/usr/bin/env python3
"""Print the spurcl / PyTorch ratio table from two benchmark JSON-lines files.

    python3 bench/compare.py SPURCL.jsonl TORCH.jsonl [--shapes bench/shapes.json] [--markdown]
    python3 bench/compare.py 'DIR/spurcl*.jsonl' 'DIR/torch*.jsonl'   # median of the runs

Each input line is {"name", "impl", "fwd_ms", "fwdbwd_ms", "threads"} (see the
"schema" key of bench/shapes.json). The first file is spurcl's, the second
torch's; a warning is printed when a line's "impl" says otherwise. Lines that are
not JSON objects (blank, '#' comments) are skipped; when a name appears twice the
last line wins. Rows follow the order of the shapes file, then any other names
in order of appearance. A time that is missing, null or not positive shows as
'-', and so does any ratio that needs it. The last row is the geometric mean of
the ratios over the entries that have both sides.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path, expect_impl):
    rows, order = {}, []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                print(f"{path}:{lineno}: not JSON, skipped", file=sys.stderr)
                continue
            if not isinstance(rec, dict) or "name" not in rec:
                print(f"{path}:{lineno}: no \"name\", skipped", file=sys.stderr)
                continue
            impl = rec.get("impl")
            if impl is not None and impl != expect_impl:
                print(f"{path}:{lineno}: impl {impl!r}, expected {expect_impl!r}", file=sys.stderr)
            if rec["name"] not in rows:
                order.append(rec["name"])
            rows[rec["name"]] = rec
    return rows, order


def read_runs(pattern, expect_impl):
    """One file, or a glob of several runs of the same side: each entry's
    numbers become their median over the runs (the issue's 'median of 3')."""
    files = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
    if not files:
        sys.exit(f"compare.py: no file matches {pattern}")
    runs = [read_jsonl(f, expect_impl) for f in files]
    if len(runs) == 1:
        return runs[0]
    order = []
    for _, o in runs:
        order += [n for n in o if n not in order]
    merged = {}
    for n in order:
        recs = [r[n] for r, _ in runs if n in r]
        m = dict(recs[-1])
        for k in m:
            vals = [r.get(k) for r in recs]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
            if numeric and len(set(vals)) > 1:  # equal values (threads) stay as they are
                m[k] = statistics.median(vals)
        m["runs"] = len(recs)
        merged[n] = m
    return merged, order


def ms(rec, key):
    if rec is None:
        return None
    v = rec.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v):
        return float(v)
    return None


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 10 else f"{v:.2f}" if v < 1000 else f"{v:.1f}"


def fmt_ratio(v):
    return "-" if v is None else f"{v:.2f}"


def ratio(a, b):
    return None if a is None or b is None else a / b


def geomean(xs):
    xs = [x for x in xs if x is not None]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def num(rec, key):
    v = None if rec is None else rec.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def print_table(header, table, markdown, note):
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
        print()
        print(note)
    else:
        widths = [max(len(r[i]) for r in table + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        print(line(header))
        print("  ".join("-" * w for w in widths))
        for row in table:
            print(line(row))
        print(note)


def memory_table(names, sp, th, markdown):
    """Memory of the model steps (entries named model.*): the lines' pool_peak_mb,
    rss_peak_mb and rss_growth_kb (spurcl-bench, torch_bench.py)."""
    f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    header = ["name", "spurcl pool peak MB", "spurcl RSS peak MB", "torch RSS peak MB",
              "RSS ratio", "spurcl pool growth kB", "spurcl RSS growth kB", "torch RSS growth kB"]
    table = []
    for n in names:
        if not n.startswith("model."):
            continue
        s, t = sp.get(n), th.get(n)
        sr, tr = num(s, "rss_peak_mb"), num(t, "rss_peak_mb")
        table.append([n, f(num(s, "pool_peak_mb")), f(sr), f(tr), fmt_ratio(ratio(sr, tr)),
                      f(num(s, "pool_growth_kb")), f(num(s, "rss_growth_kb"), 0),
                      f(num(t, "rss_growth_kb"), 0)])
    print_table(header, table, markdown,
                "peak resident set of the whole process over the timed forward+backward runs "
                "(VmHWM, reset before them); on a CPU device the pool's buffers are host memory")
    return 0


def entry_flops(e):
    """Multiply-add FLOPs (2 per MAC) of an entry's forward and of its forward
    + backward, for the GEMM-shaped ops; None for the others. The backward
    of each product has two products of the same size (the gradients of both
    operands: every float input and parameter gets one), so forward +
    backward is three times the forward. Bias adds and attention's softmax
    are not counted."""
    op, sh = e.get("op"), e.get("shapes", {})
    try:
        if op == "linear":
            f = 2 * sh["m"] * sh["k"] * sh["n"]
        elif op == "conv2d":
            oh = (sh["h"] + 2 * sh["pad"] - sh["kh"]) // sh["stride"] + 1
            ow = (sh["w"] + 2 * sh["pad"] - sh["kw"]) // sh["stride"] + 1
            f = 2 * sh["n"] * sh["c_out"] * oh * ow * sh["c_in"] * sh["kh"] * sh["kw"]
        elif op == "attention":  # q k^T and p v
            f = 2 * 2 * sh["b"] * sh["heads"] * sh["t"] * sh["t"] * sh["head_dim"]
        else:
            return None
    except (KeyError, TypeError):
        return None
    return f, 3 * f


def read_peak(arg):
    """--peak: a number (GFLOP/s) or a file with torch_bench.py --peak's line."""
    try:
        return float(arg), "given"
    except ValueError:
        pass
    rows, _ = read_jsonl(arg, "torch")
    rec = rows.get("peak.sgemm")
    g = num(rec, "gflops")
    if g is None or g <= 0:
        sys.exit(f"compare.py: {arg} has no peak.sgemm line with gflops")
    return g, f"{rec.get('n')}^3 float32 matmul, {rec.get('threads')} threads, best of its runs"


def flops_table(entries, sp, th, peak, markdown):
    """GFLOP/s of the GEMM-shaped entries on both sides and their share of
    the peak."""
    g, how = peak if peak else (None, None)
    rate = lambda fl, t: None if t is None else fl / (t * 1e6)  # GFLOP/s from ms
    f = lambda v: "-" if v is None else f"{v:.1f}"
    pc = lambda v: "-" if v is None or g is None else f"{100 * v / g:.0f} %"
    header = ["name", "GFLOP fwd+bwd", "spurcl fwd GFLOP/s", "torch fwd GFLOP/s",
              "spurcl fwd+bwd GFLOP/s", "of peak", "torch fwd+bwd GFLOP/s", "of peak"]
    table = []
    for e in entries:
        fl = entry_flops(e)
        if fl is None:
            continue
        s, t = sp.get(e["name"]), th.get(e["name"])
        sf, tf = rate(fl[0], ms(s, "fwd_ms")), rate(fl[0], ms(t, "fwd_ms"))
        sb, tb = rate(fl[1], ms(s, "fwdbwd_ms")), rate(fl[1], ms(t, "fwdbwd_ms"))
        table.append([e["name"], f"{fl[1] / 1e9:.3f}", f(sf), f(tf), f(sb), pc(sb), f(tb), pc(tb)])
    note = ("FLOPs: 2 per multiply-add of the op's products (forward + backward = 3x the "
            "forward); ")
    note += (f"peak: {g:.1f} GFLOP/s ({how})" if g is not None else
             "no peak given (--peak): shares not computed")
    print_table(header, table, markdown, note)
    return 0


def main():
    ap = argparse.ArgumentParser(description="spurcl vs PyTorch benchmark ratio table (ratio = spurcl / torch; < 1 means spurcl is faster).")
    ap.add_argument("spurcl", help="spurcl-bench output (JSON lines); a quoted glob of several "
                                   "runs takes each number's median over them")
    ap.add_argument("torch", help="torch_bench.py output (JSON lines); a glob as for spurcl")
    ap.add_argument("--shapes", default=os.path.join(HERE, "shapes.json"),
                    help="shapes file giving the row order (default bench/shapes.json; ignored if absent)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--memory", action="store_true",
                    help="the memory table instead: per model entry, spurcl's pool peak, both "
                         "sides' peak resident set over the timed forward+backward runs and its "
                         "growth from the first run to the last")
    ap.add_argument("--flops", action="store_true",
                    help="the throughput table instead: GFLOP/s of the GEMM and convolution "
                         "entries (linear, conv2d, attention) on both sides, and their share "
                         "of --peak")
    ap.add_argument("--peak", default=None,
                    help="the fp32 peak for --flops: GFLOP/s, or the file written by "
                         "torch_bench.py --peak")
    args = ap.parse_args()

    sp, sp_order = read_runs(args.spurcl, "spurcl")
    th, th_order = read_runs(args.torch, "torch")
    names, entries = [], []
    if os.path.exists(args.shapes):
        with open(args.shapes) as f:
            entries = json.load(f)["entries"]
        names = [e["name"] for e in entries]
    for n in sp_order + th_order:
        if n not in names:
            names.append(n)

    if args.memory:
        return memory_table(names, sp, th, args.markdown)
    if args.flops:
        return flops_table(entries, sp, th, read_peak(args.peak) if args.peak else None,
                           args.markdown)

    header = ["name", "spurcl fwd ms", "torch fwd ms", "fwd ratio",
              "spurcl fwd+bwd ms", "torch fwd+bwd ms", "fwd+bwd ratio"]
    table, rf, rb = [], [], []
    for n in names:
        s, t = sp.get(n), th.get(n)
        if s is None and t is None:
            continue
        sf, tf, sb, tb = ms(s, "fwd_ms"), ms(t, "fwd_ms"), ms(s, "fwdbwd_ms"), ms(t, "fwdbwd_ms")
        rf.append(ratio(sf, tf))
        rb.append(ratio(sb, tb))
        table.append([n, fmt_ms(sf), fmt_ms(tf), fmt_ratio(rf[-1]), fmt_ms(sb), fmt_ms(tb), fmt_ratio(rb[-1])])
    table.append(["geomean", "", "", fmt_ratio(geomean(rf)), "", "", fmt_ratio(geomean(rb))])

    threads = sorted({str(r.get("threads")) for r in th.values() if r.get("threads") is not None})
    note = f"ratio = spurcl / torch (< 1: spurcl faster); torch threads: {', '.join(threads) or '-'}"

    print_table(header, table, args.markdown, note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
