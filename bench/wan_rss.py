# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/wan_rss.py - the peak RSS of the whole Wan pipeline (the st2v
CLI) over the duration, on full-size random weights.

    wan_rss.py [--st2v BUILD/bin/st2v] [--dir /var/tmp/wan-full]
               [--dit FILE] [--vae FILE] [--sizes 128x80,256x160]
               [--durations 5,20] [--threads 2] [--out /var/tmp]

--dir is filled once (never inside the repository: 3 GB of umT5):
  diffusion_pytorch_model.safetensors  -> --dit, the 1.3B DiT in BF16
                                          (train/wan/dit.py --full)
  Wan2.1_VAE.safetensors               -> --vae, the VAE in F32
                                          (train/wan/vae.py --full)
  config.json                          the 1.3B config (WAN-NOTES.md)
  umt5-L2.safetensors                  umT5-XXL's real width and 256k x
                                       4096 embedding, 2 blocks (bench/
                                       wan.py's write_umt5; BF16, 2.9 GB)
  google/umt5-xxl/spiece.model         -> the tiny fixture's tokenizer
                                          (its ids fit the embedding)

Then for each size and duration: `st2v --steps 1 --cfg 1` (one DiT
forward per window; the step count does not change the memory) under
`/usr/bin/time -v` (Maximum resident set size), with VmRSS, VmHWM,
RssAnon and RssFile of the st2v process sampled from /proc/PID/status
every second and at each "chunk N generated" line of its log (the end of
a window: sampled and decoded), into OUT/wan-rss-SIZE-dD.log (and
.json). Prints a Markdown table. A measurement, never a test. Standard
library only.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NICE = ["nice", "-n", str(max(0, 10 - os.nice(0)))]
PROMPT = "snow falling on a pine forest at night"

CONFIG_1_3B = {  # Wan2.1-T2V-1.3B (wan/configs/wan_t2v_1_3B.py)
    "_class_name": "WanModel", "model_type": "t2v", "dim": 1536,
    "ffn_dim": 8960, "num_layers": 30, "num_heads": 12, "text_len": 512,
    "text_dim": 4096, "in_dim": 16, "out_dim": 16, "freq_dim": 256,
    "patch_size": [1, 2, 2], "eps": 1e-06,
}


def link(src, dst):
    src = os.path.abspath(src)
    if os.path.islink(dst) and os.readlink(dst) == src:
        return
    if os.path.lexists(dst):
        os.remove(dst)
    os.symlink(src, dst)


def assemble(a):
    d = a.dir
    os.makedirs(os.path.join(d, "google", "umt5-xxl"), exist_ok=True)
    for f in (a.dit, a.vae):
        if not os.path.exists(f):
            sys.exit(f"wan_rss.py: {f} is missing (train/wan/dit.py --full, "
                     "train/wan/vae.py --full write it)")
    link(a.dit, os.path.join(d, "diffusion_pytorch_model.safetensors"))
    link(a.vae, os.path.join(d, "Wan2.1_VAE.safetensors"))
    link(os.path.join(ROOT, "tests/fixtures/wan/tiny/google/umt5-xxl/"
                      "spiece.model"),
         os.path.join(d, "google", "umt5-xxl", "spiece.model"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(CONFIG_1_3B, f, indent=1)
    umt5 = os.path.join(d, "umt5-L2.safetensors")
    if not os.path.exists(umt5):
        print(f"writing {umt5} (bench/wan.py write_umt5, 2 blocks)",
              file=sys.stderr)
        subprocess.run(NICE + [sys.executable, os.path.join(HERE, "wan.py"),
                               "--write-umt5", umt5, "2"], check=True)


FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def status_kb(pid):
    """VmRSS, VmHWM, RssAnon (heap: caches, activations, widened
    weights), RssFile (mapped weights touched) in kB of a live process,
    or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            s = f.read()
        return tuple(int(re.search(k + r":\s+(\d+)", s).group(1))
                     for k in FIELDS)
    except (OSError, AttributeError):
        return None


def child_of(pid, timeout=10.0):
    """The first child of pid (time -v forks st2v), waited for."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            return None
        time.sleep(0.05)
    return None


def run(a, size, dur):
    w, h = (int(x) for x in size.split("x"))
    out = os.path.join(a.out, f"wan-rss-{size}-d{dur}.y4m")
    log_path = os.path.join(a.out, f"wan-rss-{size}-d{dur}.log")
    cmd = NICE + ["/usr/bin/time", "-v", a.st2v, "-m", a.dir, "-p", PROMPT,
                  "-s", "1", "--steps", "1", "--cfg", "1", "-t",
                  str(a.threads), "--size", size, "-d", str(dur), "-o", out,
                  "-v"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    pid = child_of(p.pid)
    log = open(log_path, "w")
    log.write("# " + " ".join(cmd) + "\n# t_s " +
              " ".join(k + "_MiB" for k in FIELDS) + " [event]\n")
    lock = threading.Lock()
    chunks, lines, done = [], [], threading.Event()

    def note(event=""):
        s = status_kb(pid) if pid else None
        if s is None:
            return None
        with lock:
            log.write(f"{time.time() - t0:8.1f} " +
                      " ".join(f"{v / 1024:8.1f}" for v in s) + f" {event}\n")
            log.flush()
        return s

    def sample():
        while not done.wait(1.0):
            note()

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    for line in p.stderr:
        lines.append(line)
        line = line.rstrip("\n")
        if re.search(r"chunk \d+ generated", line):
            s = note(line)
            if s:
                chunks.append(s)
        elif line.startswith("st2v"):
            note(line)
    p.wait()
    done.set()
    th.join()
    log.close()
    wall = time.time() - t0
    text = "".join(lines)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    cpu = sum(float(x) for x in re.findall(
        r"(?:User|System) time \(seconds\): ([\d.]+)", text))
    if p.returncode != 0 or not m:
        sys.exit(f"wan_rss.py: st2v failed ({p.returncode}):\n{text[-2000:]}")
    # y4m: the header line, then per frame "FRAME\n" + 4:2:0 planes
    size_b = os.path.getsize(out)
    with open(out, "rb") as f:
        header = len(f.readline())
    frames = (size_b - header) / (6 + w * h * 3 // 2)
    r = {"size": size, "duration": dur, "frames": frames,
            "peak_mib": int(m.group(1)) / 1024, "chunks_mib":
            [[v / 1024 for v in c] for c in chunks], "wall_s": wall,
            "cpu_s": cpu,
            "log": log_path, "out": out}
    with open(log_path[:-4] + ".json", "w") as f:
        json.dump(r, f, indent=1)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--st2v", default=os.path.join(ROOT, "build/bin/st2v"))
    ap.add_argument("--dir", default="/var/tmp/wan-full")
    ap.add_argument("--dit", default="/var/tmp/wan_dit_1_3b_bf16.safetensors")
    ap.add_argument("--vae", default="/var/tmp/wan_vae_full_f32.safetensors")
    ap.add_argument("--sizes", default="128x80")
    ap.add_argument("--durations", default="5,20")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/var/tmp")
    a = ap.parse_args()
    if os.path.realpath(a.dir).startswith(os.path.realpath(ROOT) + os.sep):
        sys.exit("wan_rss.py: --dir must be outside the repository")
    assemble(a)
    rows = []
    print("| size | duration | frames | peak RSS (MiB) | RSS at the end of "
          "each window (MiB) | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for size in a.sizes.split(","):
        for dur in a.durations.split(","):
            r = run(a, size, int(dur))
            rows.append(r)
            print(f"| {size} | {dur} s | {r['frames']:g} | "
                  f"{r['peak_mib']:.0f} | "
                  f"{', '.join(f'{c[0]:.0f}' for c in r['chunks_mib'])} | "
                  f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
