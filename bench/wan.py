# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/wan.py - `make bench-wan`: Wan2.1's parts at full size on random
weights, st2v and (optionally) stable-diffusion.cpp on the same files,
shapes and thread count, interleaved.

    wan.py --bench BUILD/bin/st2v-bench-wan --work BUILD
           [--weights DIR] [--dit FILE] [--vae FILE] [--sdcpp PATH/sd-cli]
           [--threads 2] [--rounds 1] [--reps 1] [--layers 2]
           [--compute f32|bf16] [--umt5-layers 2]
           [--shapes 17x320x512,33x480x832]
           [--out bench/wan-results.json]

Weights (written once under --weights, default BUILD/wan-weights, by the
repository's own random-weight writers, train/wan/*.py):
  dit.safetensors    the 1.3B DiT in BF16 (train/wan/dit.py --full, 2.8 GB;
                     or --dit FILE)
  dit-LN.safetensors its first N blocks with everything else (--layers N;
                     0 = all 30): the same cut model for both engines, whose
                     time is then scaled to 30 blocks (labelled "x30/N")
  umt5-LN.safetensors N real-size umT5-XXL blocks and the real 256k
                     embedding in BF16 under Hugging Face's names (what
                     sd.cpp reads; st2v reads both), scaled to 24 blocks
  vae.safetensors    the Wan2.1 VAE in F32 (train/wan/vae.py --full)

Parts per shape FRAMES x H x W: one DiT forward (one prompt, t = 500); the
text encoder once (umT5 on 512 tokens, sd.cpp's padded length, and st2v's
own way: the real tokens only, 24 here); the VAE decode of the first latent
frame and of a later one (4 video frames). sd.cpp runs one sampling step
(euler, --cfg-scale 1: one DiT forward) of the same cut DiT and decodes the
whole clip; each phase's compute (weights loading excluded) is timed from
the arrival of its log lines, its CPU seconds from /proc/PID/stat sampled
over the same interval.

Times: wall and CPU seconds (the machines here are shared: CPU seconds
say what the work costs). Best and median over every run. Prints a Markdown
table (docs/performance.md keeps the latest) and writes --out (not
committed). A benchmark, never a test. Standard library only.
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")
# every run at niceness 10 (the machines here are shared), not 10 more
# when make itself runs under nice
NICE = ["nice", "-n", str(max(0, 10 - os.nice(0)))]

UMT5_HF = {  # official name (train/wan/umt5.py) -> Hugging Face UMT5 name
    "token_embedding.weight": "shared.weight",
    "norm.weight": "encoder.final_layer_norm.weight",
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
    "pos_embedding.embedding.weight":
        "layer.0.SelfAttention.relative_attention_bias.weight",
}


# ------------------------------------------------------------ weights

def read_header(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)), 8 + n


def rewrite(src, dst, rename):
    """dst = the tensors of src that rename(name) keeps (not None), under
    the names it gives, data copied in its order."""
    header, base = read_header(src)
    meta = header.pop("__metadata__", None)
    out, off, plan = {}, 0, []
    for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
        new = rename(name)
        if new is None:
            continue
        b, e = header[name]["data_offsets"]
        out[new] = dict(header[name], data_offsets=[off, off + e - b])
        plan.append((base + b, e - b))
        off += e - b
    if meta:
        out["__metadata__"] = meta
    hb = json.dumps(out, separators=(",", ":")).encode()
    hb += b" " * ((-len(hb)) % 8)
    tmp = dst + ".part"
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        fo.write(len(hb).to_bytes(8, "little") + hb)
        for pos, size in plan:
            fi.seek(pos)
            while size:
                chunk = fi.read(min(size, 1 << 26))
                fo.write(chunk)
                size -= len(chunk)
    os.replace(tmp, dst)


def nice_py(args):
    subprocess.run(NICE + [PY] + args, check=True, cwd=ROOT)


