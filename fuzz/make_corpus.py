#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/ (standard
library only; reuses the PNG and safetensors fixtures of tests/data).

usage: /usr/bin/python3 fuzz/make_corpus.py
"""
import gzip
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, '..', 'tests', 'data', 'fixtures')


def put(sub, name, data):
    d = os.path.join(here, 'corpus', sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# IDX: images [3, 4, 4], labels [3], both plain and gzip; a CIFAR record.
img = struct.pack('>BBBB', 0, 0, 8, 3) + struct.pack('>III', 3, 4, 4) + bytes(range(48))
lab = struct.pack('>BBBB', 0, 0, 8, 1) + struct.pack('>I', 3) + bytes([0, 5, 9])
put('idx', 'images.idx3', img)
put('idx', 'labels.idx1', lab)
put('idx', 'images.idx3.gz', gzip.compress(img, mtime=0))
put('idx', 'labels.idx1.gz', gzip.compress(lab, mtime=0))
put('idx', 'cifar.bin', bytes([3]) + bytes(i % 256 for i in range(3072)))

# PNG (first byte even: 0 keep, 2 grey, 4 RGB) and CSV (first byte odd).
for i, f in enumerate(sorted(os.listdir(fix))):
    if f.endswith('.png'):
        with open(os.path.join(fix, f), 'rb') as fh:
            put('png_csv', f, bytes([2 * (i % 3)]) + fh.read())
put('png_csv', 'meta.csv', b'\x01path,label,attr,split\na.png,0,1,train\n"b,c.png",1,0,val\nd.png,2,2,test\n')
put('png_csv', 'meta_crlf.csv', b'\x01split,attr,extra,label,path\r\n0,1,x,3,p/q.png\r\n2,0,"y""z",1,r.png\r\n')

# safetensors: the Python-written fixture and a hand-made one with metadata.
with open(os.path.join(fix, 'st_python.safetensors'), 'rb') as fh:
    put('safetensors', 'python.safetensors', fh.read())
hdr = b'{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}'
hdr += b' ' * (-len(hdr) % 8)
put('safetensors', 'small.safetensors', struct.pack('<Q', len(hdr)) + hdr + bytes(11))
