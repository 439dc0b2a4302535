#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Golden fixtures of the umT5 tokenizer (core/wan/spm.c): tiny SentencePiece
unigram models trained here with Debian's python3-sentencepiece, and the ids
its encode() gives for tricky and for random strings.

    /usr/bin/python3 train/wan/spm_fixtures.py tests/fixtures/wan/spm

Writes, deterministically (the same bytes every run):
  nfkc.model        nmt_nfkc, T5's special ids (pad 0, eos 1, unk 2, no bos)
  nfkc_bytes.model  nmt_nfkc with byte_fallback, user-defined and control
                    symbols
  identity.model    no charsmap, no dummy prefix, extra whitespace kept,
                    whitespace as suffix
  noescape.model    identity.model plus a second normalizer_spec message
                    (protobuf merges it) that turns whitespace escaping off
  unused.model      identity.model with every 5th normal piece UNUSED
                    (kept out of segmentation) and one score set to -0.0
  cases.json        {"models": {name: [{"hex", "ids", "norm"?}, ..]},
                     "wan": [{"model", "hex", "len", "clean", "ids", "n"}, ..]}
                    "hex" is the input's bytes, "norm" the normalised text's
                    (the pieces joined, for models without byte_fallback),
                    "wan" the ids of Wan's cleaning + EOS + padding to len.

