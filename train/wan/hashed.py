# SPDX-License-Identifier: LGPL-2.1-or-later
"""Weights computed from a counter hash, for golden tests of full-width
parts whose weights are too large to store as fixtures (one umT5 block of
4096 is 285 MB in BF16, one DiT block of 1536 about 130 MB). The C tests
compute the same values (tests/hashed.h); only the golden is stored.

Tensor number k of a model (its names sorted as strings) holds, at flat
index i, the integer q = (splitmix64(k << 40 | i) >> 56) - 128 in
[-128, 127] times 2^-shift: exact in BF16 (8 significant bits), so the
file the C test builds in memory holds exactly these values.
"""
import numpy as np


def splitmix64(x):
    """SplitMix64 of uint64 array x (wrapping arithmetic, as in C)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def tensor(k, shape, shift):
    """Tensor number k: ((splitmix64(k << 40 | i) >> 56) - 128) * 2^-shift."""
    n = int(np.prod(shape))
    out = np.empty(n, np.float64)
    with np.errstate(over="ignore"):
        for a in range(0, n, 1 << 24):
            i = np.arange(a, min(n, a + (1 << 24)), dtype=np.uint64)
            q = splitmix64((np.uint64(k) << np.uint64(40)) | i) >> np.uint64(56)
            out[a:a + len(i)] = (q.astype(np.int64) - 128) * 2.0 ** -shift
    return out.reshape(shape)


def fan_in_shift(shape):
    """The shift of a tensor by its shape alone: for a matrix (ndim >= 2)
    the least s with 2^s >= 74 sqrt(fan_in) (74 is the spread of q, so the
    weights' scale is about fan_in^-1/2), fan_in the product of all but
    the first dimension; 9 (values within +-0.25) for vectors."""
    if len(shape) < 2:
        return 9
    fan_in = int(np.prod(shape[1:]))
    s = 0
    while (1 << (2 * s)) < 5476 * fan_in:      # 2^2s >= 74^2 fan_in
        s += 1
    return s
