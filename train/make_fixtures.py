#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write the golden fixtures of tests/fixtures/README.md from the PyTorch
reference. Deterministic: the same bytes on every run.

    /usr/bin/python3 train/make_fixtures.py tests/fixtures
    /usr/bin/python3 train/make_fixtures.py --redi-only tests/fixtures   (redi/ alone)

The tiny model's weights are random float32 (seeded); every golden output
is computed in float64 from those float32 weights and stored as float32, so
the goldens are the exact mathematics of docs/model-format.md up to one
final rounding."""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from st2v import rng, safetensors_io  # noqa: E402
from st2v.config import tiny_config  # noqa: E402
from st2v.model import St2vModel, init_random, load_model, save_model  # noqa: E402
from st2v.sampling import Velocity, sample, start_latent  # noqa: E402
from st2v.tokenizer import Tokenizer  # noqa: E402
from redi import widen_state  # noqa: E402
from wan.umt5 import write_fixtures as write_umt5  # noqa: E402
from wan.dit import write_fixtures as write_wan_dit  # noqa: E402
from wan.spm_fixtures import write_fixtures as write_spm  # noqa: E402
from wan.tokenizer_json import write as write_tokenizer_json  # noqa: E402
from wan.files_fixtures import write_fixtures as write_wan_files  # noqa: E402
from wan.sampler import write_fixtures as write_wan_sampler  # noqa: E402
from wan.vae import write_fixtures as write_wan_vae  # noqa: E402
from wan.pipeline_fixtures import write_fixtures as write_wan_pipeline  # noqa: E402

SEED = 1234
GOLDEN_META = {"generator": "train/make_fixtures.py",
               "precision": "float64 computation from the float32 weights, stored as F32"}

TOKENIZER_CASES = [
    # plain English and Czech
    "a red ball",
    "červená kostka na moři.",
    "two blue cubes",
    # lower-casing: ASCII and Czech capitals
    "A RED BALL",
    "ŘÍŠE",
    "Žluťoučký kůň",
    "ČERVENÁ míč",
    "ČERVENÝ MÍČ, MODRÁ",
    "ŘEŘICHA",
    "ČEŠTINA",
    "ÚŽASNÉ Ůž",
    "ĎÁBEL ŤŇ",
    # the edges of the lower-casing table (one word each: ▁ + bytes)
    "AZ@[`{",
    "ÀÉÎÕÖ",
    "ØÙÞ×ßÿ",
    "ŸĲĹŁŃ",
    "ŊŴŒĀĂĄ",
    "ĆĶķĸĺŇ",
    "ňŉŹŻŽž",
    "ſƀ¿ÀÁ",
    # punctuation splitting: every ASCII punctuation byte
    "Red, blue!",
    "(a) a-b_c",
    "`x` {y}",
    "[z] ~@#",
    "$%^&*+",
    "=|\\/<>",
    "?;:'\".",
    "red.ball,,blue",
    # unknown words (byte fallback), greedy longest match
    "zebra",
    "redder moving",
    "movers ringing",
    # emoji
    "🎈 balloon",
    "🐎",
    # invalid UTF-8
    b"\xff\xfe red",
    b"\xc3",
    b"red\xc3",
    b"\xc1\x81 \xc0\x80",
    b"\x80abc \xbf",
    b"\xed\xa0\x80 \xe2\x96",
    b"\xf4\x90\x80\x80",
    b"\xc3\xc3\x81",
    b"\xe2\x96\x81red",
    # whitespace
    "red\tball\nblue",
    "\r\ngreen\x0bsky\x0con ",
    "   \t\n ",
    # truncation at L
    "a red ball " * 8,
    "a" * 40,
    "one two three four five six seven eight nine ten eleven twelve thirteen",
    "a " * 13,
    "a " * 14,
    "a " * 15,
    # empty
    "",
]

TEXT_CASES = ["a red ball", "Žluťoučký kůň na moři!",
              "a red ball and two blue cubes moving over the green sea"]
MIXED_TEXT = "a red ball on the sea"

SAMPLE_CASES = [
    dict(name="euler_cfg3_T4_8x8", sampler="euler", cfg=3.0, T=4, Hl=8, Wl=8, n_context=0,
         prompt="a red ball on the sea", negative_prompt=""),
    dict(name="euler_cfg1_T2_8x12", sampler="euler", cfg=1.0, T=2, Hl=8, Wl=12, n_context=0,
         prompt="Modrá kostka na moři", negative_prompt=""),
    dict(name="heun_cfg3_T2_8x8", sampler="heun", cfg=3.0, T=2, Hl=8, Wl=8, n_context=0,
         prompt="two green cubes moving", negative_prompt=""),
    dict(name="dpmpp_2m_cfg3_T2_8x12", sampler="dpm++2m", cfg=3.0, T=2, Hl=8, Wl=12,
         n_context=0, prompt="Červený míč", negative_prompt="blue sky"),
    dict(name="euler_ctx1_T2_8x8", sampler="euler", cfg=3.0, T=2, Hl=8, Wl=8, n_context=1,
         prompt="a blue ball", negative_prompt=""),
]


def as_bytes(s):
    return s if isinstance(s, bytes) else s.encode("utf-8")


def ids_tensor(ids):
    return torch.tensor(ids, dtype=torch.float32)


def text_features(model, ids):
    with torch.no_grad():
        return model.text(torch.tensor([ids], dtype=torch.long))[0]


def write_tokenizer(out, cfg):
    tok = Tokenizer.from_config(cfg)
    cases = [{"hex": as_bytes(s).hex(), "ids": tok.encode(as_bytes(s))} for s in TOKENIZER_CASES]
    with open(os.path.join(out, "golden_tokenizer.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")


def write_text(out, m64, mixed64, tok):
    t = {}
    for k, s in enumerate(TEXT_CASES):
        ids = tok.encode(s)
        t["case%d.ids" % k] = ids_tensor(ids)
        t["case%d.out" % k] = text_features(m64, ids)
    ids = tok.encode(MIXED_TEXT)
    t["mixed.ids"] = ids_tensor(ids)
    t["mixed.out"] = text_features(mixed64, ids)
    meta = dict(GOLDEN_META, prompts=json.dumps(TEXT_CASES + [MIXED_TEXT], ensure_ascii=False))
    safetensors_io.save(os.path.join(out, "golden_text.safetensors"), t, meta)


def write_rng(out):
    t = {}
    for seed in (0, 42, 12345678901234567):
        for stream in (0, 7):
            t["seed%d.stream%d" % (seed, stream)] = torch.from_numpy(rng.normals(1000, seed, stream))
    safetensors_io.save(os.path.join(out, "golden_rng.safetensors"), t,
                        {"generator": "train/make_fixtures.py"})


def write_dit(out, m64, tok, g):
    cz = m64.d["Cd"]                    # the DiT's channels: Cz + dit.extra_channels
    pt = m64.dit.patch[0]
    cases = [dict(T=4, Hl=8, Wl=12, t0=0, t=[0.0, 0.3, 0.7, 1.0], prompt="a red ball on the sea"),
             dict(T=2, Hl=8, Wl=8, t0=3, t=[0.0, 0.55], prompt="Žluťoučký kůň")]
    t = {}
    for k, c in enumerate(cases):
        z = torch.randn(cz, c["T"], c["Hl"], c["Wl"], generator=g)
        tt = torch.tensor(c["t"][pt - 1::pt], dtype=torch.float32)     # (T/pt)
        text = text_features(m64, tok.encode(c["prompt"])).to(torch.float32)
        with torch.no_grad():
            v = m64.dit(z.double()[None], tt.double()[None], text.double()[None], None, c["t0"])[0]
        t["case%d.z" % k] = z
        t["case%d.t" % k] = tt
        t["case%d.text" % k] = text
        t["case%d.t0" % k] = torch.tensor([float(c["t0"])])
        t["case%d.v" % k] = v
    safetensors_io.save(os.path.join(out, "golden_dit.safetensors"), t, GOLDEN_META)


def write_vae(out, m64, g):
    cz, ft = m64.d["Cz"], m64.d["ft"]
    z = torch.randn(cz, 3, 4, 6, generator=g)
    rgb = torch.rand(3, 2 * ft, 16, 24, generator=g) * 2 - 1
    with torch.no_grad():
        dec = m64.vae.dec(z.double()[None])[0]
        enc = m64.vae.enc(rgb.double()[None])[0]
    t = {"dec.z": z, "dec.rgb": dec, "enc.rgb": rgb, "enc.z": enc}
    safetensors_io.save(os.path.join(out, "golden_vae.safetensors"), t, GOLDEN_META)


def write_sample(out, m64, tok, g, cfg):
    smp = cfg["sampler"]
    d = m64.d
    seed, stream = 42, 0
    t, meta_cases = {}, []
    pt = m64.dit.patch[0]
    chans = "Cz + R" if d["R"] else "Cz"     # the DiT's channels (Cz + dit.extra_channels)
    for c in SAMPLE_CASES:
        if pt > 1:          # context of whole temporal patches, after it one at least
            c = dict(c, n_context=c["n_context"] * pt)
            c["T"] = max(c["T"], c["n_context"] + pt)
        ids, neg_ids = tok.encode(c["prompt"]), tok.encode(c["negative_prompt"])
        cond = text_features(m64, ids)
        neg = text_features(m64, neg_ids)
        ctx = None
        if c["n_context"]:
            ctx = 0.8 * torch.randn(d["Cd"], c["n_context"], c["Hl"], c["Wl"], generator=g)
        x = start_latent(d["Cd"], c["T"], c["Hl"], c["Wl"], c["n_context"], seed, stream, ctx)
        vel = Velocity(m64, cond, neg, c["cfg"], c["n_context"])
        with torch.no_grad():
            lat = sample(vel, x.double(), c["sampler"], smp["steps"], smp["shift"])
            # the decoder reads the latent's channels, not dit.extra_channels
            rgb = m64.vae.dec(m64.denormalize(lat[None, :d["Cz"]]))[0]
        n = c["name"]
        t[n + ".ids"] = ids_tensor(ids)
        t[n + ".neg_ids"] = ids_tensor(neg_ids)
        t[n + ".x"] = x
        t[n + ".latent"] = lat
        t[n + ".rgb"] = rgb
        meta_cases.append(dict(name=n, sampler=c["sampler"], steps=smp["steps"], cfg=c["cfg"],
                               shift=smp["shift"], T=c["T"], Hl=c["Hl"], Wl=c["Wl"],
                               n_context=c["n_context"], seed=seed, stream=stream,
                               noise="x[:, n_context:] = normals 0.. of (seed, stream) in "
                                     "(%s, T - n_context, Hl, Wl) order" % chans,
                               prompt=c["prompt"], negative_prompt=c["negative_prompt"],
                               model_calls=vel.calls * (2 if c["cfg"] != 1.0 else 1)))
    meta = dict(GOLDEN_META, cases=json.dumps(meta_cases, ensure_ascii=False))
    safetensors_io.save(os.path.join(out, "golden_sample.safetensors"), t, meta)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--redi-only":
        torch.set_num_threads(1)
        return write_redi(os.path.join(sys.argv[2], "redi"))
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py [--redi-only] OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    rng.check_known_answers()

    m64, cfg = write_tiny(out, tiny_config())
    mixed64 = load_model(os.path.join(out, "tiny_mixed.safetensors")).double().eval()
    tok = Tokenizer.from_config(cfg)
    write_tokenizer(out, cfg)
    write_text(out, m64, mixed64, tok)
    write_rng(out)
    write_geometry_goldens(out, m64, tok, cfg)

    # the same model but for its geometry: DiT patches 2 latent frames deep
    # on latent frames of 2 video frames (the geometry of recipe's v3)
    pt2 = os.path.join(out, "pt2")
    os.makedirs(pt2, exist_ok=True)
    m64, cfg = write_tiny(pt2, tiny_config(pt=2), mixed=False)
    write_geometry_goldens(pt2, m64, Tokenizer.from_config(cfg), cfg)
    write_redi(os.path.join(out, "redi"))
    write_umt5(os.path.join(out, "wan", "umt5"))      # Wan's umT5 encoder
    write_wan_dit(os.path.join(out, "wan", "dit"))    # Wan's DiT
    write_spm(os.path.join(out, "wan", "spm"))        # its tokenizer
    for name in ("nfkc", "nfkc_bytes"):                 # ... as tokenizer.json
        spm_dir = os.path.join(out, "wan", "spm")
        write_tokenizer_json(os.path.join(spm_dir, name + ".model"),
                             os.path.join(spm_dir, name + ".json"))
    write_wan_files(os.path.join(out, "wan", "files"))  # Wan2.1 folders
    write_wan_sampler(os.path.join(out, "wan", "sampler"))  # its schedules
    write_wan_vae(os.path.join(out, "wan", "vae"))      # its VAE decoder
    write_wan_pipeline(os.path.join(out, "wan"))        # tiny/ folder, pipeline/ golden


REDI_CHANNELS = 3


def redi_config():
    """The tiny config with dit.extra_channels (ReDi, train/redi.py): the
    DiT samples REDI_CHANNELS channels beside the latent, the decoder
    drops them."""
    cfg = tiny_config()
    cfg["name"] = "st2v-tiny-redi-test"
    cfg["dit"]["extra_channels"] = REDI_CHANNELS
    return cfg


def write_redi(out):
    """redi/: the tiny model with dit.extra_channels and its DiT, VAE and
    sample goldens (latent + extra channels, frames decoded from the
    latent's channels); carried.safetensors, the tiny model of
    tiny.safetensors carried onto the extra channels (zero weights there:
    train/redi.py), which generates the same video as it."""
    os.makedirs(out, exist_ok=True)
    m64, cfg = write_tiny(out, redi_config(), mixed=False)
    write_geometry_goldens(out, m64, Tokenizer.from_config(cfg), cfg)
    base = St2vModel(tiny_config())
    init_random(base, SEED)                 # the weights of ../tiny.safetensors
    carried = St2vModel(cfg)
    carried.load_state_dict(widen_state(base.state_dict(), carried.state_dict()))
    save_model(os.path.join(out, "carried.safetensors"), carried, "F32")


def write_tiny(out, cfg, mixed=True):
    """tiny.safetensors (and tiny_mixed) of config cfg with the seeded random
    weights; returns the model as reloaded (exactly the stored weights) in
    float64, and cfg."""
    model = St2vModel(cfg)
    init_random(model, SEED)
    tiny_path = os.path.join(out, "tiny.safetensors")
    save_model(tiny_path, model, "F32")
    if mixed:
        names = sorted(model.state_dict())
        save_model(os.path.join(out, "tiny_mixed.safetensors"), model,
                   {n: ("F16", "BF16", "F32")[i % 3] for i, n in enumerate(names)})
    return load_model(tiny_path).double().eval(), cfg


def write_geometry_goldens(out, m64, tok, cfg):
    """The goldens that depend on the patch and the autoencoder's geometry."""
    g = torch.Generator().manual_seed(SEED + 1)
    write_dit(out, m64, tok, g)
    write_vae(out, m64, g)
    write_sample(out, m64, tok, g, cfg)


if __name__ == "__main__":
    main()