def weights(a):
    d = a.weights
    os.makedirs(d, exist_ok=True)
    dit = a.dit or os.path.join(d, "dit.safetensors")
    vae = a.vae or os.path.join(d, "vae.safetensors")
    if not os.path.exists(dit):
        print(f"writing {dit} (train/wan/dit.py --full)", file=sys.stderr)
        nice_py(["train/wan/dit.py", "--full", dit])
    if not os.path.exists(vae):
        print(f"writing {vae} (train/wan/vae.py --full)", file=sys.stderr)
        nice_py(["train/wan/vae.py", "--full", vae])
    cut = dit
    if a.layers:
        cut = os.path.join(d, f"dit-L{a.layers}.safetensors")
        if not os.path.exists(cut):
            def keep(n):
                m = re.match(r"(model\.diffusion_model\.)?blocks\.(\d+)\.", n)
                return n if not m or int(m.group(2)) < a.layers else None
            rewrite(dit, cut, keep)
    umt5 = os.path.join(d, f"umt5-L{a.umt5_layers}.safetensors")
    if not os.path.exists(umt5):
        print(f"writing {umt5} ({a.umt5_layers} umT5-XXL blocks)",
              file=sys.stderr)
        nice_py([__file__, "--write-umt5", umt5, str(a.umt5_layers)])
    return dit, cut, umt5, vae


def write_umt5(path, layers):
    """umT5-XXL's shapes (train/wan/umt5.py tensor_shapes) with `layers`
    blocks, BF16, under Hugging Face's names, the scales of umt5.py's
    write_full; the values a 16M-sample random block repeated (generating
    the 256k x 4096 embedding afresh takes an hour on a busy machine; the
    timing does not depend on the values, and both engines read the same
    file)."""
    sys.path.insert(0, os.path.join(ROOT, "train", "wan"))
    sys.path.insert(0, os.path.join(ROOT, "train"))
    import numpy as np
    import umt5 as ref
    from st2v import safetensors_io
    cfg = dict(ref.UMT5_XXL, layers=layers)
    shapes = ref.tensor_shapes(cfg)

    def hf(n):
        if n in UMT5_HF:
            return UMT5_HF[n]
        _, i, rest = n.split(".", 2)
        return f"encoder.block.{i}.{UMT5_HF[rest]}"
    names = sorted(shapes)
    header, off = {"__metadata__": {"generator": "bench/wan.py write_umt5",
                                    "config": json.dumps(cfg, sort_keys=True)}}, 0
    for n in names:
        nb = 2 * math.prod(shapes[n])
        header[hf(n)] = {"dtype": "BF16", "shape": list(shapes[n]),
                         "data_offsets": [off, off + nb]}
        off += nb
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((-len(hb)) % 8)
    block = np.random.Generator(np.random.PCG64(1234)).standard_normal(
        (1 << 24) + 4099, dtype=np.float32)
    with open(path + ".part", "wb") as f:
        f.write(len(hb).to_bytes(8, "little") + hb)
        for i, n in enumerate(names):
            count, std = math.prod(shapes[n]), ref.full_std(cfg, n)
            a = 1.0 + 0.25 * block if std is None else block * np.float32(std)
            bits = safetensors_io.f32_to_bf16_bits(a).astype("<u2")
            start = (i * 7919) % 4099
            while count:
                k = min(count, 1 << 24)
                f.write(bits[start:start + k].tobytes())
                count -= k
                start = (start + 1) % 4099
    os.replace(path + ".part", path)


# ------------------------------------------------------------- engines

