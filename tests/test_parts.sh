#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test_parts.sh - st2v-parts (tools/st2v-parts.c) end to end on the tiny Wan
# fixtures: `tokenize` against the sentencepiece goldens of
# tests/fixtures/wan/spm/cases.json (Wan's cleaning, EOS, padding) from
# spiece.model, and the same ids from a ComfyUI-style safetensors carrying
# spiece_model and from tokenizer.json;
# `umt5` against the PyTorch goldens of tests/fixtures/wan/umt5 (F32, BF16,
# mixed and scaled-fp8 weights) to 1e-4; `dit` against the goldens of
# tests/fixtures/wan/dit (F32, BF16, the CFG pair) to 1e-4; `vae` against
# tests/fixtures/wan/vae (before and after the clamp, uint8); and the refusal
# of bad input with one line on stderr, a non-zero status and no output
# file.
#
#   tests/test_parts.sh          (from the repository root; B=build-dir)
#
# Prints one `ok`/`FAIL` line per check and "N passed, N failed".

set -u

BIN=${ST2V_PARTS:-${B:-build}/bin/st2v-parts}
FIX=${ST2V_FIXTURES:-tests/fixtures}
PY=${PY:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$(dirname "$0")/shell_util.sh"
scratch_dir parts

if [ ! -x "$BIN" ]; then
    echo "FAIL st2v-parts binary $BIN not found (set B or ST2V_PARTS)"
    echo "0 passed, 1 failed"
    exit 1
fi

# The numpy side: safetensors in and out, the goldens.
cat >"$TMP/st.py" <<'EOF'
import json, struct, sys
import numpy as np

DT = {"F32": "<f4", "F16": "<f2", "I32": "<i4", "U8": "u1",
      "BF16": "<u2"}                # BF16: the raw bits

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    d = b[8 + n:]
    return {k: np.frombuffer(d[v["data_offsets"][0]:v["data_offsets"][1]],
                             DT[v["dtype"]]).reshape(v["shape"])
            for k, v in h.items()}

def save(path, tensors):
    h, blobs, off = {}, [], 0
    for k in sorted(tensors):
        dt, a = tensors[k]
        raw = np.ascontiguousarray(a, DT[dt]).tobytes()
        h[k] = {"dtype": dt, "shape": list(np.shape(a)), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(h).encode()
    hb += b" " * (-len(hb) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))

def report(ok, name):
    print(("PASS " if ok else "FAIL ") + name)

cmd, T = sys.argv[1], sys.argv[2]
if cmd == "prepare":                # FIX: every input, and a plan for the shell
    fix = sys.argv[3]
    cases = json.load(open(fix + "/wan/spm/cases.json"))["wan"]
    plan = open(T + "/plan.txt", "w")
    for i, c in enumerate(cases):
        raw = bytes.fromhex(c["hex"])
        if b"\0" not in raw:
            open("%s/case%d.txt" % (T, i), "wb").write(raw)
            plan.write("tok %d %s %d\n" % (i, c["model"], c["len"]))
    model = np.frombuffer(open(fix + "/wan/spm/nfkc.model", "rb").read(), np.uint8)
    save(T + "/comfy.safetensors", {"spiece_model": ("U8", model),
                                    "shared.weight": ("F32", np.zeros((2, 3), np.float32))})
    g = load(fix + "/wan/umt5/golden.safetensors")
    for name in ("a_f32", "a_bf16", "b_f32", "b_mixed", "a_fp8"):
        for b in (0, 1):
            ids = g[name + ".ids"][b].astype(np.int32)
            n = int(g[name + ".lens"][b])
            save("%s/in_%s_%d.st" % (T, name, b),
                 {"ids": ("I32", ids), "mask": ("I32", (np.arange(len(ids)) < n).astype(np.int32))})
            plan.write("umt5 %s %d %d\n" % (name, b, 20 if name[0] == "b" else 128))
    i3 = np.array([5, 6, 1], np.int32)
    bad = {"vocab": {"ids": ("I32", np.array([5, 300, 1], np.int32))},
           "mask-gap": {"ids": ("I32", i3), "mask": ("I32", np.array([1, 0, 1], np.int32))},
           "f32-ids": {"ids": ("F32", i3.astype(np.float32))},
           "no-ids": {"tokens": ("I32", i3)},
           "empty-mask": {"ids": ("I32", i3), "mask": ("I32", np.zeros(3, np.int32))},
           "two-masks": {"ids": ("I32", i3), "mask": ("I32", np.array([1, 2, 0], np.int32))}}
    for k, v in bad.items():
        save("%s/bad_%s.st" % (T, k), v)
        plan.write("bad %s\n" % k)
elif cmd == "verify":               # FIX: every output against its golden
    fix = sys.argv[3]
    cases = json.load(open(fix + "/wan/spm/cases.json"))["wan"]
    bad, n_cases = [], 0
    for i, c in enumerate(cases):
        if b"\0" in bytes.fromhex(c["hex"]):
            continue
        n_cases += 1
        try:
            t = load("%s/ids%d.st" % (T, i))
            want = np.array(c["ids"], np.int32)
            mask = (np.arange(len(want)) < c["n"]).astype(np.int32)
            if not (t["ids"].shape == want.shape and (t["ids"] == want).all()
                    and (t["mask"] == mask).all()):
                bad.append(i)
        except (OSError, KeyError, ValueError):
            bad.append(i)
    report(n_cases >= 10 and not bad,
           "tokenize: Wan's ids and mask for %d golden cases (differ: %s)" % (n_cases, bad))
    for other, what in (("b", "the spiece_model inside a ComfyUI file"),
                        ("c", "tokenizer.json")):
        try:
            a, b = load(T + "/a.st"), load(T + "/%s.st" % other)
            same = a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
        except (OSError, KeyError, ValueError):
            same = False
        report(same, "tokenize: %s gives the ids of spiece.model" % what)
    g = load(fix + "/wan/umt5/golden.safetensors")
    for name in ("a_f32", "a_bf16", "b_f32", "b_mixed", "a_fp8"):
        for b in (0, 1):
            n = int(g[name + ".lens"][b])
            want = g[name + ".out"][b, :n].astype(np.float64)
            try:
                got = load("%s/ctx_%s_%d.st" % (T, name, b))["context"].astype(np.float64)
                err = (np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
                       if got.shape == want.shape else float("inf"))
            except (OSError, KeyError, ValueError):
                err = float("inf")
            print("     golden st2v-parts umt5 %-8s %d  max rel err %.3g" % (name, b, err))
            report(err <= 1e-4, "umt5 %s prompt %d matches the reference to 1e-4" % (name, b))
EOF

# refused CMD...: non-zero status, exactly one line on stderr, no $TMP/out.st
refused() {
    rm -f "$TMP/out.st"
    "$BIN" "$@" -o "$TMP/out.st" >"$TMP/stdout" 2>"$TMP/stderr"
    local rc=$?
    [ "$rc" -ne 0 ] && [ "$(wc -l <"$TMP/stderr")" -eq 1 ] &&
        [ ! -s "$TMP/stdout" ] && [ ! -e "$TMP/out.st" ]
}

# ------------------------------------------------------------ --help
"$BIN" --help >"$TMP/help" 2>&1
check "--help exits 0 and names both commands" \
    grep -q "st2v-parts umt5 --weights" "$TMP/help"
"$BIN" >/dev/null 2>"$TMP/stderr"
rc=$?
check "no command: status 2 and one line" \
    test "$rc" -eq 2 -a "$(wc -l <"$TMP/stderr")" -eq 1

# ---------------------------------------------------------- tokenize
"$PY" "$TMP/st.py" prepare "$TMP" "$FIX"
while read -r kind a b c; do
    case $kind in
    tok)
        "$BIN" tokenize --tokenizer "$FIX/wan/spm/$b.model" \
            --prompt-file "$TMP/case$a.txt" --len "$c" -o "$TMP/ids$a.st" ;;
    umt5)
        "$BIN" umt5 --weights "$FIX/wan/umt5/$a.safetensors" \
            --ids "$TMP/in_${a}_$b.st" --max-dist "$c" -t 2 -o "$TMP/ctx_${a}_$b.st" ;;
    bad)
        check "umt5: bad ids ($a) are refused" \
            refused umt5 --weights "$FIX/wan/umt5/a_f32.safetensors" --ids "$TMP/bad_$a.st" ;;
    esac
