#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""soak.py - the long runs of issue 23: an endless st2v stream for a fixed
wall-clock time, its process's memory sampled from /proc, and a verdict.

  tools/soak.py gst    [--seconds 600] [--checker build/bin/st2v-soak-gst]
  tools/soak.py ffmpeg [--seconds 600] [--ffmpeg build/bin/ffmpeg]

gst:    runs the checker (tools/st2v-soak-gst.c): a live
        "st2vsrc is-live=true ! fakesink sync=true" with the prompt changed
        every --prompt-interval seconds, which counts buffers, timestamp
        gaps, DISCONT flags, QoS messages and the element's errors and
        warnings, and prints them as one "summary ..." line at the end.
ffmpeg: runs "ffmpeg -f lavfi -i st2v=...:d=-1 -f rawvideo -" and reads
        the frames from the pipe (counted, then discarded) until the time
        is up, then stops ffmpeg with SIGINT.

Both sample the process's VmRSS every --sample seconds and report it at
one minute, at the end, its maximum, and its spread after the first
minute ((max - min) / min over the samples from 60 s on); the run fails
when that spread exceeds --rss-tolerance percent, and (gst) when a
timestamp gap, an unexpected DISCONT, an error or a warning was seen.
Defaults are a user's: the default model, 128x128, the model's rate, the
threads the library picks. Not a test of speed: the real-time factor is
reported, never asserted. Standard library only.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

PROMPTS = ["snow falling at night", "a red ball bouncing",
           "waves on a beach at dawn", "a city street at night",
           "a candle flame flickering", "clouds drifting over hills"]


def rss_kib(pid):
    """VmRSS of pid in KiB, or None once it has gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """Samples a process's RSS every `every` seconds until stopped."""

    def __init__(self, pid, every, t0):
        super().__init__(daemon=True)
        self.pid, self.every, self.t0 = pid, every, t0
        self.samples = []           # (seconds since t0, KiB)
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            kib = rss_kib(self.pid)
            if kib is None:
                break
            self.samples.append((time.monotonic() - self.t0, kib))
            self.done.wait(self.every)


def rss_report(samples, warmup):
    """The RSS numbers of a run, in MiB."""
    if not samples:
        return {"error": "no RSS sample (the process ended at once)"}
    after = [kib for t, kib in samples if t >= warmup]
    at_warm = next((kib for t, kib in samples if t >= warmup), None)
    r = {"samples": len(samples),
         "rss_first_mib": samples[0][1] / 1024,
         "rss_at_1min_mib": at_warm / 1024 if at_warm else None,
         "rss_end_mib": samples[-1][1] / 1024,
         "rss_max_mib": max(kib for _, kib in samples) / 1024}
    if len(after) >= 2:
        r["rss_min_after_1min_mib"] = min(after) / 1024
        r["rss_max_after_1min_mib"] = max(after) / 1024
        r["rss_spread_after_1min_pct"] = 100.0 * (max(after) - min(after)) / min(after)
        r["rss_end_vs_1min_pct"] = 100.0 * (after[-1] - after[0]) / after[0]
    return r


def rss_timeline(samples, step=60):
    """RSS (MiB) at every full `step` seconds, for the report."""
    out, want = [], 0
    for t, kib in samples:
        if t >= want:
            out.append((int(want), round(kib / 1024, 1)))
            want += step
    if samples:
        out.append((round(samples[-1][0]), round(samples[-1][1] / 1024, 1)))
    return out


def run_gst(args):
    prompts = args.prompt or PROMPTS
    cmd = [args.checker, "-t", str(args.seconds), "-i", str(args.prompt_interval)]
    if args.model:
        cmd += ["-m", args.model]
    cmd += prompts
    env = dict(os.environ)
    if args.plugin_path:
        env["GST_PLUGIN_PATH"] = args.plugin_path
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    except OSError as e:
        sys.exit("soak.py: cannot run %s: %s" % (args.checker, e.strerror))
    sampler = Sampler(p.pid, args.sample, t0)
    sampler.start()
    summary, lines = None, []
    for line in p.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        if line.startswith("summary "):
            summary = dict(kv.split("=", 1) for kv in line.split()[1:])
        elif args.verbose:
            print(line, flush=True)
    rc = p.wait()
    sampler.done.set()
    sampler.join()
    wall = time.monotonic() - t0
    if summary is None:
        sys.exit("soak.py: %s exited with status %d and no summary line" % (args.checker, rc))
    res = {"mode": "gst", "command": " ".join(cmd), "wall_s": round(wall, 1),
           "exit_status": rc}
    for k, v in summary.items():
        try:
            res[k] = float(v) if "." in v else int(v)
        except ValueError:
            res[k] = v
    res.update(rss_report(sampler.samples, args.warmup))
    res["rss_timeline_mib"] = rss_timeline(sampler.samples)
    bad = []
    if rc != 0:
        bad.append("checker exit status %d" % rc)
    for k in ("gaps", "unexplained_gaps", "unexplained_discont", "errors", "warnings"):
        if res.get(k, 0):
            bad.append("%s=%s" % (k, res[k]))
    return res, bad, sampler.samples


