# SPDX-License-Identifier: LGPL-2.1-or-later
"""st2v's training code as a package: run its scripts from the repository
root as `python3 -m train.train_dit ...` (or as train/train_dit.py, which
puts the root on the path). Imports nothing, so that a trainer can tune the
process (cpu_runtime.tune) before torch is imported."""
