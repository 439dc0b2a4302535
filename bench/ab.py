# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/ab.py - before/after of one change: two st2v-bench binaries (say,
one built from a git worktree of the previous commit, one from the working
tree) run alternately, and the ratio of their times per part, which a busy
machine disturbs far less than the times themselves.

    ab.py BEFORE_BENCH AFTER_BENCH [--pairs 6] [--reps 5] [-t 1,2] [--model M] [--bf16]

Prints, per part, batch and thread count, the median of each side over
every run and after/before (below 1: faster). The times are the
process's CPU time (every thread's) unless --clock ms: on a machine that
a training job shares, the steadier measure of work. Standard library only.
"""

import argparse
import json
import statistics
import os
import subprocess


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(bench, model, t, reps, bf16=False):
    out = subprocess.run([bench, "-m", model, "-P", "parts", "-j", "-t", str(t), "-r",
                          str(reps)] + (["-b"] if bf16 else []), capture_output=True, text=True,
                         check=True).stdout
    return [json.loads(x) for x in out.splitlines() if x.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--clock", choices=("ms", "cpu_ms"), default="cpu_ms",
                    help="cpu_ms: process CPU time (default; steadier)")
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("--model", default=os.path.join(ROOT, "models",
                                                    "default.safetensors"))
    ap.add_argument("--bf16", action="store_true",
                    help="both sides with compute dtype bf16 (st2v-bench -b)")
    a = ap.parse_args()
    ms = {}
    for i in range(a.pairs):
        for t in map(int, a.threads.split(",")):
            sides = ("before", "after") if i % 2 == 0 else ("after", "before")
            for side in sides:
                for r in run(getattr(a, side), a.model, t, a.reps, a.bf16):
                    if r["part"].startswith("sgemm"):
                        continue
                    k = (r["part"], r["batch"], t)
                    ms.setdefault(k, {}).setdefault(side, []).extend(
                        r[a.clock])
    for k in sorted(ms):
        b = statistics.median(ms[k]["before"])
        f = statistics.median(ms[k]["after"])
        print(f"{k[0]:8s} batch {k[1]} {k[2]} thread{'s' if k[2] > 1 else ' '}: "
              f"before {b:8.2f} ms, after {f:8.2f} ms, after/before {f / b:.3f}")


if __name__ == "__main__":
    main()