done <"$TMP/plan.txt"

P="ＡＢＣ，červená   &amp; 🎈"
"$BIN" tokenize --tokenizer "$FIX/wan/spm/nfkc.model" --prompt "$P" --len 24 -o "$TMP/a.st"
"$BIN" tokenize --tokenizer "$TMP/comfy.safetensors" --prompt "$P" --len 24 -o "$TMP/b.st"
"$BIN" tokenize --tokenizer "$FIX/wan/spm/nfkc.json" --prompt "$P" --len 24 -o "$TMP/c.st"

"$PY" "$TMP/st.py" verify "$TMP" "$FIX" >"$TMP/verify.txt"
while read -r word rest; do
    case $word in
    PASS) ok "$rest" ;;
    FAIL) fail "$rest" ;;
    *) echo "$word $rest" ;;
    esac
done <"$TMP/verify.txt"
grep -q "^PASS umt5 a_fp8 prompt 1" "$TMP/verify.txt" ||
    fail "the verification ran to its end"

check "tokenize: a missing tokenizer is refused" \
    refused tokenize --tokenizer "$TMP/none.model" --prompt x
head -c 100 "$FIX/wan/spm/nfkc.model" >"$TMP/cut.model"
check "tokenize: a truncated spiece.model is refused" \
    refused tokenize --tokenizer "$TMP/cut.model" --prompt x
