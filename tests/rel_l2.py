#!/usr/bin/env python3
"""rel_l2.py A B: the relative L2 distance |A - B| / |B| of the float32 tensors "output"
of two safetensors files (standard library only), printed as %.3e."""
import json
import math
import struct
import sys


def output(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        t = head["output"]
        assert t["dtype"] == "F32", t["dtype"]
        a, b = t["data_offsets"]
        f.seek(8 + n + a)
        raw = f.read(b - a)
    return struct.unpack("<%df" % (len(raw) // 4), raw)


y, r = output(sys.argv[1]), output(sys.argv[2])
assert len(y) == len(r), (len(y), len(r))
num = sum((a - b) ** 2 for a, b in zip(y, r))
den = sum(b * b for b in r)
print("%.3e" % math.sqrt(num / den))
