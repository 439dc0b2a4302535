# SPDX-License-Identifier: LGPL-2.1-or-later
"""A pure-Python safetensors writer and reader (docs/model-format.md, section 1).

Tensors are written sorted by name; the JSON header (UTF-8, not ASCII-escaped)
is padded with spaces so the data section starts at a multiple of 8 bytes.
F16 conversion is numpy's round-to-nearest-even; BF16 rounds the f32 bits to
nearest even by hand."""

import json
import struct

import numpy as np
import torch

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bits, round to nearest even (no NaNs expected)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def _encode(arr, dtype):
    a = np.ascontiguousarray(arr, dtype=np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(a).astype("<u2").tobytes()
    raise ValueError("unknown dtype " + dtype)


def to_numpy(t):
    if isinstance(t, torch.Tensor):
        return t.detach().to(torch.float32).cpu().contiguous().numpy()
    return np.asarray(t, dtype=np.float32)


def save(path, tensors, metadata=None, dtypes=None):
    """tensors: {name: tensor/array}; dtypes: {name: "F32"|"F16"|"BF16"} (default F32)."""
    dtypes = dtypes or {}
    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name in sorted(tensors):
        arr = to_numpy(tensors[name])
        dt = dtypes.get(name, "F32")
        data = _encode(arr, dt)
        assert len(data) == arr.size * DTYPE_SIZE[dt]
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hb = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load(path):
    """-> (tensors {name: float32 torch tensor}, metadata dict, dtypes {name: dtype})."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out, dts = {}, {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[b:e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError("unknown dtype " + dt)
        out[name] = torch.from_numpy(a.astype(np.float32).reshape(info["shape"]).copy())
        dts[name] = dt
    return out, meta, dts
