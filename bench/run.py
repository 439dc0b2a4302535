# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/run.py - `make bench`: st2v, ONNX Runtime and the PyTorch
reference on the same model, inputs and thread counts, interleaved.

    run.py --bench BUILD/bin/st2v-bench --ort BUILD/ort --work BUILD
           [--model PATH] [--rounds 3] [--reps 5] [--out bench/results.json]

Each round runs, for 1 and 2 threads (or -t), st2v's parts, ONNX Runtime
and PyTorch one after the other, the order rotating from round to round,
so that a busy machine slows them alike; best and median are over every
round's runs. Then whole clips through the public API (real-time factor,
first frame, peak RSS). Prints a Markdown table (the one docs/performance.md
keeps) and writes --out (a build output: not committed).

ONNX Runtime needs node and onnxruntime-node under --ort
(npm install --prefix BUILD/ort --ignore-scripts onnxruntime-node); PyTorch
needs /usr/bin/python3 with torch. Either missing is skipped with a line.
A benchmark, never a test. Standard library only.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def lines(cmd, env=None, timeout=1800):
    """Run cmd; its JSON lines (others ignored). None when it failed."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           timeout=timeout, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"  {cmd[0]}: {e}", file=sys.stderr)
        return None
    if p.returncode != 0:
        print(f"  {' '.join(cmd[:3])} ...: exit {p.returncode}: "
              f"{p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    out = []
    for ln in p.stdout.splitlines():
        ln = ln.strip()
        if ln.startswith("{"):
            out.append(json.loads(ln))
    return out


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("flags"):
                    fl = ln.split(":", 1)[1].split()
                    return [x for x in ("avx2", "avx512f", "avx512_bf16")
                            if x in fl]
    except OSError:
        pass
    return []


def have_torch():
    return os.path.exists(PY) and subprocess.run(
        [PY, "-c", "import torch"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--ort", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "models",
                                                    "default.safetensors"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("-t", "--threads", default="1,2")
    ap.add_argument("--clip-seconds", type=float, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    a = ap.parse_args()
    threads = [int(x) for x in a.threads.split(",")]
    model = os.path.abspath(a.model)

    info = lines([a.bench, "-m", model, "-P", "info", "-j"])
    if not info:
        print("st2v-bench failed", file=sys.stderr)
        return 1
    info = info[0]
    shape = [str(info[k]) for k in ("T", "Hl", "Wl", "n_text")]
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs "
          f"({' '.join(cpu_flags())}); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"model {model}: window of {info['T']} latent frames at "
          f"{info['width']}x{info['height']}, prompt of {info['n_text']} tokens")

    # the reference and ONNX Runtime, each where it can run
    torch_ok = have_torch()
    if not torch_ok:
        print("PyTorch: skipped (no torch for /usr/bin/python3)")
    onnx = os.path.join(a.work, "bench-dit-%s.onnx" % "x".join(shape))
    node = shutil.which("node")
    ort_pkg = os.path.join(a.ort, "node_modules", "onnxruntime-node")
    ort_ok = bool(node) and os.path.isdir(ort_pkg) and torch_ok
    if not node:
        print("ONNX Runtime: skipped (no node)")
    elif not os.path.isdir(ort_pkg):
        print(f"ONNX Runtime: skipped (no {ort_pkg}; npm install --prefix "
              f"{a.ort} --ignore-scripts onnxruntime-node)")
    elif not torch_ok:
        print("ONNX Runtime: skipped (exporting the model needs torch)")
    if ort_ok and (not os.path.exists(onnx) or
                   os.path.getmtime(onnx) < os.path.getmtime(model)):
        r = subprocess.run([PY, os.path.join(HERE, "reference.py"), "export",
                            model, onnx] + shape, capture_output=True,
                           text=True, cwd=ROOT)
        if r.returncode != 0:
            print("ONNX Runtime: skipped (export failed: "
                  f"{r.stderr.strip().splitlines()[-1:]})")
            ort_ok = False
    env = dict(os.environ, ST2V_BENCH_SHAPES=json.dumps(
        {k: info[k] for k in ("cz", "pt", "dt")}))

    samples = {}   # (engine, part, batch, threads) -> [ms]
    gflop = {}
    version = {}

    def add(rows):
        for r in rows or []:
            key = (r["engine"], r["part"], r.get("batch", 1), r["threads"])
            samples.setdefault(key, []).extend(r["ms"])
            if "gflop" in r:
                gflop[key] = r["gflop"]
            if "version" in r:
                version[r["engine"]] = r["version"]

    engines = ["st2v", "st2v-bf16"] + (["onnxruntime"] if ort_ok else []) + \
        (["pytorch"] if torch_ok else [])
    for rnd in range(a.rounds):
        order = engines[rnd % len(engines):] + engines[:rnd % len(engines)]
        for t in threads:
            for e in order:
                if e.startswith("st2v"):
                    add(lines([a.bench, "-m", model, "-P", "parts", "-j",
                               "-t", str(t), "-r", str(a.reps)] +
                              (["-b"] if e == "st2v-bf16" else [])))
                elif e == "onnxruntime":
                    add(lines([node, os.path.join(HERE, "ort.js"), a.ort, onnx]
                              + shape + [str(t), str(a.reps)], env=env))
                else:
                    add(lines([PY, os.path.join(HERE, "reference.py"), "time",
                               model] + shape + [str(t), str(a.reps)]))
        print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)

    clips = []
    for t in threads:
        for size in ("%dx%d" % (info["width"], info["height"]), "224x128"):
            for bf in ([], ["-b"]):
                r = lines([a.bench, "-m", model, "-P", "clip", "-j", "-t",
                           str(t), "-d", str(a.clip_seconds), "-s", size] + bf)
                clips += r or []

    def stat(engine, part, batch, t):
        s = samples.get((engine, part, batch, t))
        if not s:
            return None
        return {"best": round(min(s), 3), "median": round(statistics.median(s), 3),
                "n": len(s)}

    tmax = max(threads)
    names = [("st2v", "st2v"), ("st2v-bf16", "st2v_bf16"),
             ("onnxruntime", "onnxruntime"),
             ("pytorch-fp32", "pytorch"), ("pytorch-bf16", "pytorch_bf16")]

    def best(engine, batch, t=tmax, part="dit"):
        s = stat(engine, part, batch, t)
        return s["best"] if s else None

    peak = {t: None for t in threads}
    for t in threads:
        s = stat("st2v", "sgemm2048", 1, t)
        if s:
            peak[t] = round(gflop[("st2v", "sgemm2048", 1, t)] /
                            (s["best"] * 1e-3), 1)
    dit_gflop = gflop.get(("st2v", "dit", 1, tmax), 0)
    achieved = {t: round(dit_gflop / (best("st2v", 1, t) * 1e-3), 1)
                for t in threads if best("st2v", 1, t)}
    native = [c for c in clips if c["threads"] == tmax and
              c["engine"] == "st2v" and
              c["width"] == info["width"] and c["height"] == info["height"]]
    res = {
        "machine": {"cpu": cpu_name(), "cpus": os.cpu_count(),
                    "flags": cpu_flags(),
                    "load_average": round(os.getloadavg()[0], 2)},
        "model": os.path.relpath(model, ROOT),
        "shape": info, "threads": tmax, "versions": version,
        "dit_step_ms": {n2: best(n1, 1) for n1, n2 in names},
        "cfg_pair_ms": {n2: best(n1, 2) for n1, n2 in names},
        "sgemm_peak_gflops": peak[tmax],
        "achieved_gflops": achieved.get(tmax),
        "fraction_of_peak": {str(t): round(achieved[t] / peak[t], 3)
                             for t in threads if t in achieved and peak[t]},
        "realtime_factor": native[0]["realtime_factor"] if native else None,
        "first_frame_ms": native[0]["first_frame_ms"] if native else None,
        "peak_rss_mb": native[0]["peak_rss_mb"] if native else None,
        "clips": clips,
        "detail": [dict(engine=k[0], part=k[1], batch=k[2], threads=k[3],
                        gflop=gflop.get(k), **stat(*k))
                   for k in sorted(samples)],
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")

    # the table of docs/performance.md
    def cell(engine, batch, t):
        s = stat(engine, "dit", batch, t)
        return f"{s['best']:.1f} / {s['median']:.1f}" if s else "-"

    print()
    print(f"DiT step, ms, best / median of {a.rounds} rounds x {a.reps} "
          f"(window {info['T']}x{info['Hl']}x{info['Wl']} latent, "
          f"{dit_gflop:.3f} GFLOP per forward):")
    print()
    hdr = " | ".join(f"{t} thread{'s' if t > 1 else ''}, batch 1 | "
                     f"{t} thread{'s' if t > 1 else ''}, CFG pair"
                     for t in threads)
    print(f"| engine | {hdr} |")
    print("|---" * (1 + 2 * len(threads)) + "|")
    for n1, n2 in names:
        if not any(stat(n1, "dit", b, t) for b in (1, 2) for t in threads):
            continue
        label = {"st2v": "st2v", "st2v-bf16": "st2v bf16 (AVX512-BF16)",
                 "onnxruntime": "ONNX Runtime "
                 + version.get("onnxruntime", ""),
                 "pytorch-fp32": "PyTorch fp32",
                 "pytorch-bf16": "PyTorch bf16 autocast"}[n1]
        cells = " | ".join(f"{cell(n1, 1, t)} | {cell(n1, 2, t)}"
                           for t in threads)
        print(f"| {label} | {cells} |")
    print()
    for t in threads:
        parts = []
        for p in ("text", "decoder"):
            s = stat("st2v", p, 1, t)
            if s:
                parts.append(f"{p} {s['best']:.2f} ms")
        sh = []
        for p in ("sgemm_qkv", "sgemm_proj", "sgemm_fc1", "sgemm_fc2"):
            s = stat("st2v", p, 1, t)
            if s:
                sh.append(f"{p[6:]} {gflop[('st2v', p, 1, t)] / (s['best'] * 1e-3):.0f}")
        print(f"- {t} thread{'s' if t > 1 else ''}: sgemm 2048^3 "
              f"{peak[t]} GFLOP/s; at the DiT's shapes (GFLOP/s) "
              f"{', '.join(sh)}; st2v DiT {achieved.get(t)} GFLOP/s = "
              f"{100 * achieved[t] / peak[t]:.0f} % of peak; "
              f"{', '.join(parts)}" if t in achieved and peak[t] else "")
    for c in clips:
        print(f"- clip {c['engine']} {c['width']}x{c['height']}, {c['threads']} "
              f"thread{'s' if c['threads'] > 1 else ''}: "
              f"{c['realtime_factor']:.2f}x real time, first frame "
              f"{c['first_frame_ms']:.0f} ms, peak RSS {c['peak_rss_mb']:.0f} MB")
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
