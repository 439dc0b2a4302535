#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# valgrind-tools.sh - make check-valgrind's part for the programs users
# run: the st2v CLI, gst-launch-1.0 and gst-inspect-1.0 with the built
# plugin, and ffmpeg with the st2v filter, each started under
# valgrind (memcheck, --leak-check=full) on the tiny model and the tiny
# Wan2.1 folder: renders (compared byte for byte with the same command
# run natively with ST2V_CPU=avx2, the path valgrind's CPUID leaves) and
# refusals (bad options, hostile model files, prompts, caps). A selection
# of tests/test_cli.sh, test_gst.sh and test_ffmpeg.sh, not all of them:
# their timing, RSS and soak checks measure the program, not valgrind's
# copy of it, and the whole of them takes hours under valgrind.
# (Not named test_*.sh: make check's tests/run-tests.sh would run it.)
#
#   B=build tests/valgrind-tools.sh            (from the repository root)
#
# A check passes when the program exits as wanted (0 for a render, the
# refusal's non-zero status for a refusal) and valgrind reported nothing:
# no invalid access, no use of uninitialised memory, no leak
# ("definitely" or "possibly" lost). valgrind's exit status for an error
# is 99 here, since st2v and ffmpeg exit 1 on a refusal; its report goes
# to a log file, printed on a failure. Suppressions, for the gst tools
# only: GLib's own (glib.supp) and glibc's TLS of the threads that
# gst-launch-1.0 leaves running at exit (below); nothing of st2v,
# GStreamer or FFmpeg.
# Prints one ok/FAIL line per check and "N passed, N failed".

set -u

B=${B:-build}
PY=${PY:-/usr/bin/python3}
FIX=${ST2V_FIXTURES:-tests/fixtures}
. "$(dirname "$0")/shell_util.sh"

BIN=$(abspath "$B/bin/st2v")
FFMPEG=$(abspath "$B/bin/ffmpeg")
TINY=$(abspath "$FIX/tiny.safetensors")
WAN=$(abspath "$FIX/wan/tiny")
scratch_dir vg
GLIB_SUPP=/usr/share/glib-2.0/valgrind/glib.supp

# gst-launch-1.0 exits with threads of GLib's still running: the worker
# of its SIGINT watch (g_unix_signal_add_full in its main) and the
# streaming threads GStreamer's task pool keeps for reuse. glibc frees a
# thread's TLS when the thread ends, so at exit their TLS is "possibly
# lost": the thread's DTV (368 bytes, allocate_dtv under pthread_create)
# and, in a streaming thread that ran st2v, the plugin's dynamic TLS
# block (40 bytes, allocate_dtv_entry under __tls_get_addr: core/pool.c's
# two __thread ints). Suppressed for the gst tools: those two glibc
# allocations, "possibly lost" only, and nothing else.
cat >"$TMP/gst-launch.supp" <<'EOF'
{
   tls-dtv-of-a-thread-alive-at-exit
   Memcheck:Leak
   match-leak-kinds: possible
   fun:calloc
   ...
   fun:allocate_dtv
   fun:_dl_allocate_tls
   ...
   fun:pthread_create*
}
{
   dynamic-tls-block-of-a-thread-alive-at-exit
   Memcheck:Leak
   match-leak-kinds: possible
   fun:malloc
   ...
   fun:allocate_dtv_entry
   ...
   fun:__tls_get_addr
}
EOF

VG_OPTS="-q --leak-check=full --error-exitcode=99 --num-callers=30"