def run_ffmpeg(args):
    src = "st2v=prompt='%s':d=-1" % (args.prompt[0] if args.prompt else PROMPTS[0])
    if args.model:
        src += ":model='%s'" % args.model
    if args.size:
        src += ":s=%dx%d" % args.size
    cmd = [args.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
           "-f", "lavfi", "-i", src, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    frame_bytes = (args.size or (128, 128))[0] * (args.size or (128, 128))[1] * 3
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        sys.exit("soak.py: cannot run %s: %s" % (args.ffmpeg, e.strerror))
    sampler = Sampler(p.pid, args.sample, t0)
    sampler.start()
    stop_at = t0 + args.seconds
    got, per_min, first_frame_s = 0, [], None
    err_chunks = []
    threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True).start()
    stopped = False
    while True:
        b = p.stdout.read1(1 << 16)
        if not b:
            break
        if first_frame_s is None:
            first_frame_s = time.monotonic() - t0
        got += len(b)
        now = time.monotonic()
        while len(per_min) < int((now - t0) // 60):
            per_min.append(got // frame_bytes)
        if not stopped and now >= stop_at:
            p.send_signal(signal.SIGINT)    # ffmpeg finishes cleanly
            stopped = True
    rc = p.wait()
    sampler.done.set()
    sampler.join()
    wall = time.monotonic() - t0
    frames = got // frame_bytes
    err = b"".join(c for c in err_chunks if c).decode(errors="replace").strip()
    res = {"mode": "ffmpeg", "command": " ".join(cmd), "wall_s": round(wall, 1),
           "exit_status": rc, "frames": frames, "leftover_bytes": got % frame_bytes,
           "first_frame_s": round(first_frame_s or 0, 2),
           "frames_per_minute": [b - a for a, b in zip([0] + per_min, per_min)],
           "speed_x_realtime": round(frames / args.rate / wall, 3) if wall else 0}
    res.update(rss_report(sampler.samples, args.warmup))
    res["rss_timeline_mib"] = rss_timeline(sampler.samples)
    bad = []
    # SIGINT: ffmpeg 5.1 exits 255 after "Exiting normally, received signal 2"
    if not stopped or rc not in (0, 255):
        bad.append("ffmpeg exit status %d before the time was up: %s" % (rc, err[-300:]))
    if got % frame_bytes:
        bad.append("a partial frame (%d bytes) at the end" % (got % frame_bytes))
    if frames == 0:
        bad.append("no frame")
    return res, bad, sampler.samples


def size_arg(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("not WxH: %r" % text)
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError("not a size: %r" % text)
    return w, h


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["gst", "ffmpeg"])
    ap.add_argument("--seconds", type=int, default=600, help="wall-clock length (600)")
    ap.add_argument("--prompt-interval", type=int, default=5,
                    help="gst: seconds between prompt changes (5)")
    ap.add_argument("--prompt", action="append", help="prompt(s) (a built-in list)")
    ap.add_argument("--model", help="a model (the default model)")
    ap.add_argument("--checker", default="build/bin/st2v-soak-gst")
    ap.add_argument("--plugin-path", help="GST_PLUGIN_PATH for the checker")
    ap.add_argument("--ffmpeg", default="build/bin/ffmpeg")
    ap.add_argument("--size", type=size_arg,
                    help="ffmpeg: WxH, passed to the filter as s= (none: the "
                    "default model's 128x128, which frames are counted in)")
    ap.add_argument("--rate", type=float, default=16.0, help="ffmpeg: the stream's frame rate (16)")
    ap.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples (2)")
    ap.add_argument("--warmup", type=float, default=60.0,
                    help="seconds before the RSS spread is measured (60)")
    ap.add_argument("--rss-tolerance", type=float, default=5.0,
                    help="largest RSS spread after the warm-up, in percent (5)")
    ap.add_argument("--json", help="write the results and the RSS samples here")
    ap.add_argument("-v", "--verbose", action="store_true", help="gst: echo the checker's lines")
    args = ap.parse_args()
    if args.seconds <= 0 or args.prompt_interval <= 0 or args.sample <= 0:
        ap.error("--seconds, --prompt-interval and --sample must be positive")

    res, bad, samples = (run_gst if args.mode == "gst" else run_ffmpeg)(args)
    spread = res.get("rss_spread_after_1min_pct")
    if spread is None:
        if args.seconds > args.warmup:
            bad.append("too few RSS samples after the warm-up")
    elif spread > args.rss_tolerance:
        bad.append("RSS spread %.2f %% after the first minute > %.1f %%"
                   % (spread, args.rss_tolerance))
    res["verdict"] = "FAIL: " + "; ".join(bad) if bad else "pass"
    for k, v in res.items():
        if isinstance(v, float):
            v = round(v, 3)
        print("%-28s %s" % (k, v))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(res, rss_samples_kib=samples), f, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
