#!/usr/bin/python3
"""Convert Wan2.1's official .pth files to safetensors, once.

    /usr/bin/python3 train/wan/convert_pth.py Wan2.1_VAE.pth [OUT.safetensors]
    /usr/bin/python3 train/wan/convert_pth.py models_t5_umt5-xxl-enc-bf16.pth

st2v reads safetensors only: a .pth is a pickle, and parsing pickle in C
would let a file run code. This script opens the pickle with
torch.load(weights_only=True), which refuses anything but tensors and plain
containers, and writes every tensor, bit for bit in its own dtype (bf16
through an int16 view, so nothing is rounded), into OUT (default: the same
name with .safetensors), beside the .pth, where st2v's loader finds it. The
names are kept as they are (the official ones, which the loader reads).

Memory: torch 1.13 loads the whole pickle (11.4 GB for the text
encoder); the output is written a tensor at a time, so the peak is the
.pth's size plus its largest tensor. Needs only Debian's python3-torch and
python3-numpy (no safetensors package): the writer below is the whole format, an 8-byte little-endian
header length, a JSON header sorted by name and padded with spaces to 8
bytes, then the tensors' bytes in that order.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

# torch dtype -> (safetensors dtype, how its bytes are read)
DTYPES = {
    torch.float32: ("F32", None),
    torch.float16: ("F16", None),
    torch.bfloat16: ("BF16", torch.int16),
    torch.float64: ("F64", None),
    torch.int64: ("I64", None),
    torch.int32: ("I32", None),
    torch.int16: ("I16", None),
    torch.int8: ("I8", None),
    torch.uint8: ("U8", None),
    torch.bool: ("BOOL", None),
}


def tensor_bytes(t):
    """(safetensors dtype, little-endian bytes) of a CPU tensor, exact."""
    if t.dtype not in DTYPES:
        raise ValueError("dtype %s has no safetensors equivalent" % t.dtype)
    name, via = DTYPES[t.dtype]
    t = t.detach().cpu().contiguous()
    if via is not None:
        t = t.view(via)
    a = t.numpy()
    return name, a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: [(name, dtype, shape, data)] in any order, written sorted;
    data is bytes, or a torch tensor whose bytes are taken only as it is
    written (an 11 GB state dict is not copied whole). The fixtures of
    tests/fixtures/wan/files use it for dtypes the converter never writes
    (F8_E4M3)."""
    header, off, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, dtype, shape, data in sorted(tensors, key=lambda x: x[0]):
        n = (data.numel() * data.element_size()
             if isinstance(data, torch.Tensor) else len(data))
        header[name] = {"dtype": dtype, "shape": [int(s) for s in shape],
                        "data_offsets": [off, off + n]}
        blobs.append(data)
        off += n
    hb = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(tensor_bytes(b)[1] if isinstance(b, torch.Tensor) else b)
    os.replace(tmp, path)


def state_dict(obj):
    """The {name: tensor} inside what torch.load returned."""
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, dict) and len(obj) == 1 and key in obj:
            obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise ValueError("not a state dict (a dict of tensors)")
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise ValueError("entry %r is not a named tensor" % (k,))
    return obj


def convert(src, dst=None):
    """Convert src (.pth) to dst; returns (dst, number of tensors)."""
    if dst is None:
        dst = os.path.splitext(src)[0] + ".safetensors"
    if os.path.exists(dst):
        raise FileExistsError("%s exists; remove it first" % dst)
    sd = state_dict(torch.load(src, map_location="cpu", weights_only=True))
    items = []
    for name, t in sd.items():
        if t.dtype not in DTYPES:
            raise ValueError("tensor %s: dtype %s has no safetensors "
                             "equivalent" % (name, t.dtype))
        items.append((name, DTYPES[t.dtype][0], tuple(t.shape), t))
    write_safetensors(dst, items, {"format": "pt",
                                   "converted_from": os.path.basename(src)})
    return dst, len(items)


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        dst, n = convert(argv[1], argv[2] if len(argv) == 3 else None)
    except Exception as e:  # one line for the user, no traceback
        print("convert_pth: %s: %s" % (argv[1], e), file=sys.stderr)
        return 1
    print("wrote %s (%d tensors)" % (dst, n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