# vg NAME WANT CMD...: CMD (a program and its arguments, stdout to
# $TMP/out, stderr to $TMP/err) under valgrind; WANT is its exit status
# (a number, or "fail": 1, 2 or 255, the statuses of a refusal).
vg() {
    local name=$1 want=$2 rc supp=
    shift 2
    case $(basename "$1") in
    gst-*)
        supp=--suppressions=$TMP/gst-launch.supp
        [ -f "$GLIB_SUPP" ] && supp="$supp --suppressions=$GLIB_SUPP" ;;
    esac
    rm -f "$TMP/vg.log"
    # shellcheck disable=SC2086 # VG_OPTS and supp are lists of options
    timeout 600 valgrind $VG_OPTS $supp --log-file="$TMP/vg.log" "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    if [ -s "$TMP/vg.log" ] || [ $rc -eq 99 ]; then
        fail "$name (valgrind)" "exit $rc; $(head -c 3000 "$TMP/vg.log")"
    elif [ "$want" = fail ] && [ $rc != 1 ] && [ $rc != 2 ] && [ $rc != 255 ]; then
        fail "$name" "exit status $rc, want a refusal: $(head -c 300 "$TMP/err")"
    elif [ "$want" != fail ] && [ $rc -ne "$want" ]; then
        fail "$name" "exit status $rc, want $want: $(head -c 300 "$TMP/err")"
    else
        ok "$name (under valgrind)"
    fi
}
# same A B: the files A (under valgrind) and B (native) are equal and not empty
same() { test -s "$1" -a -s "$2" && cmp -s "$1" "$2"; }

echo "# $(valgrind --version); valgrind's CPUID hides AVX-512: the AVX2 paths run"

# ------------------------------------------------------------------- CLI
if [ -x "$BIN" ]; then
    R="-q -m $TINY --steps 2 -p red -s 42 --frames 20"
    # shellcheck disable=SC2086
    ST2V_CPU=avx2 "$BIN" $R -o "$TMP/cli-native.y4m" 2>/dev/null
    # shellcheck disable=SC2086
    vg "st2v renders 20 frames of the tiny model" 0 "$BIN" $R -o "$TMP/cli.y4m"
    check "st2v under valgrind gives the native AVX2 bytes" same "$TMP/cli.y4m" "$TMP/cli-native.y4m"
    # shellcheck disable=SC2086
    vg "st2v -t 2 -o - (two threads, to stdout)" 0 "$BIN" $R -t 2 -o -
    check "st2v -t 2 under valgrind gives the same bytes" same "$TMP/out" "$TMP/cli-native.y4m"
    "$PY" - "$TMP/img.png" <<'EOF'