check "tokenize: --len 0 is refused" \
    refused tokenize --tokenizer "$FIX/wan/spm/nfkc.model" --prompt x --len 0
check "tokenize: --prompt and --prompt-file together are refused" \
    refused tokenize --tokenizer "$FIX/wan/spm/nfkc.model" --prompt x \
    --prompt-file "$TMP/case0.txt"

# -------------------------------------------------------------- umt5
W=$FIX/wan/umt5/a_f32.safetensors
IN=$TMP/in_a_f32_0.st
head -c 5000 "$W" >"$TMP/cut.safetensors"
check "umt5: truncated weights are refused" \
    refused umt5 --weights "$TMP/cut.safetensors" --ids "$IN"
check "umt5: a tokenizer file as weights is refused" \
    refused umt5 --weights "$FIX/wan/spm/nfkc.model" --ids "$IN"
check "umt5: an unknown option is refused" \
    refused umt5 --weights "$W" --ids "$IN" --bogus 1
check "umt5: a max-dist below the exact buckets is refused" \
    refused umt5 --weights "$W" --ids "$IN" --max-dist 2

# --------------------------------------------------------------- dit
# the goldens of tests/fixtures/wan/dit: F32 and BF16 weights, a file without
# padding (n = text_len) and the CFG pair (context_neg) in one call
cat >"$TMP/dit.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from st import load, save
cmd, T, fix = sys.argv[2], sys.argv[3], sys.argv[4]
g = load(fix + "/wan/dit/golden.safetensors")
cases = {"a_f32": ("a_f32", None), "a_bf16": ("a_bf16", None), "b_f32": ("b_f32", "b_cfg")}
for case, (w, neg) in cases.items():
    if cmd == "prepare":
        t = {"x": ("F32", g[case + ".x"]), "t": ("F32", g[case + ".t"]),
             "context": ("F32", g[case + ".context"])}
        if neg:
            t["context_neg"] = ("F32", g[neg + ".context"])
        save("%s/dit_in_%s.st" % (T, case), t)
        continue
    for out, c in (("velocity", case), ("velocity_neg", neg)):
        if c is None:
            continue
        want = g[c + ".out"].astype(np.float64)
        try:
            got = load("%s/dit_out_%s.st" % (T, case))[out].astype(np.float64)
            err = np.abs(got - want).max() / np.abs(want).max() if got.shape == want.shape else np.inf
        except (OSError, KeyError, ValueError):
            err = np.inf
        print("     golden st2v-parts dit %-8s %-12s max rel err %.3g" % (case, out, err))
        print(("PASS " if err <= 1e-4 else "FAIL ") + "dit %s %s matches the reference to 1e-4" % (case, out))
EOF
"$PY" "$TMP/dit.py" "$TMP" prepare "$TMP" "$FIX"
for c in a_f32 a_bf16 b_f32; do
    w=$c
    [ "$c" = a_bf16 ] || w=${c%_*}_f32
    "$BIN" dit --weights "$FIX/wan/dit/$w.safetensors" --inputs "$TMP/dit_in_$c.st" \
        -t 2 -o "$TMP/dit_out_$c.st"
