# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/reference.py - the PyTorch reference's side of `make bench`.

    reference.py export MODEL OUT.onnx T Hl Wl N_TEXT
        the DiT of MODEL (train/st2v, float32) as ONNX, opset 16, with a
        dynamic batch axis: inputs z (B, Cz, T, Hl, Wl), t (B, T/pt),
        text (B, N_TEXT, Dt); output v like z.
    reference.py time MODEL T Hl Wl N_TEXT THREADS REPS
        one JSON line per (dtype, batch): the DiT forward of the reference
        in float32 and under bfloat16 autocast, batch 1 and 2 (the CFG
        pair), REPS timed runs after one warm-up, in milliseconds.

Inputs are the same as st2v-bench's: z = 0, t = 0.5, text features of the
prompt's length (their values do not change the time). A benchmark, not a
test. Needs torch (Debian's python3-torch); run from the repository root.
"""

import json
import sys
import time

import torch

sys.path.insert(0, ".")
from train.st2v import dit as dit_mod  # noqa: E402
from train.st2v.model import load_model  # noqa: E402


def rope_exportable(x, cos, sin):
    """apply_rope with repeat_interleave written as stack-and-reshape:
    torch 1.13's ONNX export of repeat_interleave fails; same values."""
    shp = x.shape
    cos2 = torch.stack([cos, cos], dim=-1).reshape(cos.shape[0], -1)
    sin2 = torch.stack([-sin, sin], dim=-1).reshape(cos2.shape)
    swapped = x.reshape(*shp[:-1], shp[-1] // 2, 2).flip(-1).reshape(shp)
    return x * cos2 + swapped * sin2


def layer_norm_exportable(x, eps=1e-6):
    """dit.layer_norm with the normalised size a constant: the export
    cannot take it from a shape under a dynamic batch axis."""
    return torch.nn.functional.layer_norm(x, (int(x.shape[-1]),), eps=eps)


def inputs(model, B, T, Hl, Wl, n):
    cz = model.dit.cz
    pt = model.dit.patch[0]
    dt = model.config["text"]["dim"]
    g = torch.Generator().manual_seed(1)
    z = torch.zeros(B, cz, T, Hl, Wl)
    t = torch.full((B, T // pt), 0.5)
    text = torch.randn(B, n, dt, generator=g)
    return z, t, text


class DitCall(torch.nn.Module):
    """The DiT with only the tensors as inputs (no mask, t0 = 0)."""

    def __init__(self, dit):
        super().__init__()
        self.dit = dit

    def forward(self, z, t, text):
        return self.dit(z, t, text)


def export(path, out, T, Hl, Wl, n):
    model = load_model(path).eval()
    dit_mod.apply_rope = rope_exportable
    dit_mod.layer_norm = layer_norm_exportable
    z, t, text = inputs(model, 1, T, Hl, Wl, n)
    with torch.no_grad():
        torch.onnx.export(DitCall(model.dit), (z, t, text), out, opset_version=16,
                          input_names=["z", "t", "text"], output_names=["v"],
                          dynamic_axes={"z": {0: "B"}, "t": {0: "B"},
                                        "text": {0: "B"}, "v": {0: "B"}})


def time_it(path, T, Hl, Wl, n, threads, reps):
    torch.set_num_threads(threads)
    model = load_model(path).eval()
    dit = model.dit
    for dtype in ("fp32", "bf16"):
        for B in (1, 2):
            z, t, text = inputs(model, B, T, Hl, Wl, n)
            ms = []
            with torch.no_grad(), torch.autocast(
                    "cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                for r in range(reps + 1):
                    t_ = time.perf_counter()
                    dit(z, t, text)
                    t_ = time.perf_counter() - t_
                    if r:
                        ms.append(t_ * 1e3)
            print(json.dumps({"engine": "pytorch-" + dtype, "part": "dit",
                              "batch": B, "threads": threads, "ms": ms}),
                  flush=True)


def main(argv):
    if len(argv) >= 8 and argv[1] == "export":
        export(argv[2], argv[3], *map(int, argv[4:8]))
    elif len(argv) >= 9 and argv[1] == "time":
        time_it(argv[2], *map(int, argv[3:9]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
