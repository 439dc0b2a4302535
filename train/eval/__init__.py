# SPDX-License-Identifier: LGPL-2.1-or-later
"""Detector-based evaluation of st2v's text-to-video model (issue 3, "Evaluation").

    /usr/bin/python3 -m train.eval.run --st2v build/bin/st2v [--model M] [--n 40] [--seed 0]
    /usr/bin/python3 -m train.eval.run --truth          # the scorer on true world renders
    /usr/bin/python3 train/eval/test_eval.py            # the scorer's own tests

detect.py reads a clip's RGB frames (background, objects, shapes, motions,
colours, tracks), score.py compares that with the ground truth of the prompt's
scene per category, prompts.py draws the held-out scenes, sheet.py writes the
contact sheet, run.py ties them together and writes docs/eval.md.
"""
import os

# One core: numpy's BLAS must not spread a small matrix product over threads
# (set before numpy is first imported, i.e. when this package is imported first).
for _v in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_v, '1')