Wan's cleaning (wan/modules/tokenizers.py, clean='whitespace') runs ftfy,
which Debian lacks; clean() below is the part spm.c implements (docs/wan.md).
"""

import html
import io
import json
import os
import random
import re
import sys

import sentencepiece as spm

SEED = 20

EN = ["a red ball moves right on a black background",
      "two blue cubes spin slowly under a starry night sky",
      "the yellow star falls into the green sea at sunset",
      "a white heart bounces over textured gray ground",
      "Orange boxes roll left; small circles grow and shrink!",
      "A camera pans across the quiet city street in the rain.",
      "cinematic, detailed, 4k, slow motion, soft light"]
CS = ["červená koule se pohybuje doprava na černém pozadí",
      "dva zelené čtverce na bílém pozadí",
      "Žluťoučký kůň úpěl ďábelské ódy.",
      "ŘEŘICHA, ŠÍPEK A ČERNÁ ŽÁBA ÚŽASNĚ SKÁČOU",
      "oranžový míč poskakuje při západu slunce nad mořem",
      "Příliš žluťoučký kůň; ňadra, ťuhýk, ďolík, ů, ě."]
ZH = ["色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止",
      "一只红色的球在黑色背景上向右移动。",
      "ＡＢＣ，ｄｅｆ！１２３？（全角）",
      "蓝色的立方体在星空下慢慢旋转",
      "整体发灰，最差质量，低质量，ＪＰＥＧ压缩残留，丑陋的"]
EMOJI = ["🎈 a balloon 🎈", "🐎 kůň", "🌅 sunset 🌊 sea", "❤️ heart", "👍🏽 ok"]


def corpus():
    rng = random.Random(SEED)
    lines = EN + CS + ZH + EMOJI
    out = []
    for _ in range(600):
        a, b = rng.choice(lines), rng.choice(lines)
        cut = rng.randrange(len(b) + 1)
        out.append(a + " " + b[:cut])
    return lines * 4 + out


def train(vocab_size, **kw):
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=buf,
        model_type="unigram", vocab_size=vocab_size, character_coverage=1.0,
        num_threads=1, minloglevel=2, hard_vocab_limit=False, **kw)
    return buf.getvalue()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def models():
    t5 = dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    nfkc = train(320, normalization_rule_name="nmt_nfkc", **t5)
    nfkc_bytes = train(600, normalization_rule_name="nmt_nfkc", byte_fallback=True,
                       user_defined_symbols=["<extra_id_0>", "<sep>", "ŘŘ", "ab"],
                       control_symbols=["<ctl>"], **t5)
    identity = train(300, normalization_rule_name="identity", add_dummy_prefix=False,
                     remove_extra_whitespaces=False, treat_whitespace_as_suffix=True,
                     **t5)
    # ModelProto field 3 (normalizer_spec) again: escape_whitespaces (5) = 0,
    # add_dummy_prefix (3) = 1; protobuf merges it into the first one
    spec = bytes([5 << 3, 0, 3 << 3, 1])
    noescape = identity + bytes([3 << 3 | 2]) + varint(len(spec)) + spec
    return {"nfkc": nfkc, "nfkc_bytes": nfkc_bytes, "identity": identity,
            "noescape": noescape, "unused": mark_unused(identity)}


def fields(b):
    """The top-level (field, wire type, raw field bytes) of a protobuf."""
    i, out = 0, []
    while i < len(b):
        start, tag, shift = i, 0, 0
        while True:
            tag |= (b[i] & 0x7F) << shift
            shift += 7
            i += 1
            if b[i - 1] < 0x80:
                break
        wire, n = tag & 7, 0
        if wire == 2:
            shift = 0
            while True:
                n |= (b[i] & 0x7F) << shift
                shift += 7
                i += 1
                if b[i - 1] < 0x80:
                    break
        elif wire == 0:
            while b[i] >= 0x80:
                i += 1
            i += 1
        else:
            n = 4 if wire == 5 else 8
        i += n
        out.append((tag >> 3, wire, b[start:i]))
    return out


def mark_unused(model):
    """Every 5th NORMAL piece of a ModelProto re-typed UNUSED (field 3 = 5
    appended: the last value wins), one more given the score -0.0."""
    out, k = b"", 0
    for num, wire, raw in fields(model):
        if num == 1:
            body = raw[1:]
            while body[0] >= 0x80:  # skip the length
                body = body[1:]
            body = body[1:]
            types = [r for f, w, r in fields(body) if f == 3]
            if not types or types[-1] == bytes([3 << 3, 1]):
                k += 1
                if k % 5 == 0:
                    body += bytes([3 << 3, 5])
                elif k == 7:
                    body += bytes([2 << 3 | 5, 0, 0, 0, 0x80])
            raw = bytes([1 << 3 | 2]) + varint(len(body)) + body
        out += raw
    return out


def tricky():
    """About sixty strings that probe the normaliser and the segmentation."""
    s = ["", " ", "   ", "\t", "\n", " \t\n\r ", "a", " a", "a ", "  a  b  ",
         "a\tb\nc\r\nd", "a\u3000b", "a\u00a0b\u2009c", "\u200b", "a\u200bb",
         "hello world", "Hello World", "HELLO WORLD",
         "ＡＢＣ", "ａｂｃ１２３", "，。！？；：（）", "Hello，world！",
         "ｶﾀｶﾅ ﾊﾟ", "①②③ ⅫⅣ", "ﬁ ﬂ ﬀ", "㍻ ㎏ ℡", "x²³ ½",
         "e\u0301 é", "C\u030c c\u030c Č č", "A\u030a Å Å", "ů u\u030a",
         "ŘÍŠE ŽLUŤOUČKÝ ĎÁBEL ŤŇ Ě", "Příliš žluťoučký kůň úpěl ďábelské ódy",
         "červená koule", "ČERVENÁ KOULE",
         "色调艳丽，过曝，静态", "一只红色的球。", "整体发灰，最差质量",
         "🎈", "🎈🎈🎈", "❤️", "👍🏽", "👨‍👩‍👧", "🇨🇿", "a🎈b",
         "\u2581", "\u2581a \u2581", "<unk>", "</s>", "<extra_id_0>x", "<sep><sep>",
         "ŘŘŘ", "abab", "<ctl>", "zzzzqqqq", "Ω≈ç√∫", "\x01\x02\x7f", "\ufeffa",
         "\ufffd", "a" * 300, "červená " * 80, "字" * 200]
    s = [x.encode("utf-8") for x in s]
    s += [b"\xff", b"\xfe\xff a", b"\xc3", b"a\xc3", b"\xc3\x28", b"\x80\x80",
          b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\x80", b"\xe2\x82",
          b"\xf0\x9f\x8e", b"ok\xe2\x96\x81\xe2\x96 x", b"\xf8\x88\x80\x80\x80"]
    return s


def random_strings(n, rng):
    """Mixtures of corpus words, near-corpus characters, whitespace, and
    hostile bytes."""
    words = " ".join(EN + CS + ZH + EMOJI).split()
    atoms = ["\u0301", "\u030c", "\u030a", "\u3000", "\u00a0", "\t", "\n", "  ",
             "，", "ＡＢＣ", "ｚ", "①", "ﬁ", "🎈", "\u200d", "\ufe0f", "\u2581",
             "ŘŘ", "<sep>", "ab", "Ⅻ", "㌀", "\U0001f600", "\U00020000", "ǅ"]
    out = []
    for i in range(n):
        parts = []
        for _ in range(rng.randrange(1, 9)):
            r = rng.random()
            if r < 0.5:
                w = rng.choice(words)
                parts.append(w.upper() if rng.random() < 0.2 else w)
            elif r < 0.8:
                parts.append(rng.choice(atoms))
            elif r < 0.9:
                parts.append(chr(rng.choice([rng.randrange(0x20, 0x250),
                                             rng.randrange(0x3000, 0x3100),
                                             rng.randrange(0xff00, 0xfff0),
                                             rng.randrange(0x2000, 0x2400)])))
            else:
                parts.append(None)  # raw bytes
            parts.append(rng.choice([" ", "", "  ", "\t"]))
        b = b""
        for p in parts:
            b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4))) \
                if p is None else p.encode("utf-8", "surrogatepass")
        out.append(b)
    return out


# Unicode White_Space: what \s matches in the `regex` module Wan imports
WS = "[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"


# what ftfy's remove_control_chars drops
CONTROL = "[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]"


def clean(text):
    """Wan's clean='whitespace' as spm.c implements it: html.unescape twice,
    ftfy's uncurl_quotes and remove_control_chars, whitespace collapsed,
    stripped."""
    text = html.unescape(html.unescape(text))
    text = re.sub(CONTROL, "", text).strip()
    text = re.sub("[\u02bc\u2018-\u201b]", "'", text)
    text = re.sub("[\u201c-\u201f]", '"', text)
    return re.sub(WS, " ", text).strip()


WAN_CASES = [
    ("a red ball", 16), ("  a   red\tball\n ", 16), ("", 4), ("x", 1),
    ("red &amp; blue &lt;b&gt; &quot;x&quot; &#233; &#x10D; &amp;amp; &ampx",
     32), ("&nbsp;a&nbsp;&nbsp;b &hellip;&mdash; &eacutex &#150; &#0; &#xD800;",
          32), ("&notit; &copy &COPY; &unknown; &# &#x; & ; &am", 32),
    ("\u2018quoted\u2019 \u201cdouble\u201d \u02bcx", 24),
    ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，"
     "最差质量，低质量，JPEG压缩残留，丑陋的，残缺的", 64),
    ("dva zelené čtverce na bílém pozadí " * 30, 64),
    ("a\u3000b\u00a0c\u2009d\x1ce\x1d", 16), ("\x1c a \x1f", 8),
    ("\ufeffa\x01b\x7f \u206ac\ufffc &#xFEFF;d&#1;e \x85 f\u00adg", 16),
    ("a\x0bb \x0c c \x01 d\r\ne", 16),
    ("ＡＢＣ，ｄｅｆ！", 8), ("červená koule 🎈", 512),
]


def write_fixtures(outdir):
    os.makedirs(outdir, exist_ok=True)
    ms = models()
    procs = {}
    for name, blob in ms.items():
        with open(os.path.join(outdir, name + ".model"), "wb") as f:
            f.write(blob)
        procs[name] = spm.SentencePieceProcessor(model_proto=blob)
    rng = random.Random(SEED)
    inputs = tricky() + random_strings(200, rng)
    cases = {}
    for name, sp in procs.items():
        rows = []
        byte_fallback = name == "nfkc_bytes"
        for b in inputs:
            row = {"hex": b.hex(), "ids": sp.encode(b)}
            if not byte_fallback:
                row["norm"] = b"".join(
                    p if isinstance(p, bytes) else p.encode()
                    for p in sp.encode(b, out_type=str)).hex()
            rows.append(row)
        cases[name] = rows
    wan = []
    sp = procs["nfkc"]
    eos, pad = sp.piece_to_id("</s>"), sp.piece_to_id("<pad>")
    assert (eos, pad) == (1, 0)
    for text, length in WAN_CASES:
        c = clean(text)
        ids = sp.encode(c)[:length - 1] + [eos]
        n = len(ids)
        wan.append({"model": "nfkc", "hex": text.encode().hex(), "len": length,
                    "clean": c.encode().hex(), "ids": ids + [pad] * (length - n),
                    "n": n})
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        f.write('{"models": {\n')
        f.write(",\n".join(
            json.dumps(name) + ": [\n" + ",\n".join(json.dumps(r, sort_keys=True)
                                                    for r in rows) + "]"
            for name, rows in cases.items()))
        f.write('},\n"wan": [\n')
        f.write(",\n".join(json.dumps(r, sort_keys=True) for r in wan))
        f.write("]}\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: spm_fixtures.py OUTDIR")
    write_fixtures(sys.argv[1])