import struct, sys, zlib
w, h = 40, 30
raw = b"".join(b"\0" + bytes(v for x in range(w) for v in (x * 6, y * 8, 100)) for y in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
EOF
    vg "st2v --image --size 40x24 --sampler heun" 0 "$BIN" -q -m "$TINY" --steps 1 -p "a red ball" -s 1 \
        --frames 3 --size 40x24 --sampler heun --image "$TMP/img.png" -o "$TMP/img.y4m"
    vg "st2v --sampler dpm++2m --dtype bf16 -n" 0 "$BIN" -q -m "$TINY" --steps 2 -p "a red ball" -n blurry \
        -s 1 --frames 3 --sampler dpm++2m --dtype bf16 -o "$TMP/bf16.y4m"
    W="-q -m $WAN -p Žluťoučký -s 1 --steps 2 --size 48x32 --frames 9"
    # shellcheck disable=SC2086
    ST2V_CPU=avx2 "$BIN" $W -o "$TMP/wan-native.y4m" 2>/dev/null
    # shellcheck disable=SC2086
    vg "st2v renders 9 frames of the Wan2.1 tiny folder" 0 "$BIN" $W -o "$TMP/wan.y4m"
    check "st2v on the Wan2.1 folder under valgrind gives the native AVX2 bytes" \
        same "$TMP/wan.y4m" "$TMP/wan-native.y4m"
    # an endless Wan2.1 stream into a pipe closed after 100 frames (two
    # chunks): the writer stops with status 1, everything freed
    rm -f "$TMP/vg.log"
    # shellcheck disable=SC2086
    timeout 600 valgrind $VG_OPTS --log-file="$TMP/vg.log" "$BIN" -q -m "$WAN" -p snow -s 1 --steps 1 \
        --size 48x32 --frames -1 -o - 2>"$TMP/err" | head -c $((100 * 2310)) | wc -c >"$TMP/n"
    rc=${PIPESTATUS[0]}
    if [ -s "$TMP/vg.log" ] || [ "$rc" != 1 ] || [ "$(cat "$TMP/n")" != $((100 * 2310)) ]; then
        fail "st2v --frames -1 into a pipe closed after 100 frames" "exit $rc; $(head -c 3000 "$TMP/vg.log")"
    else
        ok "st2v --frames -1 into a pipe closed after 100 frames (under valgrind)"
    fi

    printf 'not a model' >"$TMP/corrupt.safetensors"
    hostile_models "$TINY" "$TMP"
    for m in corrupt cut past-end overlap huge-length; do
        vg "st2v refuses the model $m.safetensors" 1 "$BIN" -m "$TMP/$m.safetensors" -p a -o "$TMP/x.y4m"
    done
    cp -r "$WAN" "$TMP/wan-cut"
    truncate -s 20000 "$TMP/wan-cut/diffusion_pytorch_model.safetensors"
    vg "st2v refuses a Wan2.1 folder whose DiT is cut short" 1 "$BIN" -m "$TMP/wan-cut" -p a -s 1 \
        --size 48x32 --frames 9 -o "$TMP/x.y4m"
    vg "st2v refuses a corrupt image" 1 "$BIN" -m "$TINY" -p a --image "$TMP/corrupt.safetensors" -o "$TMP/x.y4m"
    vg "st2v refuses a prompt that is not UTF-8" 2 "$BIN" -m "$TINY" -p $'a red \xff ball' -o "$TMP/x.y4m"
    rm -f "$TMP/vg.log"
    # shellcheck disable=SC2086
    timeout 600 valgrind $VG_OPTS --log-file="$TMP/vg.log" "$BIN" -q -m "$TINY" -p a -s 1 --steps 1 \
        --frames 2 -o - >/dev/full 2>"$TMP/err"
    rc=$?
    if [ -s "$TMP/vg.log" ] || [ $rc != 1 ]; then
        fail "st2v -o - into /dev/full fails with status 1" "exit $rc; $(head -c 3000 "$TMP/vg.log")"
    else
        ok "st2v -o - into /dev/full fails with status 1 (under valgrind)"
    fi
else
    fail "the st2v CLI" "$BIN is missing (make)"
fi

# ------------------------------------------------- gst-launch-1.0 (plugin)
have_gst=${HAVE_GST:-$(sed -n 's/^HAVE_GST=//p' config.mak 2>/dev/null)}
if [ "$have_gst" = yes ]; then
    export GST_PLUGIN_PATH
    GST_PLUGIN_PATH=$(abspath "$B/lib/gstreamer-1.0")
    export GST_REGISTRY=$TMP/registry.bin
    # the registry written natively first, so that no gst-plugin-scanner
    # (a child valgrind does not follow) runs under valgrind's parent
    gst-inspect-1.0 st2vsrc >/dev/null 2>&1
    # GLib's allocator as plain malloc, so that valgrind sees its blocks
    export G_SLICE=always-malloc G_DEBUG=gc-friendly
    vg "gst-inspect-1.0 st2vsrc" 0 gst-inspect-1.0 st2vsrc
    I420="video/x-raw,format=I420,width=64,height=48"
    ST2V_CPU=avx2 gst-launch-1.0 -q st2vsrc model="$TINY" prompt="a red ball" seed=7 num-buffers=20 ! \
        "$I420" ! filesink location="$TMP/gst-native.yuv" >/dev/null 2>&1
    vg "gst-launch-1.0 st2vsrc renders 20 I420 frames" 0 gst-launch-1.0 -q st2vsrc model="$TINY" \
        prompt="a red ball" seed=7 num-buffers=20 ! "$I420" ! filesink location="$TMP/gst.yuv"
    check "gst-launch-1.0 under valgrind gives the native AVX2 bytes" same "$TMP/gst.yuv" "$TMP/gst-native.yuv"
    vg "gst-launch-1.0 st2vsrc is-live=true threads=2 ! videoconvert (RGB)" 0 gst-launch-1.0 -q \
        st2vsrc model="$TINY" prompt=sea seed=1 steps=1 num-buffers=20 is-live=true threads=2 ! \
        videoconvert ! video/x-raw,format=RGB ! fakesink
    vg "gst-launch-1.0 st2vsrc renders 9 frames of the Wan2.1 tiny folder" 0 gst-launch-1.0 -q \
        st2vsrc model="$WAN" prompt="a red ball" seed=3 steps=2 num-buffers=9 ! \
        video/x-raw,format=RGB,width=48,height=32 ! filesink location="$TMP/gst-wan.rgb"
    check "gst-launch-1.0 on the Wan2.1 folder wrote 9 RGB frames" \
        test "$(stat -c %s "$TMP/gst-wan.rgb" 2>/dev/null)" = $((9 * 48 * 32 * 3))
    printf 'not a model' >"$TMP/corrupt.safetensors"
    [ -f "$TMP/cut.safetensors" ] || hostile_models "$TINY" "$TMP"
    for m in nope corrupt past-end; do
        vg "gst-launch-1.0 refuses the model $m.safetensors" fail gst-launch-1.0 \
            st2vsrc prompt=sea model="$TMP/$m.safetensors" ! fakesink
    done
    vg "gst-launch-1.0 refuses a prompt with a control character" fail gst-launch-1.0 \
        st2vsrc model="$TINY" prompt="$(printf 'a \001 ball')" ! fakesink
    vg "gst-launch-1.0 refuses steps=100000000" fail gst-launch-1.0 \
        st2vsrc model="$TINY" prompt=sea num-buffers=1 steps=100000000 ! fakesink
    vg "gst-launch-1.0 refuses caps width=1,height=1" fail gst-launch-1.0 \
        st2vsrc model="$TINY" prompt=sea num-buffers=1 ! video/x-raw,width=1,height=1 ! fakesink
else
    echo "# gst-launch-1.0: skipped (HAVE_GST is not yes)"
fi

# ------------------------------------------------------- ffmpeg (filter)
if [ -x "$FFMPEG" ]; then
    G="st2v=model=$TINY:prompt='a red ball':seed=7:steps=2:d=1"
    ST2V_CPU=avx2 "$FFMPEG" -nostdin -v error -f lavfi -i "$G" -f rawvideo -pix_fmt rgb24 \
        "$TMP/ff-native.rgb" 2>/dev/null
    vg "ffmpeg -f lavfi -i st2v renders 16 frames of the tiny model" 0 "$FFMPEG" -nostdin -v error \
        -f lavfi -i "$G" -f rawvideo -pix_fmt rgb24 "$TMP/ff.rgb"
    check "ffmpeg under valgrind gives the native AVX2 bytes" same "$TMP/ff.rgb" "$TMP/ff-native.rgb"
    vg "ffmpeg st2v with sendcmd (prompt and cfg changed mid-stream)" 0 "$FFMPEG" -nostdin -v error \
        -f lavfi -i "st2v=model=$TINY:prompt=sea:seed=1:steps=1:d=2,sendcmd=c='0.5 st2v prompt snow;1.0 st2v cfg 3'" \
        -f null -
    vg "ffmpeg renders 9 frames of the Wan2.1 tiny folder" 0 "$FFMPEG" -nostdin -v error -f lavfi \
        -i "st2v=model=$WAN:prompt='a red ball':seed=3:steps=2:size=48x32:d=-1" -frames:v 9 \
        -f rawvideo -pix_fmt rgb24 "$TMP/ff-wan.rgb"
    [ -f "$TMP/gst-wan.rgb" ] &&
        check "ffmpeg and gst-launch-1.0 give the same Wan2.1 frames under valgrind" \
            same "$TMP/ff-wan.rgb" "$TMP/gst-wan.rgb"
    printf 'not a model' >"$TMP/corrupt.safetensors"
    vg "ffmpeg refuses a corrupt model" fail "$FFMPEG" -nostdin -v error -f lavfi \
        -i "st2v=model=$TMP/corrupt.safetensors:prompt=sea:d=1" -f null -
    vg "ffmpeg refuses s=100000x100000" fail "$FFMPEG" -nostdin -v error -f lavfi \
        -i "st2v=model=$TINY:prompt=sea:d=1:s=100000x100000" -f null -
else
    echo "# ffmpeg: skipped ($FFMPEG is missing: make ffmpeg)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