done
"$PY" "$TMP/dit.py" "$TMP" verify "$TMP" "$FIX" >"$TMP/dit_verify.txt"
while read -r word rest; do
    case $word in
    PASS) ok "$rest" ;;
    FAIL) fail "$rest" ;;
    *) echo "$word $rest" ;;
    esac
done <"$TMP/dit_verify.txt"
grep -q "^PASS dit b_f32 velocity_neg" "$TMP/dit_verify.txt" ||
    fail "dit: the verification ran to its end"
DW=$FIX/wan/dit/a_f32.safetensors
check "dit: weights of another part are refused" \
    refused dit --weights "$FIX/wan/umt5/a_f32.safetensors" --inputs "$TMP/dit_in_a_f32.st"
check "dit: a latent of the wrong channels is refused" \
    refused dit --weights "$FIX/wan/dit/b_f32.safetensors" --inputs "$TMP/dit_in_a_f32.st"
check "dit: inputs without x are refused" \
    refused dit --weights "$DW" --inputs "$FIX/wan/dit/a_f32.safetensors"
check "dit: --heads that do not divide the width are refused" \
    refused dit --weights "$DW" --inputs "$TMP/dit_in_a_f32.st" --heads 3

# --------------------------------------------------------------- vae
# the goldens of tests/fixtures/wan/vae: 4 latent frames decoded as a stream,
# before the clamp (--raw), clamped, and as uint8 (--u8: at most one step
# off, on fewer than 1 in 1000 values, where truncation meets rounding)
cat >"$TMP/vae.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from st import load, save
cmd, T, fix = sys.argv[2], sys.argv[3], sys.argv[4]
g = load(fix + "/wan/vae/golden.safetensors")
if cmd == "prepare":
    save(T + "/vae_in.st", {"latent": ("F32", g["z"])})
    save(T + "/vae_in8.st", {"latent": ("F32", g["z"][:8])})
    sys.exit(0)
for out, key, tol in (("raw", "out", 1e-4), ("clamped", "clamped", 1e-4), ("u8", "u8", 1)):
    want = g[key].astype(np.float64)
    try:
        got = load("%s/vae_%s.st" % (T, out))["video"].astype(np.float64)
        if got.shape != want.shape:
            err = np.inf
        elif tol == 1:
            d = np.abs(got - want)
            err = d.max() if (d > 0).mean() < 1e-3 else np.inf
        else:
            err = np.abs(got - want).max() / np.abs(want).max()
    except (OSError, KeyError, ValueError):
        err = np.inf
    print("     golden st2v-parts vae %-8s max err %.3g" % (out, err))
    print(("PASS " if err <= tol else "FAIL ") + "vae %s matches the reference (%g)" % (out, tol))
EOF
"$PY" "$TMP/vae.py" "$TMP" prepare "$TMP" "$FIX"
VW=$FIX/wan/vae/f32.safetensors
"$BIN" vae --weights "$VW" --latent "$TMP/vae_in.st" --raw -t 2 -o "$TMP/vae_raw.st"
"$BIN" vae --weights "$VW" --latent "$TMP/vae_in.st" -o "$TMP/vae_clamped.st"
"$BIN" vae --weights "$VW" --latent "$TMP/vae_in.st" --u8 -t 3 -o "$TMP/vae_u8.st"
"$PY" "$TMP/vae.py" "$TMP" verify "$TMP" "$FIX" >"$TMP/vae_verify.txt"
while read -r word rest; do
    case $word in
    PASS) ok "$rest" ;;
    FAIL) fail "$rest" ;;
    *) echo "$word $rest" ;;
    esac
done <"$TMP/vae_verify.txt"
grep -q "^PASS vae u8" "$TMP/vae_verify.txt" ||
    fail "vae: the verification ran to its end"
check "vae: weights of another part are refused" \
    refused vae --weights "$FIX/wan/umt5/a_f32.safetensors" --latent "$TMP/vae_in.st"
check "vae: a latent of 8 channels is refused" \
    refused vae --weights "$VW" --latent "$TMP/vae_in8.st"
check "vae: inputs without latent are refused" \
    refused vae --weights "$VW" --latent "$VW"
check "vae: --raw with --u8 is refused" \
    refused vae --weights "$VW" --latent "$TMP/vae_in.st" --raw --u8

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
