# SPDX-License-Identifier: LGPL-2.1-or-later
"""The model configuration (docs/model-format.md, section 2): derived values,
the consistency checks the C loader also makes, and the two configurations
this repository ships (the tiny test model and the placeholder default)."""

import copy
import json


# dit.extra_channels: channels the DiT denoises beside the latent (ReDi),
# dropped before the decoder; at most this many (core/st2v/config.c too)
MAX_EXTRA_CHANNELS = 64


def _utf8_ok(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def compression(vae):
    """(video frames per latent frame, pixels per latent pixel side) of a
    config's "vae" section, unchecked (derived checks it)."""
    return 2 ** sum(vae["time_up"]), 2 ** sum(vae["space_up"])


def derived(cfg):
    """Derived values of section 2 as a dict; raises ValueError on a bad config."""
    def need(cond, msg):
        if not cond:
            raise ValueError("config: " + msg)

    need(cfg.get("format_version") == 1, "format_version must be 1")
    tok, text, dit, vae = cfg["tokenizer"], cfg["text"], cfg["dit"], cfg["vae"]
    pieces = tok["pieces"]
    need(len(set(pieces)) == len(pieces), "tokenizer.pieces must be unique")
    for p in pieces:
        need(isinstance(p, str) and p and _utf8_ok(p) and len(p.encode("utf-8")) <= 64,
             "bad piece %r" % (p,))
    L = tok["max_length"]
    need(2 <= L <= 1024, "tokenizer.max_length out of range")
    Dt, Ht = text["dim"], text["heads"]
    need(Dt % Ht == 0 and (Dt // Ht) % 2 == 0, "text.dim / text.heads must be even")
    D, H = dit["dim"], dit["heads"]
    need(D % H == 0, "dit.dim % dit.heads != 0")
    hd = D // H
    pt, ph, pw = dit["patch"]
    need(min(pt, ph, pw) >= 1, "dit.patch entries must be >= 1")
    rd = dit["rope_dims"]
    need(all(r % 2 == 0 for r in rd) and sum(rd) == hd, "dit.rope_dims must be even and sum to hd")
    need(dit["freq_dim"] % 2 == 0, "dit.freq_dim must be even")
    need(isinstance(dit.get("text_pool", False), bool), "dit.text_pool must be a boolean")
    R = dit.get("extra_channels", 0)
    need(isinstance(R, int) and not isinstance(R, bool) and 0 <= R <= MAX_EXTRA_CHANNELS,
         "dit.extra_channels must be an integer 0..%d" % MAX_EXTRA_CHANNELS)
    Cz = vae["z_channels"]
    need(Cz >= 1, "vae.z_channels must be >= 1")
    Lv = len(vae["channels"])
    need(Lv >= 1, "vae.channels must not be empty")
    if "dec_channels" in vae:
        dc = vae["dec_channels"]
        need(isinstance(dc, list) and len(dc) == Lv and
             all(isinstance(c, int) and c >= 1 for c in dc),
             "vae.dec_channels needs Lv entries >= 1")
    need(len(vae["time_up"]) == Lv - 1 and len(vae["space_up"]) == Lv - 1,
         "vae.time_up/space_up need Lv-1 entries")
    need(all(u in (0, 1) for u in vae["time_up"] + vae["space_up"]), "up flags must be 0/1")
    need(len(vae["kt"]) == Lv and all(k >= 1 for k in vae["kt"]), "vae.kt needs Lv entries >= 1")
    need(len(vae["latent_mean"]) == Cz and len(vae["latent_std"]) == Cz, "latent stats need Cz entries")
    need(all(s > 0 for s in vae["latent_std"]), "latent_std must be > 0")
    ft, s = compression(vae)
    for w, h in cfg["video"]["sizes"]:
        need(h % (s * ph) == 0 and w % (s * pw) == 0, "size %dx%d not divisible" % (w, h))
    smp = cfg["sampler"]
    need(smp["window"] % pt == 0 and smp["window"] > smp["context"], "bad sampler.window")
    need(smp["context"] % pt == 0 and smp["context"] >= 0, "bad sampler.context")
    return dict(V=259 + len(pieces), L=L, Dt=Dt, Ht=Ht, hdt=Dt // Ht, Mt=text["mlp_dim"],
                D=D, H=H, hd=hd, M=dit["mlp_dim"], pt=pt, ph=ph, pw=pw, F=dit["freq_dim"],
                Cz=Cz, R=R, Cd=Cz + R, Lv=Lv, ft=ft, s=s, P=(Cz + R) * pt * ph * pw)


TINY_PIECES = [
    # English words
    "▁a", "▁red", "▁re", "▁ball", "▁blue", "▁green", "▁cube", "▁c", "▁on", "▁the",
    "▁sea", "▁moving", "▁mov", "▁over", "▁sky", "▁and", "▁two", "▁,", "▁.",
    # Czech words
    "▁červená", "▁červený", "▁míč", "▁modrá", "▁kostka", "▁na", "▁moři",
    "▁žluťoučký", "▁kůň", "▁říše", "▁dva", "▁a", "▁nebe",
    # the bare word prefix, and subword pieces without it
    "▁", "ek", "ing", "ed", "s", "er", "a", "e", "o", "r", "l", "č", "ř", "ů", "í",
]


def tiny_config(pt=1):
    """The tiny config of tests/fixtures/README.md; pt=2 that of
    tests/fixtures/pt2: DiT patches 2 latent frames deep, latent frames of 2
    video frames (time_up [1, 0]), 2 frames of context."""
    pieces = []
    for p in TINY_PIECES:
        if p not in pieces:
            pieces.append(p)
    if pt not in (1, 2):
        raise ValueError("tiny_config: pt is 1 or 2")
    return {
        "format_version": 1,
        "name": "st2v-tiny-test",
        "description": "tiny random-weight model for the golden tests; untrained",
        "provenance": {"script": "train/make_fixtures.py", "seed": 1234},
        "tokenizer": {"max_length": 16, "pieces": pieces},
        "text": {"dim": 32, "layers": 2, "heads": 2, "mlp_dim": 64},
        "dit": {"dim": 48, "layers": 2, "heads": 2, "mlp_dim": 96,
                "patch": [pt, 2, 2], "rope_dims": [8, 8, 8],
                "rope_theta": 10000.0, "freq_dim": 32, "text_pool": True},
        "vae": {"z_channels": 4, "channels": [16, 8, 8], "dec_channels": [24, 12, 8],
                "res_blocks": 1,
                "time_up": [1, 1 if pt == 1 else 0], "space_up": [1, 1], "kt": [3, 2, 1],
                "latent_mean": [0.125, -0.25, 0.0625, 0.0],
                "latent_std": [0.875, 1.125, 1.25, 0.75]},
        "video": {"fps": 16, "sizes": [[32, 32], [48, 32]]},
        "sampler": {"steps": 4, "cfg": 3.0, "sampler": "euler", "shift": 2.0,
                    "window": 4, "context": pt},
    }


def to_json(cfg):
    return json.dumps(cfg, ensure_ascii=False)


def clone(cfg):
    return copy.deepcopy(cfg)
