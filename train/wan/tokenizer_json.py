# SPDX-License-Identifier: LGPL-2.1-or-later
"""spiece.model -> tokenizer.json, as Hugging Face converts a SentencePiece
unigram model (transformers' convert_slow_tokenizer.SpmConverter /
T5Converter, which made google/umt5-xxl's tokenizer.json): the fixtures
of the C reader of tokenizer.json (core/wan/spm_json.c). Debian has neither
`transformers` nor `tokenizers`, so this writes the documented structure:

    model          {"type": "Unigram", "unk_id": U, "byte_fallback": B,
                    "vocab": [[piece, score], ...]}   every piece, in id order
    added_tokens   [{"id", "content", "special", ...}]  CONTROL and UNKNOWN
                   pieces special, USER_DEFINED ones not (normalized false)
    normalizer     Sequence[Precompiled(base64 charsmap), Replace(" {2,}" ->
                   " ")]  (the Replace only when the model removes extra
                   whitespace; no Precompiled for an identity model)
    pre_tokenizer  Metaspace("▁", add_prefix_space = add_dummy_prefix,
                   prepend_scheme "always"/"never")
    post_processor TemplateProcessing: $A </s>    decoder: Metaspace

HF cannot express whitespace as a suffix, unescaped whitespace or UNUSED
pieces; such models are refused.

    /usr/bin/python3 train/wan/tokenizer_json.py MODEL OUT.json
"""

import base64
import json
import os
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

from wan.spm_fixtures import fields  # noqa: E402


def _varint(b, i):
    v, shift = 0, 0
    while True:
        v |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if b[i - 1] < 0x80:
            return v, i


def _sub(raw):
    """(num, wire, value) of a top-level field's sub-fields: bytes for
    length-delimited, int for varints."""
    _, i = _varint(raw, 0)            # the tag
    n, i = _varint(raw, i)            # the length
    body, out = raw[i:i + n], []
    for num, wire, r in fields(body):
        _, j = _varint(r, 0)
        if wire == 2:
            ln, j = _varint(r, j)
            out.append((num, wire, r[j:j + ln]))
        elif wire == 0:
            out.append((num, wire, _varint(r, j)[0]))
    return out


def convert(blob):
    """The tokenizer.json (a dict) of a serialised unigram ModelProto."""
    sp = spm.SentencePieceProcessor(model_proto=blob)
    charsmap, add_prefix, remove_ws, escape, suffix = b"", True, True, True, False
    for num, wire, raw in fields(blob):
        if num == 3 and wire == 2:        # normalizer_spec (merged)
            for f, w, v in _sub(raw):
                if f == 2 and w == 2:
                    charsmap = v
                elif f == 3 and w == 0:
                    add_prefix = v != 0
                elif f == 4 and w == 0:
                    remove_ws = v != 0
                elif f == 5 and w == 0:
                    escape = v != 0
        elif num == 2 and wire == 2:      # trainer_spec
            for f, w, v in _sub(raw):
                if f == 24 and w == 0:
                    suffix = v != 0
    if suffix or not escape:
        raise ValueError("whitespace as a suffix or unescaped: no tokenizer.json form")
    n = sp.get_piece_size()
    types = piece_types(blob)
    vocab, added, unk, byte_fallback = [], [], None, False
    for i in range(n):
        piece = sp.id_to_piece(i)
        vocab.append([piece, sp.get_score(i)])
        if sp.is_unused(i):
            raise ValueError("piece %d is UNUSED: no tokenizer.json form" % i)
        if sp.is_byte(i):
            byte_fallback = True
        special = sp.is_control(i) or sp.is_unknown(i)
        user = not special and not sp.is_byte(i) and types[i] == 4
        if sp.is_unknown(i):
            unk = i
        if special or user:
            added.append({"id": i, "content": piece, "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False,
                          "special": bool(special)})
    norms = []
    if charsmap:
        norms.append({"type": "Precompiled",
                      "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")})
    if remove_ws:
        norms.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    meta = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": add_prefix,
            "prepend_scheme": "always" if add_prefix else "never"}
    eos = sp.piece_to_id("</s>")
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": norms} if norms else None,
        "pre_tokenizer": meta,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [eos], "tokens": ["</s>"]}}},
        "decoder": dict(meta),
        "model": {"type": "Unigram", "unk_id": unk, "vocab": vocab,
                  "byte_fallback": byte_fallback},
    }


def piece_types(blob):
    """The type of each piece of blob (1 NORMAL ... 4 USER_DEFINED ...)."""
    types = []
    for num, wire, raw in fields(blob):
        if num == 1 and wire == 2:
            t = 1
            for f, w, v in _sub(raw):
                if f == 3 and w == 0:
                    t = v
            types.append(t)
    return types


def write(model_path, out_path):
    with open(model_path, "rb") as f:
        tj = convert(f.read())
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tokenizer_json.py MODEL OUT.json")
    write(sys.argv[1], sys.argv[2])
