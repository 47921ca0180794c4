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

# dataset_meta (fuzz_dataset_meta.c): flags, n, c, h, w, n x (label, attr,
# group, split) int32, then the "build" JSON.
def dataset(flags, c, h, w, rows, build=b''):
    b = bytes([flags, len(rows), c, h, w])
    for r in rows:
        b += struct.pack('<4i', *r)
    return b + build


rows4 = [(0, 0, 0, 0), (1, 0, 2, 0), (0, 1, 1, 1), (1, 1, 3, 2)]  # K = A = 2
put('dataset_meta', 'spuco.bin', dataset(3, 1, 4, 4, rows4,
    b'{"source":"fashion-mnist","source_train":60000,"source_test":10000,"max_train":0,'
    b'"max_test":0,"variant":"spuco","rho":0.95,"severity":3,"seed":1,"val_fraction":0.1,'
    b'"val_biased":false,"test_clean":false,"class_split":"0,1","spuco_difficulty":"medium",'
    b'"num_classes":2,"num_attrs":2,"class_names":["T-shirt/top","Trouser"],'
    b'"attr_names":["attr 0","attr 1"]}'))
put('dataset_meta', 'patch.bin', dataset(3, 3, 8, 8, rows4,
    b'{"variant":"patch","patch_size":3,"patch_layout":"pattern","patch_intensity":1,'
    b'"num_classes":3,"num_attrs":2,"class_names":["a","b","c"],"attr_names":["x","y"]}'))
put('dataset_meta', 'no_build.bin', dataset(2, 1, 2, 2, rows4))
put('dataset_meta', 'empty.bin', dataset(3, 1, 2, 2, [], b'{"num_classes":10,"num_attrs":1}'))
put('dataset_meta', 'bad_group.bin', dataset(1, 1, 2, 2, [(1, 1, 0, 0)], b'{}'))

# ckpt_meta (fuzz_ckpt_meta.c): which keys are present (1 model, 2 epoch,
# 4 optim_steps, 8 config, 16 seed, 32 format), then the values separated
# by NUL bytes in that order.
def ckpt(present, model=b'', epoch=b'', steps=b'', config=b'', seed=b''):
    return bytes([present]) + b'\0'.join([model, epoch, steps, config, seed])


def model(kind, **kw):
    d = {'kind': kind, 'in_channels': 1, 'height': 28, 'width': 28, 'num_classes': 10,
         'cnn_c1': 32, 'cnn_c2': 64, 'cnn_fc': 128, 'patch': 0, 'dim': 64, 'depth': 4,
         'heads': 4, 'mlp': 128, 'ln_eps': 9.9999997473787516e-06, 'resnet_width': 64}
    d.update(kw)
    return ('{' + ','.join('"%s":%s' % (k, ('"%s"' % v) if isinstance(v, str) else repr(v))
                           for k, v in d.items()) + '}').encode()


put('ckpt_meta', 'cnn.bin', ckpt(63, model('cnn'), b'3', b'1404', b'{"kind":"erm","step":1404}',
                                 b'1'))
put('ckpt_meta', 'vit.bin', ckpt(63, model('vit', in_channels=3, height=32, width=32, patch=4),
                                 b'12', b'0', b'{"kind":"ule"}', b'7'))
put('ckpt_meta', 'resnet.bin', ckpt(63, model('resnet', in_channels=3, height=32, width=32,
                                              resnet_width=16), b'1', b'50', b'{}', b'0'))
put('ckpt_meta', 'ssl.bin', ckpt(47, model('cnn', num_classes=2), b'5', b'', b'{"kind":"ssl"}'))
put('ckpt_meta', 'bare.bin', ckpt(0))
