#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of scripts/st2v-convert on tiny fake .pth files it creates:
every tensor comes back bit for bit in its dtype (bf16 included, NaN and
subnormal patterns too), names are kept, the header is sorted and padded,
and pickles that are not plain state dicts, existing outputs and unknown
dtypes are refused.

    /usr/bin/python3 train/wan/test_convert_pth.py
"""

import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from wan.convert import PATH as CONVERT, convert_pth  # noqa: E402

PASSED, FAILED = [0], [0]


def check(name, fn):
    try:
        fn()
        PASSED[0] += 1
        print("ok   " + name)
    except Exception as e:  # noqa: BLE001 - a test harness
        FAILED[0] += 1
        print("FAIL %s: %r" % (name, e))


def read(path):
    """-> (header dict, data bytes) of a safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    assert (8 + n) % 8 == 0, "data section not 8-aligned"
    return json.loads(buf[8:8 + n]), buf[8 + n:]


def fake_state_dict():
    g = torch.Generator().manual_seed(7)
    bf = torch.randn(3, 5, generator=g).to(torch.bfloat16)
    # every exponent class: zero, subnormal, normal, inf, NaN (bit patterns)
    bits = np.array([0x0000, 0x8000, 0x0001, 0x3f80, 0x7f80, 0xff80, 0x7fc1],
                    dtype=np.uint16).view(np.int16)
    bf = torch.cat([bf.flatten(), torch.from_numpy(bits).view(torch.bfloat16)])
    return {
        "blocks.0.attn.q.weight": bf,
        "decoder.conv1.weight": torch.randn(4, 2, 3, 3, 3, generator=g),
        "norm.weight": torch.randn(6, generator=g).half(),
        "spiece_model": torch.arange(10, dtype=torch.uint8),
        "count": torch.tensor([3, -4], dtype=torch.int64),
        "empty": torch.zeros(0, 4),
    }


def test_round_trip():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "Wan2.1_VAE.pth")
        sd = fake_state_dict()
        torch.save(sd, src)
        dst, n = convert_pth.convert(src)
        assert dst == os.path.join(d, "Wan2.1_VAE.safetensors") and n == len(sd)
        header, data = read(dst)
        meta = header.pop("__metadata__")
        assert meta["converted_from"] == "Wan2.1_VAE.pth"
        assert list(header) == sorted(sd), list(header)
        want = {"F32": torch.float32, "F16": torch.float16,
                "BF16": torch.bfloat16, "U8": torch.uint8, "I64": torch.int64}
        off = 0
        for name, info in header.items():
            t = sd[name]
            assert want[info["dtype"]] == t.dtype, name
            assert info["shape"] == list(t.shape), name
            b, e = info["data_offsets"]
            assert b == off, "tensors not contiguous"
            off = e
            raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
            assert data[b:e] == raw.contiguous().numpy().tobytes(), name
        assert off == len(data)


def test_wrapped_state_dict():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "m.pth")
        torch.save({"state_dict": {"w": torch.ones(2)}}, src)
        dst, n = convert_pth.convert(src, os.path.join(d, "out.safetensors"))
        header, _ = read(dst)
        assert n == 1 and header["w"]["shape"] == [2]


def test_refuses_what_is_not_a_state_dict():
    with tempfile.TemporaryDirectory() as d:
        for i, obj in enumerate([[torch.ones(1)], {"a": 3}, {}]):
            src = os.path.join(d, "x%d.pth" % i)
            torch.save(obj, src)
            try:
                convert_pth.convert(src)
            except ValueError:
                continue
            raise AssertionError("accepted %r" % (obj,))


def test_refuses_pickled_code():
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "evil.pth")
        torch.save({"w": torch.ones(1), "x": Evil()}, src)
        try:
            convert_pth.convert(src)
        except Exception as e:  # weights_only's UnpicklingError
            assert "safetensors" not in os.listdir(d), e
            return
        raise AssertionError("loaded a pickle that calls os.system")


def test_refuses_to_overwrite():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "a.pth")
        torch.save({"w": torch.ones(1)}, src)
        convert_pth.convert(src)
        try:
            convert_pth.convert(src)
        except FileExistsError:
            return
        raise AssertionError("overwrote the output")


def test_command_line():
    here = CONVERT
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "models_t5_umt5-xxl-enc-bf16.pth")
        torch.save({"token_embedding.weight": torch.ones(4, 2).bfloat16()}, src)
        r = subprocess.run([sys.executable, here, src], capture_output=True,
                           text=True)
        assert r.returncode == 0 and "1 tensors" in r.stdout, r
        r = subprocess.run([sys.executable, here, src], capture_output=True,
                           text=True)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            check(name, fn)
    print("%d passed, %d failed" % (PASSED[0], FAILED[0]))
    sys.exit(1 if FAILED[0] else 0)
