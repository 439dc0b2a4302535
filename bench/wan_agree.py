# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench/wan_agree.py - Wan2.1 at full size, st2v against
stable-diffusion.cpp as an independent engine: the same weights, noise,
prompt ids, one step, compared on the decoded 8-bit frames.

    ST2V_PARTS=BUILD/bin/st2v-parts WORK=DIR /usr/bin/python3 bench/wan_agree.py \
        FRAMES H W DIT UMT5 VAE [path/to/sd-cli [sd-cli options]]

sd.cpp: `-M vid_gen --cfg-scale 1 --steps 1 --sampling-method euler --rng
cpu -s 42 -p "a b c"`: its "cpu" RNG is PyTorch's CPU randn, so the noise
is torch.manual_seed(42); torch.randn(1, 16, F, H/8, W/8); one Euler step
of the flow from sigma 1 to 0 is x0 = noise - v(noise, t = 1000); UMT5 is
a file in Hugging Face's names (bench/wan.py writes one) and "a b c" the
ids [6, 8, 10, </s>] of the stub vocabulary docs/performance.md describes.
st2v: st2v-parts umt5 -> dit -> x0 -> vae --u8 on the same. Without
sd-cli only st2v's side runs (WORK/ours.npy); SKIP_ST2V=1 reuses it.
Prints the |difference| of the frames (st2v truncates to 8 bits as Wan
saves video; sd.cpp rounds: a difference of 0.5 on average is that) and
two controls (misaligned frames). Standard library, numpy and torch.
"""
import glob
import json
import os
import subprocess
import sys
import numpy as np, torch
class sio:
    DT = {"F32": np.float32, "I32": np.int32, "U8": np.uint8}
    @staticmethod
    def save(path, t):
        h, off, blobs = {}, 0, []
        for k in sorted(t):
            a = np.ascontiguousarray(t[k])
            dt = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8"}[a.dtype]
            b = a.astype(a.dtype.newbyteorder("<")).tobytes()
            h[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
            blobs.append(b); off += len(b)
        hb = json.dumps(h).encode(); hb += b" " * ((-len(hb)) % 8)
        with open(path, "wb") as f:
            f.write(len(hb).to_bytes(8, "little") + hb)
            for b in blobs: f.write(b)
    @staticmethod
    def load(path):
        d = open(path, "rb").read()
        n = int.from_bytes(d[:8], "little"); h = json.loads(d[8:8 + n])
        out = {}
        for k, v in h.items():
            if k == "__metadata__": continue
            b, e = v["data_offsets"]
            out[k] = np.frombuffer(d[8 + n + b:8 + n + e], sio.DT[v["dtype"]]).reshape(v["shape"])
        return out
D = os.environ.get("WORK", "build/wan-agree")
PARTS = os.environ.get("ST2V_PARTS", "build/bin/st2v-parts")
os.makedirs(D, exist_ok=True)
frames, H, W = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dit, umt5, vae = sys.argv[4], sys.argv[5], sys.argv[6]
F = 1 + (frames - 1) // 4
torch.manual_seed(42)
noise = torch.randn(1, 16, F, H // 8, W // 8).numpy()[0]
ids = np.array([6, 8, 10, 1], np.int32)   # "a b c" in the stub vocab + </s>
sio.save(f"{D}/ids.safetensors", {"ids": ids, "mask": np.ones(4, np.int32)})
def run(args):
    subprocess.run(["nice", "-n", "10", PARTS] + args, check=True)
SKIP = os.environ.get("SKIP_ST2V")
if not SKIP:
  run(["umt5", "--weights", umt5, "--ids", f"{D}/ids.safetensors", "-t", "2", "-o", f"{D}/ctx.safetensors"])
  ctx = sio.load(f"{D}/ctx.safetensors")["context"]
  sio.save(f"{D}/dit_in.safetensors", {"x": noise.astype(np.float32), "t": np.array([1000.0], np.float32), "context": ctx})
  run(["dit", "--weights", dit, "--inputs", f"{D}/dit_in.safetensors", "-t", "2", "-o", f"{D}/v.safetensors"])
  v = sio.load(f"{D}/v.safetensors")["velocity"]
  x0 = (noise - v).astype(np.float32)
  sio.save(f"{D}/x0.safetensors", {"latent": x0})
  run(["vae", "--weights", vae, "--latent", f"{D}/x0.safetensors", "-t", "2", "--u8", "-o", f"{D}/video.safetensors"])
  ours = sio.load(f"{D}/video.safetensors")["video"]  # (3, T, H, W) u8
  print("st2v video", ours.shape, ours.dtype)
  np.save(f"{D}/ours.npy", ours)

ours = np.load(f"{D}/ours.npy")
if len(sys.argv) < 8:
    sys.exit(0)
# ---- sd.cpp, same weights, noise (--rng cpu = torch.randn), prompt, 1 step
import zlib, struct
def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            ch = {2: 3, 6: 4, 0: 1}[ctype]
            assert depth == 8
        elif typ == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if f == 0: p = 0
            elif f == 1: p = a
            elif f == 2: p = b
            elif f == 3: p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, ch)[:, :, :3]

sd = sys.argv[7]
od = f"{D}/sd"
os.makedirs(od, exist_ok=True)
for f_ in glob.glob(f"{od}/*.png"):
    os.remove(f_)
cmd = ["nice", "-n", "10", sd, "-M", "vid_gen", "--diffusion-model", dit, "--vae", vae,
       "--t5xxl", umt5, "-p", "a b c", "--cfg-scale", "1", "--steps", "1",
       "--sampling-method", "euler", "-W", str(W), "-H", str(H), "--video-frames", str(frames),
       "-t", "2", "--rng", "cpu", "-s", "42", "-v", "-o", f"{od}/f_%03d.png"] + sys.argv[8:]
with open(f"{D}/sd.log", "w") as lg:
    subprocess.run(cmd, stdout=lg, stderr=subprocess.STDOUT, check=True)
pngs = sorted(glob.glob(f"{od}/*.png"))
theirs = np.stack([read_png(p) for p in pngs])      # (T, H, W, 3)
ours_t = ours.transpose(1, 2, 3, 0).astype(np.int32)  # (T, H, W, 3)
print("sd.cpp frames", theirs.shape, "st2v", ours_t.shape)
T = min(len(theirs), len(ours_t))
d = np.abs(theirs[:T] - ours_t[:T])
print("u8 |diff|: max %d, mean %.3f, p99 %.1f, share > 2: %.4f; per frame mean %s" % (
    d.max(), d.mean(), np.percentile(d, 99), (d > 2).mean(),
    [round(float(d[i].mean()), 3) for i in range(T)]))
print("share |diff| = 0, 1, 2: %.3f %.3f %.4f; controls (st2v frame i vs "
      "sd.cpp frame i+1, vs sd.cpp flipped): mean |diff| %.1f, %.1f" % (
    (d == 0).mean(), (d == 1).mean(), (d == 2).mean(),
    np.abs(theirs[1:T] - ours_t[:T - 1]).mean(),
    np.abs(theirs[:T, ::-1] - ours_t[:T]).mean()))
print("st2v frame stats: mean %.1f std %.1f; sd.cpp mean %.1f std %.1f" % (
    ours_t.mean(), ours_t.std(), theirs.mean(), theirs.std()))
