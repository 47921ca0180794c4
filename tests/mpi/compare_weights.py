#!/usr/bin/env python3
"""Compares the float32 tensors of two spurcl checkpoints (safetensors).

  compare_weights.py A B (--exact | --scaled R)

Every tensor name of A must be in B with the same dtype and shape. --exact:
the bytes must be equal. --scaled R: per tensor, max |a - b| <= R max |b|
(a difference measured against the tensor's scale, as float32 reordering
errors are; element-wise relative errors blow up on values near zero). Prints the largest
absolute and relative difference per tensor; exits 1 on a mismatch. Reads
the file format directly (8-byte header length, JSON header, raw data)
with the standard library alone."""
import array
import json
import struct
import sys

DT = {'F32': 'f', 'F64': 'd', 'I32': 'i', 'I64': 'q', 'U8': 'B'}


def load(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    head = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in head.items():
        if name == '__metadata__':
            continue
        lo, hi = t['data_offsets']
        v = array.array(DT[t['dtype']])
        v.frombytes(data[lo:hi])
        if sys.byteorder != 'little':
            v.byteswap()
        out[name] = (t['dtype'], tuple(t['shape']), v)
    return out


def main():
    a_path, b_path = sys.argv[1], sys.argv[2]
    rest = sys.argv[3:]
    exact = '--exact' in rest
    scaled = float(rest[rest.index('--scaled') + 1]) if '--scaled' in rest else 0.0
    a, b = load(a_path), load(b_path)
    bad = 0
    compared = 0
    for name in sorted(a):
        if name not in b:
            print(f'MISSING {name} in {b_path}')
            bad += 1
            continue
        (xt, xs, x), (yt, ys, y) = a[name], b[name]
        if xt != yt or xs != ys:
            print(f'MISMATCH {name}: {xt}{list(xs)} vs {yt}{list(ys)}')
            bad += 1
            continue
        compared += 1
        if exact:
            if x.tobytes() != y.tobytes():
                print(f'DIFFER {name}: not bit-identical')
                bad += 1
            continue
        dmax = max((abs(p - q) for p, q in zip(x, y)), default=0.0)
        scale = max((abs(q) for q in y), default=0.0)
        ratio = dmax / scale if scale > 0 else (0.0 if dmax == 0 else float('inf'))
        ok = ratio <= scaled
        print(f'{"ok  " if ok else "FAIL"} {name}: max |diff| {dmax:.3g}, max |b| {scale:.3g}, '
              f'ratio {ratio:.3g} (limit {scaled:g})')
        bad += not ok
    if compared == 0:
        print('no tensor compared')
        bad += 1
    print(f'{compared} tensors compared, {bad} bad')
    sys.exit(1 if bad else 0)


main()
