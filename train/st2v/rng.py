# SPDX-License-Identifier: LGPL-2.1-or-later
"""Portable noise (docs/model-format.md, section 9): Philox4x32-10 in numpy
uint64 arithmetic, and Box-Muller normals in double rounded to float32."""

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
UMASK = np.uint64(MASK)
TAG = 0x53543256


def philox4x32_10(ctr, key):
    """ctr: 4 arrays (or ints) of uint32 values, key: 2 of them -> 4 uint64 arrays."""
    c = [np.asarray(x, dtype=np.uint64) & UMASK for x in ctr]
    k0 = np.asarray(key[0], dtype=np.uint64) & UMASK
    k1 = np.asarray(key[1], dtype=np.uint64) & UMASK
    m0, m1 = np.uint64(M0), np.uint64(M1)
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(W0)) & UMASK
            k1 = (k1 + np.uint64(W1)) & UMASK
        p0 = c[0] * m0          # < 2^64, exact in uint64
        p1 = c[2] * m1
        hi0, lo0 = p0 >> np.uint64(32), p0 & UMASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & UMASK
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return c


def normals(n, seed, stream, first=0):
    """float32 array of normals first .. first+n-1 of (seed, stream)."""
    seed = int(seed)
    k = np.arange(first, first + n, dtype=np.uint64)
    p = k >> np.uint64(1)
    ctr = [p & UMASK, p >> np.uint64(32), np.full_like(p, stream), np.full_like(p, TAG)]
    w = philox4x32_10(ctr, (seed & MASK, (seed >> 32) & MASK))
    u1 = ((w[0] >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * 2.0 ** -24
    u2 = (w[1] >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    r = np.sqrt(-2.0 * np.log(u1))
    ang = 2.0 * np.pi * u2
    odd = (k & np.uint64(1)).astype(bool)
    out = np.where(odd, r * np.sin(ang), r * np.cos(ang))
    return out.astype(np.float32)


KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((MASK,) * 4, (MASK, MASK), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def check_known_answers():
    for ctr, key, want in KNOWN_ANSWERS:
        got = tuple(int(x) for x in philox4x32_10(ctr, key))
        if got != want:
            raise AssertionError("philox KAT failed: %s != %s" % ([hex(x) for x in got], [hex(x) for x in want]))
