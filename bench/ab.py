#!/usr/bin/env python3
"""A/B of two spurcl builds: per entry, the median and the minimum over rounds
of spurcl-bench's times (each already a median of --repeat runs), B / A.

    python3 bench/ab.py 'DIR/base*.jsonl' 'DIR/new*.jsonl'

Run the rounds interleaved (A, B, A, B, ...) on an idle machine. On the
2-core KVM machine a round's time for one entry varies by up to 40 %
between rounds of the same binary, so the minimum over rounds is the
steadier estimate; both are printed, with the geometric mean over entries.
"""
import glob
import json
import math
import statistics
import sys


def load(pattern):
    times = {}
    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit(f"ab.py: no file matches {pattern}")
    for path in files:
        with open(path) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                for key in ("fwd_ms", "fwdbwd_ms"):
                    if r.get(key) is not None:
                        times.setdefault((r["name"], key[:-3]), []).append(r[key])
    return times, len(files)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, na = load(sys.argv[1])
    b, nb = load(sys.argv[2])
    keys = sorted(k for k in a if k in b)
    print(f"A: {na} rounds, B: {nb} rounds, {len(keys)} entries\n")
    print(f"| entry | A median ms | B median ms | B/A median | B/A min |")
    print(f"|---|---:|---:|---:|---:|")
    logs = {"median": [], "min": []}
    for k in keys:
        rmed = statistics.median(b[k]) / statistics.median(a[k])
        rmin = min(b[k]) / min(a[k])
        logs["median"].append(math.log(rmed))
        logs["min"].append(math.log(rmin))
        print(f"| {k[0]} {k[1]} | {statistics.median(a[k]):.3f} | "
              f"{statistics.median(b[k]):.3f} | {rmed:.3f} | {rmin:.3f} |")
    for name, v in logs.items():
        print(f"\ngeometric mean B/A ({name} over rounds): {math.exp(sum(v) / len(v)):.3f}", end="")
    print()


if __name__ == "__main__":
    main()
