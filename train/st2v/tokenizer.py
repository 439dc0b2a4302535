# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prompt bytes to token ids (docs/model-format.md, section 3).

Works on bytes throughout. Lower-casing uses the explicit table of the spec
(never str.lower()). A 2-byte UTF-8 sequence is recognised when its lead byte
is C2..DF and the next byte is 80..BF; every other non-ASCII byte passes
through unchanged as a single byte. Only code points below U+0180 (one or two
bytes) are in the table, so this is exactly what a strict UTF-8 decoder that
passes invalid bytes through would do."""

PAD, BOS, EOS = 0, 1, 2
BYTE0 = 3
PIECE0 = 259
WORD_PREFIX = "\u2581".encode("utf-8")  # E2 96 81
WHITESPACE = frozenset(b" \t\n\v\f\r")
PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_{|}~`")


def lower_cp(cp):
    """The lower-casing table of section 3, one code point."""
    if 0x41 <= cp <= 0x5A:
        return cp + 0x20
    if 0xC0 <= cp <= 0xDE and cp != 0xD7:
        return cp + 0x20
    if (0x100 <= cp <= 0x137 or 0x14A <= cp <= 0x177) and cp % 2 == 0:
        return cp + 1
    if (0x139 <= cp <= 0x148 or 0x179 <= cp <= 0x17E) and cp % 2 == 1:
        return cp + 1
    if cp == 0x178:
        return 0xFF
    return cp


def lowercase_bytes(b):
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            out.append(lower_cp(c))
            i += 1
        elif 0xC2 <= c <= 0xDF and i + 1 < n and 0x80 <= b[i + 1] <= 0xBF:
            cp = lower_cp(((c & 0x1F) << 6) | (b[i + 1] & 0x3F))
            # every image of the table is again a 2-byte code point
            out += bytes([0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)])
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


def split_words(b):
    words, cur = [], bytearray()
    for c in b:
        if c in WHITESPACE or c in PUNCT:
            if cur:
                words.append(bytes(cur))
                cur = bytearray()
            if c in PUNCT:
                words.append(bytes([c]))
        else:
            cur.append(c)
    if cur:
        words.append(bytes(cur))
    return words


class Tokenizer:
    def __init__(self, pieces, max_length):
        self.max_length = max_length
        self.piece_ids = {}
        for i, p in enumerate(pieces):
            self.piece_ids[p.encode("utf-8")] = PIECE0 + i
        self.max_piece = max((len(p) for p in self.piece_ids), default=0)

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg["tokenizer"]["pieces"], cfg["tokenizer"]["max_length"])

    def encode_word(self, w):
        ids = []
        i, n = 0, len(w)
        while i < n:
            for ln in range(min(self.max_piece, n - i), 0, -1):
                pid = self.piece_ids.get(w[i:i + ln])
                if pid is not None:
                    ids.append(pid)
                    i += ln
                    break
            else:
                ids.append(BYTE0 + w[i])
                i += 1
        return ids

    def encode(self, text):
        """text: bytes (any) or str (encoded as UTF-8) -> list of ids."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        ids = [BOS]
        for w in split_words(lowercase_bytes(text)):
            ids += self.encode_word(WORD_PREFIX + w)
        ids.append(EOS)
        L = self.max_length
        if len(ids) > L:
            ids = ids[:L - 1] + [EOS]
        return ids
