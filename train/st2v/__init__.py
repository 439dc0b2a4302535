# SPDX-License-Identifier: LGPL-2.1-or-later
"""st2v reference model in PyTorch: the executable form of docs/model-format.md.

Modules: config (section 2), tokenizer (3), textenc (4), dit (5), vae (6),
sampling (7, 8), rng (9), safetensors_io (1), model (the whole St2vModel).
"""
