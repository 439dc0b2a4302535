#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test_cli.sh - the st2v command end to end on the tiny model: frame
# counts, sizes, stdout, reproducibility, the YUV4MPEG2 header, and the
# refusal of every bad option with one line on stderr, a non-zero status
# and no output file left behind.
#
#   tests/test_cli.sh            (from the repository root)
#   ST2V_BIN=path/to/st2v tests/test_cli.sh
#
# Prints one `ok`/`FAIL` line per check and "N passed, N failed"; exits
# non-zero when anything failed.

set -u

BIN=${ST2V_BIN:-build/bin/st2v}
FIX=${ST2V_FIXTURES:-tests/fixtures}
MODEL=$FIX/tiny.safetensors
PY=${PY:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3

. "$(dirname "$0")/shell_util.sh"
scratch_dir cli

if [ ! -x "$BIN" ]; then
    echo "FAIL st2v binary $BIN not found (set ST2V_BIN)"
    echo "0 passed, 1 failed"
    exit 1
fi
# absolute, since some checks run from a scratch directory
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# Parse a y4m file: prints "W H F FRAMES" and fails on any malformed byte.
y4m_info() {
    "$PY" - "$1" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read() if sys.argv[1] != "-" else sys.stdin.buffer.read()
end = data.index(b"\n")
head = data[:end].split(b" ")
assert head[0] == b"YUV4MPEG2", head
tags = {t[:1]: t[1:] for t in head[1:]}
w, h = int(tags[b"W"]), int(tags[b"H"])
assert tags[b"C"] == b"420jpeg" and tags[b"I"] == b"p" and tags[b"A"] == b"1:1", tags
size = w * h + 2 * (w // 2) * (h // 2)
pos, n = end + 1, 0
while pos < len(data):
    assert data[pos:pos + 6] == b"FRAME\n", "bad frame header at %d" % pos
    pos += 6 + size
    n += 1
assert pos == len(data), "truncated frame"
print(w, h, tags[b"F"].decode(), n)
EOF
}

# run_ok NAME EXPECTED-INFO ARGS... : st2v must succeed and write EXPECTED.
run_ok() {
    local name=$1 want=$2
    shift 2
    local out=$TMP/ok.y4m
    rm -f "$out"
    if ! "$BIN" -q -m "$MODEL" --steps 1 "$@" -o "$out" 2>"$TMP/err"; then
        fail "$name" "exit status $?: $(head -c 300 "$TMP/err")"
        return
    fi
    local got
    got=$(y4m_info "$out" 2>&1)
    if [ "$got" = "$want" ]; then ok "$name"; else fail "$name" "got '$got', want '$want'"; fi
}

# ---------------------------------------------------------------- output

run_ok "one second at native fps is 16 frames" "32 32 16:1 16" -p "a red ball" -s 1 -d 1
run_ok "two seconds at 8 fps is 16 frames" "32 32 8:1 16" -p "a red ball" -s 1 -d 2 --fps 8
run_ok "half a second at 30 fps is 15 frames" "32 32 30:1 15" -p "a red ball" -s 1 -d 0.5 --fps 30
run_ok "one second at 30000/1001 fps is 30 frames" "32 32 30000:1001 30" -p "sea" -s 1 -d 1 --fps 30000/1001
run_ok "--frames sets the count" "32 32 16:1 7" -p "a red ball" -s 1 --frames 7
run_ok "--size 40x24 scales and crops" "40 24 16:1 3" -p "a red ball" -s 1 --frames 3 --size 40x24
run_ok "--size 100x60 scales up" "100 60 16:1 2" -p "a red ball" -s 1 --frames 2 --size 100x60
run_ok "--size 64x64 picks the square native size" "64 64 16:1 2" -p "a red ball" -s 1 --frames 2 --size 64x64
run_ok "every sampler runs" "32 32 16:1 2" -p "x" -s 1 --frames 2 --sampler heun --cfg 1 --shift 2
run_ok "the dpm++2m sampler runs" "32 32 16:1 2" -p "x" -s 1 --frames 2 --sampler dpm++2m -t 2

# header exactly as documented
"$BIN" -q -m "$MODEL" --steps 1 -p "a" -s 3 --frames 1 -o "$TMP/h.y4m" 2>/dev/null
check "the header is C420jpeg full range" \
    test "$(head -n 1 "$TMP/h.y4m")" = "YUV4MPEG2 W32 H32 F16:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL"

# stdout
"$BIN" -q -m "$MODEL" --steps 1 -p "a red ball" -s 9 --frames 5 -o - >"$TMP/stdout.y4m" 2>"$TMP/err"
rc=$?
got=$(y4m_info "$TMP/stdout.y4m" 2>&1)
check "-o - writes the stream to stdout" test "$rc:$got" = "0:32 32 16:1 5"

# reproducibility
"$BIN" -q -m "$MODEL" --steps 2 -p "a red ball" -s 42 --frames 20 -o "$TMP/a.y4m" 2>/dev/null
"$BIN" -q -m "$MODEL" --steps 2 -p "a red ball" -s 42 --frames 20 -t 2 -o "$TMP/b.y4m" 2>/dev/null
"$BIN" -q -m "$MODEL" --steps 2 -p "a red ball" -s 43 --frames 20 -o "$TMP/c.y4m" 2>/dev/null
check "the same seed gives the same bytes" cmp -s "$TMP/a.y4m" "$TMP/b.y4m"
check "another seed gives other bytes" test -s "$TMP/c.y4m" -a -n "$(cmp "$TMP/a.y4m" "$TMP/c.y4m" 2>&1)"

# file written as the stdout stream
"$BIN" -q -m "$MODEL" --steps 2 -p "a red ball" -s 42 --frames 20 -o - >"$TMP/a2.y4m" 2>/dev/null
check "file and stdout output are identical" cmp -s "$TMP/a.y4m" "$TMP/a2.y4m"

# a random seed is announced (and reproduces the video)
rm -f "$TMP/r.y4m"
"$BIN" -m "$MODEL" --steps 1 -p "a red ball" --frames 2 -o "$TMP/r.y4m" 2>"$TMP/err"
seed=$(sed -n 's/^st2v: seed \([0-9][0-9]*\)$/\1/p' "$TMP/err")
"$BIN" -q -m "$MODEL" --steps 1 -p "a red ball" --frames 2 -s "${seed:-0}" -o "$TMP/r2.y4m" 2>/dev/null
check "without -s the seed is printed and reproduces the video" \
    test -n "$seed" -a -s "$TMP/r.y4m" -a "$(cmp "$TMP/r.y4m" "$TMP/r2.y4m" 2>&1)" = ""
check "-q prints nothing" test -z "$("$BIN" -q -m "$MODEL" --steps 1 -p "a" --frames 1 -o "$TMP/q.y4m" 2>&1)"

# conditioning image: a small PNG written with zlib
"$PY" - "$TMP/img.png" <<'EOF'
import struct, sys, zlib
w, h = 40, 30
raw = b"".join(b"\0" + bytes(v for x in range(w) for v in (x * 6, y * 8, 100)) for y in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
    + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF
run_ok "--image conditions the video" "32 32 16:1 8" -p "a red ball" -s 1 --frames 8 --image "$TMP/img.png"

check "--help prints the usage and succeeds" sh -c "'$BIN' --help | grep -q '^usage: st2v'"
version=$(sed -n 's/^#define ST2V_VERSION_STRING "\(.*\)"/\1/p' "$(dirname "$0")/../core/st2v.h")
check "--version prints 'st2v ${version:-?}' (core/st2v.h) and succeeds" \
    test "$("$BIN" --version; echo "rc $?")" = "st2v ${version:-?}
rc 0"

# ---------------------------------------------------------- default model
# An installed tree finds its model next to itself, wherever it is moved.
mkdir -p "$TMP/inst/bin" "$TMP/inst/share/st2v"
cp "$BIN" "$TMP/inst/bin/st2v"
cp "$MODEL" "$TMP/inst/share/st2v/default.safetensors"
check "an installed st2v finds PREFIX/share/st2v/default.safetensors" \
    env -u ST2V_MODEL "$TMP/inst/bin/st2v" -q --steps 1 -p "a" --frames 1 -o "$TMP/inst/x.y4m"
check "ST2V_MODEL names the default model" \
    env ST2V_MODEL="$MODEL" "$BIN" -q --steps 1 -p "a" --frames 1 -o "$TMP/env.y4m"

# However st2v is started, it finds the model from where its file really
# is (/proc/self/exe), not from argv[0] as typed (issue 23: "no model
# found" with build/bin on PATH). Each start renders a short clip with no
# ST2V_MODEL, from another directory unless the path is relative.
#
# starts NAME WANT-SIZE DIR ARGV... : run ARGV in DIR; it must exit 0 and
# write a clip of WANT-SIZE ("W H", or "any").
starts() {
    local name=$1 want=$2 dir=$3
    shift 3
    rm -f "$TMP/start.y4m"
    if ! (cd "$dir" && env -u ST2V_MODEL "$@" -q --steps 1 -p "a red ball" -s 1 -d 0.2 \
            -o "$TMP/start.y4m") 2>"$TMP/err"; then
        fail "$name" "exit status $?: $(head -c 300 "$TMP/err")"
        return
    fi
    local got w h n
    got=$(y4m_info "$TMP/start.y4m" 2>&1)
    read -r w h _ n <<<"$got"
    if [ "${n:-0}" -gt 0 ] 2>/dev/null && { [ "$want" = any ] || [ "$w $h" = "$want" ]; }; then
        ok "$name ($w x $h, $n frames)"
    else
        fail "$name" "got '$got', want $want and frames"
    fi
}
BINDIR_=$(dirname "$BIN")
mkdir -p "$TMP/elsewhere" "$TMP/links"
ln -s "$BIN" "$TMP/links/st2v"
ln -s "$(realpath --relative-to="$TMP/links" "$BIN")" "$TMP/links/st2v-rel"
starts "st2v started by a relative path (bin/st2v)" any "$(dirname "$BINDIR_")" \
    "$(basename "$BINDIR_")/st2v"
starts "st2v started as ./st2v" any "$BINDIR_" ./st2v
starts "st2v found on PATH, started from another directory" any "$TMP/elsewhere" \
    PATH="$BINDIR_:$PATH" st2v
starts "st2v started through a symlink in another directory" any "$TMP/elsewhere" \
    "$TMP/links/st2v"
starts "st2v started through a relative symlink found on PATH" any "$TMP/elsewhere" \
    PATH="$TMP/links:$PATH" st2v-rel
# the kernel runs the loader, not st2v: /proc/self/exe names the loader
interp=$(readelf -p .interp "$BIN" 2>/dev/null | sed -n 's/.*\] *\(\/.*\)/\1/p')
if [ -x "$interp" ]; then
    starts "st2v started through its dynamic loader ($interp ./st2v)" any "$BINDIR_" "$interp" ./st2v
else
    echo "# no dynamic loader start tested: readelf found no interpreter in $BIN"
fi
# the moved tree above, whose model is the tiny one (32x32): not a model
# found elsewhere
starts "an installed st2v found on PATH finds its own model" "32 32" "$TMP/elsewhere" \
    PATH="$TMP/inst/bin:$PATH" st2v
ln -s "$TMP/inst/bin/st2v" "$TMP/links/st2v-inst"
starts "an installed st2v started through a symlink finds its own model" "32 32" "$TMP/elsewhere" \
    "$TMP/links/st2v-inst"

# make install, into a prefix and staged with DESTDIR, when this st2v is
# SRCDIR/B/bin/st2v of a configured source tree (make check's)
SRC=$(cd "$(dirname "$0")/.." && pwd)
B_=$(basename "$(dirname "$BINDIR_")")
if [ -f "$SRC/config.mak" ] && [ "$SRC/$B_/bin/st2v" = "$BIN" ]; then
    P=$TMP/prefix
    if MAKEFLAGS="" make -s -C "$SRC" B="$B_" PREFIX="$P" BINDIR="$P/bin" LIBDIR="$P/lib" \
            INCLUDEDIR="$P/include" DATADIR="$P/share" install-core >"$TMP/make.log" 2>&1; then
        starts "make install into a prefix: PREFIX/bin/st2v runs" any "$TMP/elsewhere" "$P/bin/st2v"
        starts "make install into a prefix: st2v found on PATH" any "$TMP/elsewhere" \
            PATH="$P/bin:$PATH" st2v
    else
        fail "make install into a prefix" "$(tail -n 5 "$TMP/make.log")"
    fi
    S=$TMP/stage
    staged=
    MAKEFLAGS="" make -s -C "$SRC" B="$B_" DESTDIR="$S" install-core >"$TMP/make.log" 2>&1 &&
        staged=$(find "$S" -path '*/bin/st2v' -type f | head -n 1)
    if [ -n "$staged" ]; then
        starts "make install DESTDIR=STAGE: the staged st2v runs where it lies" any "$TMP/elsewhere" \
            "$staged"
        starts "make install DESTDIR=STAGE: the staged st2v found on PATH" any "$TMP/elsewhere" \
            PATH="$(dirname "$staged"):$PATH" st2v
        check "make install DESTDIR=STAGE: st2v.pc gives Version: ${version:-?} (core/st2v.h)" \
            grep -qx "Version: ${version:-?}" "$(find "$S" -name st2v.pc | head -n 1)"
    else
        fail "make install DESTDIR=STAGE" "$(tail -n 5 "$TMP/make.log")"
    fi
else
    echo "# make install not tested: $BIN is not the st2v of a configured source tree's build"
fi

# ------------------------------------------------------------- Wan2.1

# the tiny runnable Wan2.1 folder (train/wan/pipeline_fixtures.py): any
# size divisible by 16, 4n + 1 frames, 16 fps
WAN=$(cd "$FIX/wan/tiny" && pwd)
rm -f "$TMP/wan.y4m"
"$BIN" -q -m "$WAN" -p "Žluťoučký kůň" -s 1 --steps 2 --size 48x32 --frames 9 \
    -o "$TMP/wan.y4m" 2>"$TMP/err"
check "a Wan2.1 folder renders 9 frames of 48x32 at 16 fps" \
    test "$(y4m_info "$TMP/wan.y4m" 2>&1)" = "48 32 16:1 9"
"$BIN" -q -m "$WAN" -p "Žluťoučký kůň" -s 1 --steps 2 --size 48x32 --frames 9 -t 2 \
    -o "$TMP/wan-t2.y4m" 2>/dev/null
check "a Wan2.1 folder: the same seed gives the same bytes (any thread count)" \
    test -s "$TMP/wan.y4m" -a "$(cmp "$TMP/wan.y4m" "$TMP/wan-t2.y4m" 2>&1)" = ""
for o in "-s 2" "--steps 3" "--cfg 1" "--sampler euler" "--shift 2" "-n blurry"; do
    # shellcheck disable=SC2086 # $o is an option and its value
    "$BIN" -q -m "$WAN" -p "Žluťoučký kůň" -s 1 --steps 2 --size 48x32 --frames 9 $o \
        -o "$TMP/wan-o.y4m" 2>/dev/null
    check "a Wan2.1 folder: $o changes the bytes" \
        test "$(y4m_info "$TMP/wan-o.y4m" 2>&1)" = "48 32 16:1 9" -a -n "$(cmp "$TMP/wan.y4m" "$TMP/wan-o.y4m" 2>&1)"
done
# endless to a pipe: max RSS of 200 and of 800 frames (3 and 11 chunks)
# within 5 % (a frame of 48x32 is 6 + 2304 bytes of y4m)
wan_rss() { # wan_rss FRAMES -> max RSS in kB; the bytes read in $TMP/wan-bytes.$1
    no_quarantine /usr/bin/time -f '%M' -o "$TMP/wan-rss.$1" "$BIN" -q -m "$WAN" -p "snow falling" -s 1 \
        --steps 1 -t 1 --size 48x32 --frames -1 -o - 2>/dev/null |
        head -c $(($1 * 2310)) | wc -c >"$TMP/wan-bytes.$1"
    tail -n 1 "$TMP/wan-rss.$1"
}
if [ -x /usr/bin/time ]; then
    w200=$(wan_rss 200)
    w800=$(wan_rss 800)
    check "a Wan2.1 folder: --frames -1 streams on (800 frames)" \
        test "$(cat "$TMP/wan-bytes.800")" -eq $((800 * 2310))
    check "a Wan2.1 folder: --frames -1 runs in flat memory (max RSS ${w200:-?} kB at 200 frames, ${w800:-?} kB at 800)" \
        test -n "$w200" -a -n "$w800" -a "${w800:-0}" -le $((${w200:-0} + ${w200:-0} / 20))
else
    fail "a Wan2.1 folder: --frames -1 runs in flat memory" "/usr/bin/time is missing (apt-get install time)"
fi

# ------------------------------------------------- compute dtype (issue 21)
# --dtype bf16: the DiT's linear layers in bfloat16 products where the CPU
# has AVX512-BF16 (output within bfloat16 rounding of f32's), float32 where
# it has not (f32's bytes; ST2V_CPU takes the features away). The default
# model: 4 frames, 2 steps, 1 thread.
DEF=$(cd "$(dirname "$0")/.." && pwd)/models/default.safetensors
dtype_render() { # dtype_render OUT DTYPE ST2V_CPU
    rm -f "$1"
    ST2V_CPU=$3 "$BIN" -q -m "$DEF" -p "a red ball bouncing on the sea" -s 1 --steps 2 \
        --frames 4 -t 1 --dtype "$2" -o "$1" 2>"$TMP/err" || cat "$TMP/err" >&2
}
if [ -f "$DEF" ]; then
    dtype_render "$TMP/d-f32.y4m" f32 avx512bf16
    dtype_render "$TMP/d-bf16.y4m" bf16 avx512bf16
    f32_info=$(y4m_info "$TMP/d-f32.y4m" 2>&1)
    bf16_info=$(y4m_info "$TMP/d-bf16.y4m" 2>&1)
    check "--dtype bf16 renders the default model ($bf16_info: 4 frames, as f32's $f32_info)" \
        test "${bf16_info##* }" = 4 -a "$bf16_info" = "$f32_info"
    if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
        # mean and max |difference| of the bytes after the header
        diff=$("$PY" - "$TMP/d-f32.y4m" "$TMP/d-bf16.y4m" <<'EOF2'
import sys
a, b = (open(f, "rb").read() for f in sys.argv[1:3])
a, b = a[a.index(b"\n") + 1:], b[b.index(b"\n") + 1:]
assert len(a) == len(b) > 0
d = [abs(x - y) for x, y in zip(a, b)]
print("%.3f %d %d %d" % (sum(d) / len(d), max(d), sum(1 for x in d if x), len(d)))
EOF2
)
        read -r mean max ndiff nbytes <<<"$diff"
        check "AVX512-BF16: bf16 output differs from f32's within bfloat16 rounding (mean |diff| ${mean:-?}, max ${max:-?}, ${ndiff:-?} of ${nbytes:-?} bytes)" \
            "$PY" -c "import sys; m, x = float(sys.argv[1]), int(sys.argv[2]); sys.exit(not (0 < m < 1 and x <= 32))" \
            "${mean:--1}" "${max:-99}"
    else
        echo "# no AVX512-BF16 on this CPU: bf16 computes in float32 (checked below)"
    fi
    for cpu in avx512 avx2; do
        dtype_render "$TMP/d-f32-$cpu.y4m" f32 $cpu
        dtype_render "$TMP/d-bf16-$cpu.y4m" bf16 $cpu
        check "ST2V_CPU=$cpu: --dtype bf16 computes in float32 (f32's bytes)" \
            test -s "$TMP/d-bf16-$cpu.y4m" -a "$(cmp "$TMP/d-f32-$cpu.y4m" "$TMP/d-bf16-$cpu.y4m" 2>&1)" = ""
    done
else
    fail "--dtype bf16 renders the default model" "$DEF is missing"
fi
"$BIN" -q -m "$MODEL" --steps 2 -p "a red ball" -s 42 --frames 20 --dtype f32 -o "$TMP/a-f32.y4m" 2>/dev/null
check "--dtype f32 is the default (the same bytes)" cmp -s "$TMP/a.y4m" "$TMP/a-f32.y4m"
run_ok "--dtype bf16 renders the tiny model" "32 32 16:1 3" -p "a red ball" -s 1 --frames 3 --dtype bf16
# the tiny folder's umT5 is BF16 (bfloat16 products with --dtype bf16 where
# the CPU has them), its DiT F32 (float32 whatever the option)
"$BIN" -q -m "$WAN" -p "Žluťoučký kůň" -s 1 --steps 2 --size 48x32 --frames 9 --dtype bf16 \
    -o "$TMP/wan-bf16.y4m" 2>/dev/null
check "a Wan2.1 folder: --dtype bf16 renders as many bytes as f32" \
    test -s "$TMP/wan-bf16.y4m" -a "$(wc -c <"$TMP/wan-bf16.y4m")" = "$(wc -c <"$TMP/wan.y4m")"
for dt in f32 bf16; do
    ST2V_CPU=avx2 "$BIN" -q -m "$WAN" -p "Žluťoučký kůň" -s 1 --steps 2 --size 48x32 --frames 9 \
        --dtype $dt -o "$TMP/wan-$dt-avx2.y4m" 2>/dev/null
done
check "a Wan2.1 folder on a CPU without AVX512-BF16 (ST2V_CPU=avx2): --dtype bf16 gives f32's bytes" \
    test -s "$TMP/wan-f32-avx2.y4m" -a "$(cmp "$TMP/wan-f32-avx2.y4m" "$TMP/wan-bf16-avx2.y4m" 2>&1)" = ""

# ------------------------------------------------------------- refusals

printf 'this is not a safetensors file at all' >"$TMP/corrupt.safetensors"
: >"$TMP/empty.safetensors"

# refuse NAME WANT-STATUS ARGS... : non-zero status (exactly WANT when not
# "any"), one line "st2v: ..." on stderr, nothing on stdout, no files left.
refuse() {
    local name=$1 want=$2
    shift 2
    local dir=$TMP/refuse
    rm -rf "$dir"
    mkdir -p "$dir"
    # (a hang, such as a FIFO opened for a model, ends as a failure)
    (cd "$dir" && timeout -k 5 60 env ${REFUSE_ENV:-} "$BIN" "$@" >"$TMP/stdout" 2>"$TMP/stderr")
    local rc=$?
    local lines
    lines=$(wc -l <"$TMP/stderr")
    local left
    left=$(ls -A "$dir")
    if [ $rc -eq 0 ]; then
        fail "$name" "exit status 0"
    elif [ "$want" != any ] && [ $rc -ne "$want" ]; then
        fail "$name" "exit status $rc, want $want"
    elif [ "$lines" -ne 1 ] || ! grep -q '^st2v: ' "$TMP/stderr"; then
        fail "$name" "stderr: $(head -c 300 "$TMP/stderr")"
    elif [ -s "$TMP/stdout" ]; then
        fail "$name" "wrote to stdout"
    elif [ -n "$left" ]; then
        fail "$name" "left files: $left"
    else
        ok "$name"
    fi
}

M=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
C=$TMP/corrupt.safetensors
refuse "no -p is refused" 2 -m "$M" -o out.y4m
refuse "an empty prompt is refused" 2 -m "$M" -p "" -o out.y4m
refuse "a blank prompt is refused" 2 -m "$M" -p "   " -o out.y4m
refuse "no -o is refused" 2 -m "$M" -p "a"
refuse "a malformed size is refused" 2 -m "$M" -p "a" --size 10x -o out.y4m
refuse "an odd size is refused" 2 -m "$M" -p "a" --size 33x32 -o out.y4m
refuse "a tiny size is refused" 2 -m "$M" -p "a" --size 8x8 -o out.y4m
refuse "fps 0 is refused" 2 -m "$M" -p "a" --fps 0 -o out.y4m
refuse "fps 1/0 is refused" 2 -m "$M" -p "a" --fps 1/0 -o out.y4m
refuse "steps 0 is refused" 2 -m "$M" -p "a" --steps 0 -o out.y4m
refuse "steps abc is refused" 2 -m "$M" -p "a" --steps abc -o out.y4m
refuse "cfg -1 is refused" 2 -m "$M" -p "a" --cfg -1 -o out.y4m
refuse "shift 0 is refused" 2 -m "$M" -p "a" --shift 0 -o out.y4m
refuse "an unknown sampler is refused" 2 -m "$M" -p "a" --sampler ddim -o out.y4m
refuse "a negative duration is refused" 2 -m "$M" -p "a" -d -1 -o out.y4m
refuse "frames 0 is refused" 2 -m "$M" -p "a" --frames 0 -o out.y4m
refuse "-d with --frames is refused" 2 -m "$M" -p "a" -d 1 --frames 3 -o out.y4m
refuse "endless output to a file is refused" 2 -m "$M" -p "a" --frames -1 -o out.y4m
refuse "threads 999 is refused" 2 -m "$M" -p "a" -t 999 -o out.y4m
refuse "a bad seed is refused" 2 -m "$M" -p "a" -s minus1 -o out.y4m
refuse "an output not ending in .y4m is refused" 2 -m "$M" -p "a" -o out.mp4
refuse "an unknown long option is refused" 2 -m "$M" -p "a" --bogus -o out.y4m
refuse "an unknown short option is refused" 2 -m "$M" -p "a" -Z -o out.y4m
refuse "a missing argument is refused" 2 -m "$M" -p "a" -o out.y4m --steps
refuse "a stray argument is refused" 2 -m "$M" -p "a" -o out.y4m extra
refuse "--dtype fp64 is refused" 2 -m "$M" -p "a" --dtype fp64 -o out.y4m
check "the dtype refusal names f32 and bf16" \
    grep -qx "st2v: unknown dtype 'fp64' (expected f32 or bf16)" "$TMP/stderr"
refuse "a Wan2.1 size not divisible by 16 is refused" 2 -m "$WAN" -p "a" -s 1 --size 40x32 --frames 9 -o out.y4m
check "the Wan2.1 size refusal names 16" grep -q 'divisible by 16' "$TMP/stderr"
# a Wan2.1 folder without its VAE, and one whose DiT file is cut short
cp -r "$WAN" "$TMP/wan-novae"
rm "$TMP/wan-novae/Wan2.1_VAE.safetensors"
cp -r "$WAN" "$TMP/wan-cut"
truncate -s 20000 "$TMP/wan-cut/diffusion_pytorch_model.safetensors"
refuse "a Wan2.1 folder without its VAE is refused" 1 -m "$TMP/wan-novae" -p "a" -s 1 --size 48x32 --frames 9 -o out.y4m
check "the refusal of a Wan2.1 folder without its VAE names the VAE and its file" \
    grep -q 'missing the VAE (Wan2.1_VAE.safetensors' "$TMP/stderr"
refuse "a Wan2.1 folder whose DiT file is cut short is refused" 1 -m "$TMP/wan-cut" -p "a" -s 1 --size 48x32 --frames 9 -o out.y4m
check "the refusal of a cut Wan2.1 DiT file names the file and the tensor" \
    grep -q 'diffusion_pytorch_model.safetensors: tensor .* outside' "$TMP/stderr"
refuse "a missing model is refused" 1 -m "$TMP/no-such-model.safetensors" -p "a" -o out.y4m
refuse "a corrupt model is refused" 1 -m "$C" -p "a" -o out.y4m
refuse "an empty model file is refused" 1 -m "$TMP/empty.safetensors" -p "a" -o out.y4m
refuse "a missing image is refused" 1 -m "$M" -p "a" --image "$TMP/none.png" -o out.y4m
refuse "a corrupt image is refused" 1 -m "$M" -p "a" --image "$C" -o out.y4m
REFUSE_ENV="ST2V_MODEL=$TMP/nothing-here.safetensors" \
    refuse "no model at \$ST2V_MODEL is refused" 1 -p "a" -o out.y4m
refuse "a missing output directory is refused" 1 -m "$M" -p "a" --frames 1 -q -s 1 --steps 1 -o no/such/dir/out.y4m

# ------------------------------------------------ hostile inputs (issue 23)
# prompts: too long, not UTF-8, control characters (argv cannot carry NUL)
big=$(head -c 100000 /dev/zero | tr '\0' a)
refuse "a 100 kB prompt is refused" 2 -m "$M" -p "$big" -o out.y4m
check "the 100 kB refusal gives the limit, not the prompt" \
    grep -q '^st2v: invalid -p: prompt is 100000 bytes long: at most 65536$' "$TMP/stderr"
refuse "a prompt that is not UTF-8 is refused" 2 -m "$M" -p $'a red \xff ball' -o out.y4m
check "the UTF-8 refusal names the byte and its offset" \
    grep -q 'prompt is not valid UTF-8 (byte 0xff at offset 6)' "$TMP/stderr"
refuse "an overlong UTF-8 prompt is refused" 2 -m "$M" -p $'a \xc0\xaf' -o out.y4m
refuse "a prompt with a control character is refused" 2 -m "$M" -p $'a \x01 ball' -o out.y4m
refuse "a prompt with an escape sequence is refused" 2 -m "$M" -p $'a \x1b[31m ball' -o out.y4m
check "the control-character refusal names U+001B" grep -q 'control character U+001B' "$TMP/stderr"
refuse "a negative prompt with a control character is refused" 2 -m "$M" -p a -n $'x\x07' -o out.y4m
# sizes, rates, durations, steps, guidance
refuse "size 0x0 is refused" 2 -m "$M" -p "a" --size 0x0 -o out.y4m
refuse "size 1x1 is refused" 2 -m "$M" -p "a" --size 1x1 -o out.y4m
refuse "size 100000x100000 is refused" 2 -m "$M" -p "a" --size 100000x100000 -o out.y4m
refuse "fps -5 is refused" 2 -m "$M" -p "a" --fps -5 -o out.y4m
refuse "duration 1e300 is refused" 2 -m "$M" -p "a" -d 1e300 -o out.y4m
refuse "duration inf is refused" 2 -m "$M" -p "a" -d inf -o out.y4m
refuse "duration nan is refused" 2 -m "$M" -p "a" -d nan -o out.y4m
refuse "steps 100000000 is refused" 2 -m "$M" -p "a" --steps 100000000 -o out.y4m
refuse "cfg nan is refused" 2 -m "$M" -p "a" --cfg nan -o out.y4m
refuse "cfg inf is refused" 2 -m "$M" -p "a" --cfg inf -o out.y4m
# model files: cut, random, header only, lying offsets and header lengths
hostile_models "$M" "$TMP"
refuse "a model cut short is refused" 1 -m "$TMP/cut.safetensors" -p "a" -o out.y4m
refuse "a model of random bytes is refused" 1 -m "$TMP/random.safetensors" -p "a" -o out.y4m
refuse "a model that is only its header is refused" 1 -m "$TMP/header-only.safetensors" -p "a" -o out.y4m
refuse "a model with data_offsets past the end is refused" 1 -m "$TMP/past-end.safetensors" -p "a" -o out.y4m
check "the past-the-end refusal names the tensor" grep -q 'data_offsets \[1000000000, .*outside the data section' "$TMP/stderr"
refuse "a model with overlapping tensors is refused" 1 -m "$TMP/overlap.safetensors" -p "a" -o out.y4m
check "the overlap refusal names both tensors" grep -q 'overlap tensor' "$TMP/stderr"
refuse "a model with a negative header length is refused" 1 -m "$TMP/negative-length.safetensors" -p "a" -o out.y4m
refuse "a model with a huge header length is refused" 1 -m "$TMP/huge-length.safetensors" -p "a" -o out.y4m
refuse "a Wan DiT file given as the model is refused" 1 -m "$WAN/diffusion_pytorch_model.safetensors" -p "a" -o out.y4m
check "the lone Wan DiT refusal names the missing parts" grep -q 'missing the VAE' "$TMP/stderr"
cp -r "$WAN" "$TMP/wan-world"
cp "$M" "$TMP/wan-world/diffusion_pytorch_model.safetensors"
refuse "a world model inside a Wan folder is refused" 1 -m "$TMP/wan-world" -p "a" --size 48x32 --frames 1 -o out.y4m
check "the mixed-folder refusal names both families" \
    grep -q 'mixes two model families.*st2v: the st2v model file diffusion_pytorch_model.safetensors; wan2.1: .*missing the DiT' "$TMP/stderr"
mkdir -p "$TMP/plain-dir"
echo notes >"$TMP/plain-dir/README.txt"
refuse "a directory that is no model folder is refused" 1 -m "$TMP/plain-dir" -p "a" -o out.y4m
mkfifo "$TMP/model.fifo"
refuse "a FIFO as the model is refused at once (no hang)" 1 -m "$TMP/model.fifo" -p "a" -o out.y4m
check "the FIFO refusal says it is not a regular file" grep -q 'is not a regular file' "$TMP/stderr"
refuse "/dev/zero as the model is refused" 1 -m /dev/zero -p "a" -o out.y4m
# outputs that cannot be written: a read-only folder (root writes anyway,
# so then /sys, read-only for everyone), /dev/full as stdout
mkdir -p "$TMP/ro"
chmod 555 "$TMP/ro"
ro=$TMP/ro
touch "$TMP/ro/probe" 2>/dev/null && { rm -f "$TMP/ro/probe"; ro=/sys; }
refuse "an output in a read-only folder is refused ($ro)" 1 -m "$M" -p "a" --frames 1 -q -s 1 --steps 1 -o "$ro/out.y4m"
check "the read-only refusal leaves nothing in $ro" test -z "$(ls -A "$ro" 2>/dev/null | grep -F 'out.y4m')"
chmod 755 "$TMP/ro"
"$BIN" -q -m "$M" -p "a" -s 1 --steps 1 --frames 2 -o - >/dev/full 2>"$TMP/err"
rc=$?
check "-o - into /dev/full fails with status 1 and one line (no space left)" \
    test "$rc" = 1 -a "$(wc -l <"$TMP/err")" = 1 -a -n "$(grep '^st2v: cannot write to stdout: No space left' "$TMP/err")"

# odd but valid prompts render
words=$(for i in $(seq 1250); do printf 'red Ball SEA bouncing '; done)
run_ok "a 5,000-word prompt renders" "32 32 16:1 1" -p "$words" -s 1 --frames 1
run_ok "an emoji prompt renders" "32 32 16:1 1" -p "a cat 🐱 with a balloon 🎈" -s 1 --frames 1
run_ok "a mixed-case prompt renders" "32 32 16:1 1" -p "A Red BALL on the sEa" -s 1 --frames 1
run_ok "a Czech prompt in capitals renders" "32 32 16:1 1" -p "ČERVENÝ MÍČ SKÁČE" -s 1 --frames 1
run_ok "a prompt with leading and trailing white space renders" "32 32 16:1 1" -p $'  \ta red ball \n ' -s 1 --frames 1
rm -f "$TMP/wan-odd.y4m"
"$BIN" -q -m "$WAN" -p "$words" -s 1 --steps 1 --size 48x32 --frames 1 -o "$TMP/wan-odd.y4m" 2>"$TMP/err"
check "a Wan2.1 folder renders a 5,000-word prompt" test "$(y4m_info "$TMP/wan-odd.y4m" 2>&1)" = "48 32 16:1 1"

# an existing file is not clobbered by a failed run
echo precious >"$TMP/keep.y4m"
"$BIN" -m "$C" -p "a" -o "$TMP/keep.y4m" 2>/dev/null
check "a failed run leaves an existing output untouched" test "$(cat "$TMP/keep.y4m")" = precious

# an interrupted run leaves neither the output nor its temporary file
mkdir -p "$TMP/intr"
"$BIN" -q -m "$M" -p "a" -s 1 -d 100000 -o "$TMP/intr/out.y4m" 2>"$TMP/err" &
pid=$!
for _ in $(seq 50); do
    [ -n "$(ls -A "$TMP/intr")" ] && break
    sleep 0.05
done
sleep 0.3
kill -TERM "$pid"
wait "$pid"
rc=$?
check "a terminated run exits 143 and leaves no file" \
    test "$rc" = 143 -a -z "$(ls -A "$TMP/intr")" -a "$(cat "$TMP/err")" = "st2v: interrupted"

# a closed pipe stops the writer with status 1, not a signal
"$BIN" -q -m "$M" -p "a" -s 1 --steps 1 --frames 200 -o - 2>"$TMP/err" | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
check "a closed pipe ends with status 1 and one message" \
    test "$rc" = 1 -a "$(wc -l <"$TMP/err")" = 1

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