def proc_cpu(pid):
    """CPU seconds (user + system, all threads) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read().rsplit(")", 1)[1].split()
        return (int(s[11]) + int(s[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def st2v(a, part, weights_file, shape, extra=()):
    cmd = NICE + [a.bench, part, "--weights", weights_file,
           "-t", str(a.threads), "-s", shape, "-r", str(a.reps)] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        print(f"  st2v {part}: exit {p.returncode}: {p.stderr.strip()}",
              file=sys.stderr)
        return []
    return [json.loads(ln) for ln in p.stdout.splitlines()
            if ln.startswith("{")]


# sd.cpp's log lines (its wording at the commit used; -v for the debug
# ones): a phase's compute starts when its graph's buffer is allocated
# (after its weights are loaded: sd.cpp loads them lazily, inside the
# phase's own "taking" figure) and ends with the line that closes it
SD_PHASES = {
    "umt5": (re.compile(r"t5 compute buffer size"),
             re.compile(r"computing condition graph completed")),
    "dit_step": (re.compile(r"Wan2\.\d-\S+ compute buffer size"),
                 re.compile(r"sampling completed, taking")),
    "vae_clip": (re.compile(r"wan_vae compute buffer size"),
                 re.compile(r"decode_first_stage completed")),
}


def sdcpp(a, cut, umt5, vae, shape, log_path, decode=True):
    """One sd-cli run; each phase's compute from the arrival of its log
    lines (SD_PHASES), its CPU time from /proc/PID/stat sampled every
    0.2 s over the same interval. decode False: stopped once sampling is done (its
    VAE decodes the whole clip: minutes at 33 x 480x832)."""
    frames, h, w = (int(v) for v in shape.split("x"))
    out = os.path.join(a.work, "sdcpp-out")
    os.makedirs(out, exist_ok=True)
    cmd = NICE + [a.sdcpp, "-M", "vid_gen",
                  "--diffusion-model", cut, "--vae", vae] + \
        ([] if a.sdcpp_no_t5 else ["--t5xxl", umt5]) + [
                  "-p", "a b c", "--cfg-scale", "1", "--steps", "1",
                  "--sampling-method", "euler", "-W", str(w), "-H", str(h),
                  "--video-frames", str(frames), "-t", str(a.threads),
                  "--rng", "cpu", "-s", "42", "-v",
                  "-o", os.path.join(out, shape + "_%03d.png")] + \
        a.sdcpp_args.split()
    t0 = time.monotonic()
    # sd.cpp picks Wan's config from the number of blocks (30 or 40) and
    # aborts on a cut model; the build docs/performance.md describes reads
    # this variable to take a cut 1.3B as the 1.3B (nothing else changes)
    env = dict(os.environ, SDCPP_WAN_CUT_1_3B="1")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, cwd=a.work, env=env)
    samples, done = [(0.0, 0.0)], [False]

    def poll():  # nice execs sd-cli in place: same pid
        while not done[0]:
            c = proc_cpu(p.pid)
            if c is not None:
                samples.append((time.monotonic() - t0, c))
            time.sleep(0.2)
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    starts, ends = {}, []
    with open(log_path, "w") as log:
        for ln in p.stdout:
            now = time.monotonic() - t0
            log.write(f"[{now:8.2f}] {ln}")
            for name, (begin, end) in SD_PHASES.items():
                if begin.search(ln) and name not in starts:
                    starts[name] = now
                if end.search(ln) and name in starts:
                    ends.append((name, starts[name], now))
                    if name == "dit_step" and not decode:
                        p.terminate()
    _, status, ru = os.wait4(p.pid, 0)
    done[0] = True
    th.join()
    with open(log_path, "a") as log:
        log.write("cpu samples (wall s, cpu s): %s\n" % json.dumps(samples))

    def cpu_at(t):
        best = samples[0]
        for s in samples:
            if s[0] <= t:
                best = s
        return best[1]
    res = []
    for name, begin, end in ends:
        res.append({"engine": "sd.cpp", "part": name, "shape": shape,
                    "threads": a.threads, "wall": end - begin,
                    "cpu": cpu_at(end) - cpu_at(begin), "scale": 1.0})
    if os.WEXITSTATUS(status) != 0 and decode:
        print(f"  sd.cpp: exit {os.WEXITSTATUS(status)} (log {log_path})",
              file=sys.stderr)
    res.append({"engine": "sd.cpp", "part": "process", "shape": shape,
                "threads": a.threads, "wall": time.monotonic() - t0,
                "cpu": ru.ru_utime + ru.ru_stime, "scale": 1.0,
                "rss_mb": ru.ru_maxrss / 1024})
    return res


# -------------------------------------------------------------- report

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def summary(rows, engine, part, shape):
    rs = [r for r in rows if r["engine"] == engine and r["part"] == part
          and r["shape"] == shape]
    if not rs:
        return None
    s = rs[0]["scale"]
    w = [r["wall"] * s for r in rs]
    c = [r["cpu"] * s for r in rs]
    return {"n": len(rs), "scale": s, "wall_best": min(w),
            "wall_median": statistics.median(w), "cpu_best": min(c),
            "cpu_median": statistics.median(c)}


def fmt(x):
    return "-" if x is None else (f"{x:.1f}" if x < 100 else f"{x:.0f}")


def table(rows, a, tokens):
    out = [f"Machine: {cpu_name()}, {os.cpu_count()} CPUs; {a.threads} "
           f"threads; load average at the start {a.load:.1f}. Seconds, "
           "best / median of all runs; CPU = user + system of the process "
           "(the figure that means something on a shared machine).", "",
           "| shape | part | st2v wall | st2v CPU | sd.cpp wall | sd.cpp CPU "
           "| CPU ratio sd.cpp/st2v |", "|---|---|---|---|---|---|---|"]
    parts = [("dit", "dit_step", "DiT forward"),
             ("umt5", "umt5", "umT5 (512 tokens)"),
             ("umt5_real", None, "umT5 (24 real tokens, st2v's way)"),
             ("vae_first", None, "VAE, first latent frame"),
             ("vae_later", None, "VAE, a later latent frame (4 frames)"),
             ("vae_clip", "vae_clip", "VAE, the whole clip")]
    for shape in a.shapes:
        for ours, theirs, label in parts:
            s = summary(rows, "st2v", ours, shape)
            t = summary(rows, "sd.cpp", theirs, shape) if theirs else None
            if s is None and t is None:
                continue
            sc = (s or t)["scale"]
            lab = label + (f" (x{sc:g}, from {round(30 / sc)} blocks)"
                           if ours == "dit" and sc != 1 else "")
            lab += (f" (x{sc:g}, from {round(24 / sc)} blocks)"
                    if ours.startswith("umt5") and sc != 1 else "")
            if ours == "dit":
                lab += f", {tokens.get(shape, '?')} tokens"
            ratio = (t["cpu_best"] / s["cpu_best"]) if s and t else None
            out.append(f"| {shape} | {lab} | "
                       f"{fmt(s and s['wall_best'])} / {fmt(s and s['wall_median'])} | "
                       f"{fmt(s and s['cpu_best'])} / {fmt(s and s['cpu_median'])} | "
                       f"{fmt(t and t['wall_best'])} / {fmt(t and t['wall_median'])} | "
                       f"{fmt(t and t['cpu_best'])} / {fmt(t and t['cpu_median'])} | "
                       f"{'-' if ratio is None else f'{ratio:.2f}x'} |")
    return "\n".join(out)


def clip_estimate(rows, shape="17x320x512"):
    """1 s of 320x512 at the CPU defaults: 40 DiT forwards (20 unipc
    steps, CFG 5), 2 prompt encodings (real tokens), 5 latent frames."""
    d = summary(rows, "st2v", "dit", shape)
    u = summary(rows, "st2v", "umt5_real", shape) or \
        summary(rows, "st2v", "umt5", shape)
    f = summary(rows, "st2v", "vae_first", shape)
    l_ = summary(rows, "st2v", "vae_later", shape)
    if not (d and u and f and l_):
        return None
    cpu = 40 * d["cpu_best"] + 2 * u["cpu_best"] + f["cpu_best"] + \
        4 * l_["cpu_best"]
    return {"cpu_s": cpu, "wall_2_idle_cores_s": cpu / 2,
            "dit_share": 40 * d["cpu_best"] / cpu}


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--write-umt5":
        write_umt5(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "--table":
        # the table again from results files (rows of several runs merged)
        rows, tokens, r = [], {}, None
        for path in sys.argv[2:]:
            with open(path) as f:
                r = json.load(f)
            rows += r["rows"]
        for x in rows:
            if x["part"] == "dit_step" and r.get("layers"):
                x["scale"] = 30 / r["layers"]
            if x["part"] == "dit":
                tokens[x["shape"]] = x["tokens"]
        ns = argparse.Namespace(threads=r["threads"], load=r["load"],
                                shapes=sorted({x["shape"] for x in rows},
                                              key=lambda v: int(v.split("x")[0])))
        print(table(rows, ns, tokens))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--dit")
    ap.add_argument("--vae")
    ap.add_argument("--sdcpp")
    ap.add_argument("--sdcpp-args", default="--diffusion-fa")
    ap.add_argument("--sdcpp-no-t5", action="store_true",
                    help="sd.cpp without its text encoder (zero context of "
                    "256 rows): it widens umT5's 256k x 4096 embedding to "
                    "float32 at every start, minutes on a busy machine")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--compute", choices=["f32", "bf16"], default="f32",
                    help="st2v's DiT compute dtype (bf16: the AVX512-BF16 "
                    "path over the bf16 weights where they lie)")
    ap.add_argument("--umt5-layers", type=int, default=2)
    ap.add_argument("--shapes", default="17x320x512,33x480x832")
    ap.add_argument("--parts", default="dit,umt5,vae")
    ap.add_argument("--vae-all", action="store_true",
                    help="the VAE at every shape (default: the first only)")
    ap.add_argument("--out", default=os.path.join(HERE, "wan-results.json"))
    a = ap.parse_args()
    a.shapes = a.shapes.split(",")
    a.parts = a.parts.split(",")
    a.work = os.path.abspath(a.work)
    a.weights = a.weights or os.path.join(a.work, "wan-weights")
    a.bench = os.path.abspath(a.bench)
    a.load = os.getloadavg()[0]
    if a.sdcpp and not shutil.which(a.sdcpp):
        print(f"sd.cpp {a.sdcpp} not found: skipped", file=sys.stderr)
        a.sdcpp = None
    dit, cut, umt5, vae = weights(a)
    rows, tokens = [], {}
    for rnd in range(a.rounds):
        for shape in a.shapes:
            engines = ["st2v"] + (["sd.cpp"] if a.sdcpp else [])
            if rnd % 2:
                engines.reverse()
            for e in engines:
                print(f"round {rnd + 1}, {shape}: {e}", file=sys.stderr)
                if e == "sd.cpp":
                    log = os.path.join(a.work, f"sdcpp-{shape}-{rnd}.log")
                    r = sdcpp(a, cut, umt5, vae, shape, log,
                              decode="vae" in a.parts and
                              (shape == a.shapes[0] or a.vae_all))
                    for x in r:
                        if x["part"] == "dit_step" and a.layers:
                            x["scale"] = 30 / a.layers
                    rows += r
                    continue
                if "dit" in a.parts:
                    r = st2v(a, "dit", cut, shape, ["-c", a.compute])
                    for x in r:
                        x["scale"] = 30 / a.layers if a.layers else 1.0
                        tokens[shape] = x["tokens"]
                    rows += r
                if "umt5" in a.parts and shape == a.shapes[0]:
                    for n, part in ((512, "umt5"), (24, "umt5_real")):
                        r = st2v(a, "umt5", umt5, shape, ["-n", str(n)])
                        for x in r:
                            x["part"] = part
                        rows += r
                if "vae" in a.parts and (shape == a.shapes[0] or a.vae_all):
                    rows += st2v(a, "vae", vae, shape)
            for r in rows:
                r.setdefault("round", rnd)
    print(table(rows, a, tokens))
    est = clip_estimate(rows)
    if est:
        print(f"\n1 s of 320x512 (17 frames), unipc 20 steps, CFG 5: "
              f"{est['cpu_s']:.0f} CPU s (~{est['wall_2_idle_cores_s']:.0f} s "
              f"on 2 idle cores), DiT {100 * est['dit_share']:.0f} %")
    with open(a.out, "w") as f:
        json.dump({"machine": cpu_name(), "cpus": os.cpu_count(),
                   "threads": a.threads, "load": a.load, "layers": a.layers,
                   "umt5_layers": a.umt5_layers, "rows": rows,
                   "clip_estimate": est}, f, indent=1)
    print(f"\nwrote {os.path.relpath(a.out, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
