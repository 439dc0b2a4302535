# SPDX-License-Identifier: LGPL-2.1-or-later
"""The process environment torch trains fastest in on these CPUs, set by the
training scripts before they import torch (`tune()`, first thing under
`__main__`).

Debian's torch runs its element-wise ops on OpenMP threads and its matrix
products on OpenBLAS's own threads. With OpenMP's default wait policy its
threads spin after every parallel region, and on 2 cores they take the
cores from OpenBLAS: a DiT training step (batch 16, 224x128, float32)
took 5.9 s. OMP_WAIT_POLICY=PASSIVE lets them sleep (3.6-4.0 s), and
jemalloc, which keeps the freed pages instead of faulting them back in
for every activation, takes it to 2.8 s (docs/training.md, "Training on a
CPU without bfloat16").

jemalloc can only come in when the process starts (LD_PRELOAD), so
`tune()` runs the same command again once, with it preloaded, where the
library is installed (Debian's libjemalloc2, scripts/setup-debian.sh),
for the parts that train fastest with it (ALLOCATOR: the autoencoder; the
bfloat16 DiT trains as fast on glibc's malloc and without jemalloc's
growth).
ST2V_CPU_TUNE=0 leaves the environment as it is.

Which precision trains each part fastest differs between the parts
(train/step_timing.py, every combination interleaved in one run on a
2-core Zen 4 with AVX512-BF16; docs/training.md, "Which runtime trains
fastest"): the DiT step is fastest in bfloat16 autocast with this tuned
environment (1.06 s a step against 1.24 s untuned and 2.65 s in float32),
but the autoencoder's convolutions in bfloat16 are slowest in it (1.01 s
against 0.58 s in float32 tuned). So `tune(part)` also sets the part's
precision (ST2V_BF16, read by recipe.autocast) unless the caller set it:
float32 for the autoencoder and its encoder ("vae"), the CPU's own choice
(bfloat16 where it computes it) for the DiT ("dit")."""

import ctypes
import os
import sys

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# Keep every freed page for reuse (decay -1), and give them all back at
# each checkpoint (release_memory(), called by loop.train). jemalloc's
# decay purges on a smooth curve from the moment a page is freed, so any
# finite decay has a step fault its activations in again: the DiT trainer
# (carried DiT on v3, 1 thread each, four runs side by side, 2026-12-05)
# made 4.6 samples/s with decay -1 and about a third of that with 5 s,
# 60 s, or 10 s with a background thread. Decay -1 alone grew the trainer
# until the kernel killed it at 24 GB once (an early run, 14-43 MB a
# step); with the purge at every checkpoint (5 minutes) it is bounded by
# what 5 minutes can grow.
JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def release_memory():
    """Return to the kernel the freed pages jemalloc keeps (all arenas);
    False where jemalloc is not the allocator of this process."""
    if JEMALLOC not in os.environ.get("LD_PRELOAD", "").split(":"):
        return False
    try:
        lib = ctypes.CDLL(JEMALLOC, mode=getattr(os, "RTLD_NOLOAD", 4))
    except OSError:
        return False
    # MALLCTL_ARENAS_ALL is 4096 in jemalloc 5
    return lib.mallctl(b"arena.4096.purge", None, None, None, ctypes.c_size_t(0)) == 0


# ST2V_BF16 a part trains fastest with on any CPU; None leaves it to
# recipe.autocast's detection (bfloat16 where the CPU computes it)
PRECISION = {"dit": None, "vae": "0"}

# The allocator each part trains with (ST2V_MALLOC=jemalloc or glibc
# overrides). The DiT trainer under jemalloc with decay -1 grows 30-150 MB
# a step (the campaign's reached 15.8 GB five minutes after a purge, and a
# --redi 4 run 8.7 GB in 35 steps, OOM-killed once at 12.2 GB), while under
# glibc it stays at 4.48-4.50 GB and is no slower: from one checkpoint,
# side by side, 1 thread each, 6 minutes (2026-12-05), glibc made 26,050
# steps' worth where jemalloc made 26,040, at 5.7-7.7 against 4.4-6.9
# samples/s (docs/training.md, "The allocator, again").
ALLOCATOR = {"dit": "glibc", "vae": "jemalloc"}


def tune(part):
    """Set the environment above for training `part` ("dit" or "vae", a key
    of PRECISION and ALLOCATOR); may replace the process (os.execv) with
    the same command line, so call it before any work is done."""
    if "torch" in sys.modules:
        raise RuntimeError("cpu_runtime.tune() must run before torch is imported")
    if part not in PRECISION:
        raise ValueError(f"cpu_runtime.tune: no part {part!r} (have {', '.join(PRECISION)})")
    if PRECISION[part] is not None:
        os.environ.setdefault("ST2V_BF16", PRECISION[part])
    if os.environ.get("ST2V_CPU_TUNE", "1") == "0":
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    allocator = os.environ.get("ST2V_MALLOC", ALLOCATOR[part])
    if allocator not in ("jemalloc", "glibc"):
        raise ValueError(f"ST2V_MALLOC must be jemalloc or glibc, got {allocator!r}")
    preload = os.environ.get("LD_PRELOAD", "")
    if allocator == "glibc" or not os.path.exists(JEMALLOC) or JEMALLOC in preload.split(":"):
        return
    os.environ["LD_PRELOAD"] = f"{preload}:{JEMALLOC}" if preload else JEMALLOC
    os.environ.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)
