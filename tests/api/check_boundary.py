#!/usr/bin/env python3
"""The library's boundary and layering, checked on the built tree.

  check_boundary.py LIBSPURCL_SO SOURCE_ROOT

1. libspurcl.so exports exactly the functions include/spurcl/ declares with
   SC_API (nothing internal, no sc__ symbol, and nothing declared missing).
2. Each layer includes only what docs/architecture.md allows: the tool,
   the benchmarks and the examples see the public headers alone; base/,
   io/ and datasets/ are host-only (no OpenCL, no device layer); train/
   never includes a core or kernels header; kernels/ never includes nn/.
Prints every violation and exits 1 if there is one."""
import os
import re
import subprocess
import sys

lib, root = sys.argv[1], sys.argv[2]
bad = []

out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True, capture_output=True,
                     text=True).stdout
exported = {ln.split()[-1] for ln in out.splitlines() if ln.split() and ln.split()[-2] in 'TtDdBbRr'}
declared = set()
inc = os.path.join(root, 'include', 'spurcl')
for name in sorted(os.listdir(inc)):
    text = open(os.path.join(inc, name)).read()
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    for m in re.finditer(r'^SC_API\b([^;{]*?)\(', text, flags=re.M):
        declared.add(re.findall(r'[A-Za-z_]\w*', m.group(1))[-1])
for s in sorted(exported - declared):
    bad.append(f'exported but not declared in include/spurcl: {s}')
for s in sorted(declared - exported):
    bad.append(f'declared SC_API but not exported: {s}')
for s in sorted(x for x in exported if x.startswith('sc__')):
    bad.append(f'internal symbol exported: {s}')

# (directory, forbidden include pattern, why)
rules = [
    ('src/cli', r'#include\s+"(base|core|kernels|nn|train|io)/', 'the tool uses the public API only'),
    ('bench', r'#include\s+"(base|core|kernels|nn|train|io)/', 'benchmarks use the public API only'),
    ('examples', r'#include\s+"(base|core|kernels|nn|train|io)/', 'examples use the public API only'),
    ('src/base', r'#include\s+("(core|kernels|nn|train|io)/|<CL/)', 'base is host-only'),
    ('src/io', r'#include\s+("(core|kernels|nn|train)/|<CL/)', 'io is host-only'),
    ('datasets', r'#include\s+("(core|kernels|nn|train)/|<CL/)', 'datasets is host-only'),
    ('src/train', r'#include\s+("(core|kernels)/|"nn/graph\.h"|<CL/)', 'train goes through nn and the public API'),
    ('src/kernels', r'#include\s+"(nn|train)/', 'kernels know nothing of the graph'),
    ('src/core', r'#include\s+"(nn|train|kernels)/', 'core is below the kernels layer'),
]
for d, pat, why in rules:
    top = os.path.join(root, d)
    if not os.path.isdir(top):
        continue
    for dirpath, _, files in os.walk(top):
        for f in files:
            if not f.endswith(('.c', '.h')):
                continue
            p = os.path.join(dirpath, f)
            for i, ln in enumerate(open(p), 1):
                if re.search(pat, ln):
                    bad.append(f'{os.path.relpath(p, root)}:{i}: {ln.strip()} ({why})')

for b in bad:
    print(b)
print(f'{len(exported)} exported symbols, {len(declared)} declared; {len(bad)} violations')
sys.exit(1 if bad else 0)
