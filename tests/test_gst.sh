#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test_gst.sh - the GStreamer plugin as users meet it: gst-inspect-1.0 and
# gst-launch-1.0 with the built libgstst2v.so, the default model found with
# no property (from the build tree and from an installed layout), errors,
# the tiny Wan2.1 folder (frames, endless in flat memory, a missing or a
# cut file), the tested recipes of docs/gstreamer.md and its example
# program. The element's own behaviour is tests/test_gst_st2vsrc.c
# (gst-check).
#
#   tests/test_gst.sh                       (from the repository root)
#
# Prints one `ok`/`FAIL` line per check and "N passed, N failed"; exits
# non-zero when anything failed. Without GStreamer it says so and passes.

set -u

B=${B:-build}
FIX=${ST2V_FIXTURES:-tests/fixtures}
DOC=${ST2V_GST_DOC:-docs/gstreamer.md}
PLUGIN_DIR=$B/lib/gstreamer-1.0
EXAMPLE=$B/bin/st2v-change-prompt

. "$(dirname "$0")/shell_util.sh"

have_gst=${HAVE_GST:-$(sed -n 's/^HAVE_GST=//p' config.mak 2>/dev/null)}
if [ "$have_gst" != yes ]; then
    echo "skipped: GStreamer not found (HAVE_GST=${have_gst:-?}: ./configure did not find it, or --disable-gstreamer; see docs/gstreamer.md)"
    echo "0 passed, 0 failed"
    exit 0
fi
if [ ! -f "$PLUGIN_DIR/libgstst2v.so" ] || [ ! -x "$EXAMPLE" ]; then
    echo "FAIL GStreamer was found but $PLUGIN_DIR/libgstst2v.so or $EXAMPLE is missing (make)"
    echo "0 passed, 1 failed"
    exit 1
fi
[ "$(sed -n 's/^HAVE_GST_CHECK=//p' config.mak)" = yes ] ||
    echo "note: gst-check not found: tests/test_gst_st2vsrc is not built"

ROOT=$(pwd)
PLUGIN_DIR=$(abspath "$PLUGIN_DIR")
EXAMPLE=$(abspath "$EXAMPLE")
TINY=$(abspath "$FIX/tiny.safetensors")
DOC=$(abspath "$DOC")
scratch_dir gst

# The plugin from the tree only (a private registry, so an installed copy
# or a stale cache never answers instead), and no model from the
# environment unless a check sets one.
export GST_PLUGIN_PATH=$PLUGIN_DIR
export GST_REGISTRY=$TMP/registry.bin
unset ST2V_MODEL
# make check-asan: the sanitizer build's plugin needs the ASan and UBSan
# runtimes loaded first into the (uninstrumented) gst tools. Wrappers
# first on PATH preload them into gst-launch-1.0 and gst-inspect-1.0 (and
# the gst-plugin-scanner they start) wherever a check or a recipe runs
# them, and into nothing else (awk, grep: not this test's to check).
# LeakSanitizer stays on; the one suppression is GLib's own: 16 kB that a
# library constructor allocates while loading (glib's, under _dl_init),
# which needs the full stack to be told apart (GLib keeps no frame
# pointers), hence fast_unwind_on_malloc=0. Nothing of st2v or
# GStreamer is suppressed.
if [ "$B" != build ] && nm -D "$PLUGIN_DIR/libgstst2v.so" 2>/dev/null | grep -q ' U __asan_init$'; then
    mkdir -p "$TMP/bin"
    printf 'leak:_dl_init\n' >"$TMP/lsan.supp"
    for tool in gst-launch-1.0 gst-inspect-1.0; do
        cat >"$TMP/bin/$tool" <<EOF
#!/bin/sh
LD_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)" \\
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}fast_unwind_on_malloc=0" \\
LSAN_OPTIONS="suppressions=$TMP/lsan.supp:print_suppressions=0" \\
    exec $(command -v $tool) "\$@"
EOF
        chmod +x "$TMP/bin/$tool"
    done
    PATH=$TMP/bin:$PATH
    echo "# $B: gst-launch-1.0 and gst-inspect-1.0 run with libasan and libubsan preloaded"
fi

launch() { timeout 120 gst-launch-1.0 -q "$@"; }

echo "# $(gst-launch-1.0 --version | head -n 1)"

# --------------------------------------------------------- gst-inspect
gst-inspect-1.0 st2vsrc >"$TMP/inspect" 2>&1
check "gst-inspect-1.0 finds st2vsrc in the plugin st2v" \
    sh -c "grep -q 'Klass *Source/Video' '$TMP/inspect' && grep -q 'Name *st2v' '$TMP/inspect'"
check "the plugin st2v declares the LGPL (LICENSE: LGPL-2.1-or-later)" \
    grep -q '^  License  *LGPL$' "$TMP/inspect"
version=$(sed -n 's/^#define ST2V_VERSION_STRING "\(.*\)"/\1/p' "$(dirname "$0")/../core/st2v.h")
check "the plugin's version is libst2v's (${version:-?})" \
    grep -q "^  Version  *${version:-?}\$" "$TMP/inspect"
missing=
for p in prompt negative-prompt seed steps guidance sampler shift model threads \
    is-live image alpha queue-size dtype num-buffers; do
    grep -q "^  $p  *: ." "$TMP/inspect" || missing="$missing $p"
done
check "gst-inspect-1.0 st2vsrc lists every property with a blurb" test -z "$missing"
[ -n "$missing" ] && echo "  missing:$missing" >&2
check "gst-inspect-1.0 st2vsrc shows ranges, defaults and the samplers" \
    sh -c "grep -A2 '^  steps ' '$TMP/inspect' | grep -q 'Range: 0 - 1000 Default: 0' &&
           grep -A2 '^  seed ' '$TMP/inspect' | grep -q 'Range: -1 - 9223372036854775807 Default: -1' &&
           grep -A2 '^  queue-size ' '$TMP/inspect' | grep -q 'Default: 32' &&
           grep -q '(3): dpm++2m' '$TMP/inspect'"
mutable=$(awk '/^  [a-z-]+ +: / { p = $1 } /changeable in NULL, READY, PAUSED or PLAYING/ { print p }' \
    "$TMP/inspect" | tr '\n' ' ')
check "prompt, negative-prompt and guidance (and only they) change while PLAYING" \
    test "$mutable" = "guidance negative-prompt prompt "
check "the caps offer RGB, RGBA, BGRx, I420 and NV12" \
    grep -q 'format: { (string)RGB, (string)RGBA, (string)BGRx, (string)I420, (string)NV12 }' "$TMP/inspect"
undocumented=
for p in prompt negative-prompt seed steps guidance sampler shift model threads \
    is-live image alpha queue-size dtype; do
    grep -q "^| \`$p\` |" "$DOC" || undocumented="$undocumented $p"
done
check "docs/gstreamer.md documents every property" test -z "$undocumented"
check "the plugin exports only its entry points (libst2v stays inside)" \
    test "$(nm -D --defined-only "$PLUGIN_DIR/libgstst2v.so" | awk '$2 == "T" { print $3 }' | sort | tr '\n' ' ')" = \
    "gst_plugin_st2v_get_desc gst_plugin_st2v_register "

# ------------------------------------------------------- the default model
# No model property and no ST2V_MODEL: the build tree's model. One sampling
# step, so a large trained model costs little here.
GST_DEBUG=st2vsrc:4 GST_DEBUG_NO_COLOR=1 launch st2vsrc prompt="snow falling at night" \
    steps=1 num-buffers=4 ! fakesink >"$TMP/default.log" 2>&1
check "with no model property the plugin finds models/default.safetensors" \
    grep -q "($ROOT/models/default.safetensors)" "$TMP/default.log"

# An installed layout elsewhere: PREFIX/lib/gstreamer-1.0/libgstst2v.so
# finds PREFIX/share/st2v/default.safetensors (the tiny model here).
mkdir -p "$TMP/prefix/lib/gstreamer-1.0" "$TMP/prefix/share/st2v"
cp "$PLUGIN_DIR/libgstst2v.so" "$TMP/prefix/lib/gstreamer-1.0/"
cp "$TINY" "$TMP/prefix/share/st2v/default.safetensors"
GST_PLUGIN_PATH=$TMP/prefix/lib/gstreamer-1.0 GST_REGISTRY=$TMP/registry-prefix.bin \
    GST_DEBUG=st2vsrc:4 GST_DEBUG_NO_COLOR=1 launch st2vsrc prompt=sea num-buffers=4 ! fakesink \
    >"$TMP/prefix.log" 2>&1
check "an installed plugin finds PREFIX/share/st2v/default.safetensors" \
    grep -q "($(cd "$TMP/prefix/share/st2v" && pwd -P)/default.safetensors)" "$TMP/prefix.log"
check "ST2V_MODEL overrides the default model" \
    sh -c "ST2V_MODEL='$TINY' GST_DEBUG=st2vsrc:4 GST_DEBUG_NO_COLOR=1 timeout 60 gst-launch-1.0 -q \
           st2vsrc prompt=sea num-buffers=2 ! fakesink 2>&1 | grep -q '($TINY)'"

# ------------------------------------------------------------ gst-launch
export ST2V_MODEL=$TINY
launch st2vsrc prompt="a red ball" seed=7 num-buffers=20 ! video/x-raw,format=I420,width=64,height=48 ! \
    filesink location="$TMP/a.yuv" >/dev/null 2>&1
launch st2vsrc prompt="a red ball" seed=7 num-buffers=20 threads=2 ! video/x-raw,format=I420,width=64,height=48 ! \
    filesink location="$TMP/b.yuv" >/dev/null 2>&1
check "gst-launch-1.0 writes 20 I420 frames of 64x48" test "$(stat -c %s "$TMP/a.yuv" 2>/dev/null)" = $((20 * 64 * 48 * 3 / 2))
check "the same seed gives the same bytes from gst-launch-1.0" cmp -s "$TMP/a.yuv" "$TMP/b.yuv"
check "st2vsrc ! videoconvert plays in real time to a syncing sink" \
    launch st2vsrc prompt="snow falling at night" num-buffers=16 ! videoconvert ! fakesink sync=true
# dtype (issue 21): bfloat16 products on a CPU with AVX512-BF16, float32
# (f32's bytes) on one without; the element's own checks of it (libst2v's
# bf16 frames, READY only): tests/test_gst_st2vsrc.c
launch st2vsrc prompt="a red ball" seed=7 num-buffers=20 dtype=bf16 ! video/x-raw,format=I420,width=64,height=48 ! \
    filesink location="$TMP/bf16.yuv" >/dev/null 2>&1
check "dtype=bf16: gst-launch-1.0 writes 20 I420 frames of 64x48" \
    test "$(stat -c %s "$TMP/bf16.yuv" 2>/dev/null)" = $((20 * 64 * 48 * 3 / 2))
if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null && [ "${ST2V_CPU:-avx512bf16}" = avx512bf16 ]; then
    check "AVX512-BF16: dtype=bf16 gives other bytes than f32" \
        test -s "$TMP/bf16.yuv" -a -n "$(cmp "$TMP/a.yuv" "$TMP/bf16.yuv" 2>&1)"
fi
ST2V_CPU=avx2 launch st2vsrc prompt="a red ball" seed=7 num-buffers=20 dtype=bf16 ! \
    video/x-raw,format=I420,width=64,height=48 ! filesink location="$TMP/bf16-avx2.yuv" >/dev/null 2>&1
ST2V_CPU=avx2 launch st2vsrc prompt="a red ball" seed=7 num-buffers=20 ! \
    video/x-raw,format=I420,width=64,height=48 ! filesink location="$TMP/f32-avx2.yuv" >/dev/null 2>&1
check "ST2V_CPU=avx2: dtype=bf16 computes in float32 (f32's bytes)" \
    test -s "$TMP/bf16-avx2.yuv" -a "$(cmp "$TMP/f32-avx2.yuv" "$TMP/bf16-avx2.yuv" 2>&1)" = ""

refuse() { # refuse NAME MESSAGE-REGEX LAUNCH-ARGS...
    local name=$1 want=$2 rc
    shift 2
    timeout 60 gst-launch-1.0 "$@" >"$TMP/refuse.out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        fail "$name" "accepted: $*"
    elif [ $rc -eq 124 ] || { [ $rc -gt 128 ] && [ $rc -lt 255 ]; }; then
        # gst-launch-1.0 exits with 1 or 255 (-1) on an error; 124 is the
        # timeout, 129..254 a signal
        fail "$name" "exit status $rc (hang or crash): $*"
    elif ! grep -Eq "$want" "$TMP/refuse.out"; then
        fail "$name" "no message matching '$want': $(grep -i error "$TMP/refuse.out" | head -c 300)"
    else
        ok "$name"
    fi
}
printf 'not a model' >"$TMP/corrupt.safetensors"
refuse "gst-launch-1.0 refuses a missing model, naming it" \
    "Cannot load the model '$TMP/nope.safetensors'" st2vsrc prompt=sea model="$TMP/nope.safetensors" ! fakesink
refuse "gst-launch-1.0 refuses a corrupt model, naming it" \
    "Cannot load the model '$TMP/corrupt.safetensors'" st2vsrc prompt=sea model="$TMP/corrupt.safetensors" ! fakesink
refuse "gst-launch-1.0 refuses no prompt" "The prompt is empty" st2vsrc ! fakesink
refuse "gst-launch-1.0 refuses dtype=fp64" 'could not set property "dtype"' st2vsrc prompt=sea dtype=fp64 ! fakesink
ST2V_MODEL=$TMP/nope.safetensors refuse "gst-launch-1.0 refuses a missing default model" \
    "Cannot load the model|No default model" st2vsrc prompt=sea ! fakesink
# (framerate 0/1 and odd sizes: tests/test_gst_st2vsrc.c; gst-launch-1.0
# 1.22 itself sometimes hangs when two errors come during preroll)

# hostile inputs (issue 23). gst-launch-1.0 itself refuses a prompt that is
# not UTF-8 and a value its property cannot hold; the element's own
# refusals of those: tests/test_gst_st2vsrc.c
refuse "gst-launch-1.0 refuses a prompt with a control character" \
    "^ERROR: from element .*Invalid prompt: prompt holds the control character U\+0001" \
    st2vsrc prompt="$(printf 'a \001 ball')" ! fakesink
refuse "gst-launch-1.0 refuses a 100 kB prompt" \
    "^ERROR: from element .*Invalid prompt: prompt is 100000 bytes long: at most 65536" \
    st2vsrc prompt="$(head -c 100000 /dev/zero | tr '\0' a)" ! fakesink
refuse "gst-launch-1.0 refuses a prompt that is not UTF-8 (its parser)" \
    'could not set property "prompt"' st2vsrc prompt="$(printf 'a \377 ball')" ! fakesink
for caps in width=0,height=0 width=1,height=1 width=100000,height=100000 \
    framerate=-5/1 framerate=1/0; do
    refuse "gst-launch-1.0 refuses caps $caps" "can't handle caps|Invalid size|frame rate" \
        st2vsrc prompt=sea num-buffers=1 ! "video/x-raw,$caps" ! fakesink
done
# (an odd size in I420: tests/test_gst_st2vsrc.c; gst-launch-1.0 1.22
# sometimes hangs on the two errors of a failed negotiation)
refuse "gst-launch-1.0 refuses an unknown sampler" 'could not set property "sampler"' \
    st2vsrc prompt=sea sampler=ddim ! fakesink
refuse "gst-launch-1.0 refuses guidance inf" 'could not set property "guidance"' \
    st2vsrc prompt=sea guidance=inf ! fakesink
# numeric properties out of range or NaN: GObject hands them on
# (gst-st2v/st2vparam.c) and the element refuses them at start
for prop in steps=100000000 guidance=nan guidance=-3 threads=999 queue-size=0; do
    refuse "gst-launch-1.0 refuses $prop" \
        "^ERROR: from element .*Invalid setting: ${prop%%=*} ${prop#*=} is (out of range|not a number)" \
        st2vsrc prompt=sea num-buffers=1 "$prop" ! fakesink
done
check "gst-launch-1.0 steps=0 (the model's default) runs" \
    timeout 60 gst-launch-1.0 -q st2vsrc prompt=sea num-buffers=1 steps=0 ! fakesink
hostile_models "$TINY" "$TMP"
cp -r "$FIX/wan/tiny" "$TMP/wan-world"
cp "$TINY" "$TMP/wan-world/diffusion_pytorch_model.safetensors"
mkdir -p "$TMP/plain-dir"
echo notes >"$TMP/plain-dir/README.txt"
mkfifo "$TMP/model.fifo"
for m in "cut.safetensors:outside the data section" "random.safetensors:header length" \
    "header-only.safetensors:outside the data section" "past-end.safetensors:\[1000000000, .*outside" \
    "overlap.safetensors:overlap tensor" "negative-length.safetensors:header length" \
    "huge-length.safetensors:header length" "wan-world:mixes two model families" \
    "plain-dir:holds no model" "model.fifo:not a regular file"; do
    refuse "gst-launch-1.0 refuses the model ${m%%:*}" \
        "^ERROR: from element .*Cannot load the model '$TMP/${m%%:*}': .*${m#*:}" \
        st2vsrc prompt=sea model="$TMP/${m%%:*}" ! fakesink
done
refuse "gst-launch-1.0 refuses a Wan DiT file as the model" \
    "^ERROR: from element .*Cannot load the model .*missing the VAE" \
    st2vsrc prompt=sea model="$FIX/wan/tiny/diffusion_pytorch_model.safetensors" ! fakesink
refuse "gst-launch-1.0 refuses /dev/zero as the model" \
    "^ERROR: from element .*Cannot load the model '/dev/zero': .*not a regular file" \
    st2vsrc prompt=sea model=/dev/zero ! fakesink
# an output that cannot be written (filesink's own error); root writes a
# read-only folder anyway, so then /sys
mkdir -p "$TMP/ro"
chmod 555 "$TMP/ro"
ro=$TMP/ro
touch "$TMP/ro/probe" 2>/dev/null && { rm -f "$TMP/ro/probe"; ro=/sys; }
refuse "gst-launch-1.0 refuses an output in a read-only folder ($ro)" "Could not open file" \
    st2vsrc prompt=sea num-buffers=1 ! filesink location="$ro/out.raw"
chmod 755 "$TMP/ro"
# odd but valid prompts render (gst-launch-1.0 splits a value at a tab or
# a newline: those are tests/test_generator.c's)
words=$(for i in $(seq 1250); do printf 'red Ball SEA bouncing '; done)
for p in "$words" "a cat 🐱 with a balloon 🎈" "A Red BALL on the sEa" "ČERVENÝ MÍČ SKÁČE" \
    "  a red ball  "; do
    rm -f "$TMP/odd.rgb"
    launch st2vsrc prompt="$p" steps=1 num-buffers=1 ! video/x-raw,format=RGB ! \
        filesink location="$TMP/odd.rgb" >/dev/null 2>&1
    check "gst-launch-1.0 renders the prompt '$(printf '%s' "$p" | tr '\t\n' '  ' | cut -c1-24)...'" \
        test "$(stat -c %s "$TMP/odd.rgb" 2>/dev/null)" = $((32 * 32 * 3))
done

# ----------------------------------------------------------------- Wan2.1
# The tiny runnable Wan2.1 folder (official layout): sides divisible by 16,
# 16 fps, a first window of 81 frames, then chunks of 76; its native size
# is 832x480, so every pipeline sets caps. (Its prompt changes and the
# refusal of 40x32: tests/test_gst_st2vsrc.c.)
WAN=$(abspath "$FIX/wan/tiny")
launch st2vsrc model="$WAN" prompt="a red ball" seed=3 steps=2 num-buffers=9 ! \
    video/x-raw,format=RGB,width=48,height=32 ! filesink location="$TMP/wan.rgb" >/dev/null 2>&1
check "a Wan2.1 folder: gst-launch-1.0 writes 9 RGB frames of 48x32" \
    test "$(stat -c %s "$TMP/wan.rgb" 2>/dev/null)" = $((9 * 48 * 32 * 3))
FFMPEG=$ROOT/$B/bin/ffmpeg
[ -x "$FFMPEG" ] || FFMPEG=$ROOT/build/bin/ffmpeg
if [ -x "$FFMPEG" ]; then
    timeout 120 "$FFMPEG" -nostdin -v error -f lavfi \
        -i "st2v=model=$WAN:prompt='a red ball':seed=3:steps=2:size=48x32:d=-1" \
        -frames:v 9 -f rawvideo -pix_fmt rgb24 "$TMP/wan-ffmpeg.rgb" 2>/dev/null
    check "a Wan2.1 folder: st2vsrc gives the ffmpeg filter's endless stream, byte for byte" \
        cmp -s "$TMP/wan.rgb" "$TMP/wan-ffmpeg.rgb"
fi

# endless: max RSS of 200 and of 800 buffers (3 and 11 chunks) within 5 %
wan_rss() { # wan_rss BUFFERS -> max RSS in kB
    no_quarantine /usr/bin/time -f '%M' -o "$TMP/wan-rss.$1" timeout 120 gst-launch-1.0 -q \
        st2vsrc model="$WAN" prompt="snow falling" seed=1 steps=1 threads=1 num-buffers="$1" ! \
        video/x-raw,width=48,height=32 ! fakesink name=sink >/dev/null 2>"$TMP/wan-endless.err"
    tail -n 1 "$TMP/wan-rss.$1"
}
if [ -x /usr/bin/time ]; then
    w200=$(wan_rss 200)
    w800=$(wan_rss 800)
    check "a Wan2.1 folder streams in flat memory (max RSS ${w200:-?} kB at 200 buffers, ${w800:-?} kB at 800)" \
        test -n "$w200" -a -n "$w800" -a "${w800:-0}" -le $((${w200:-0} + ${w200:-0} / 20))
else
    fail "a Wan2.1 folder streams in flat memory" "/usr/bin/time is missing (apt-get install time)"
fi

# a folder without its VAE, and one whose DiT file is cut short
cp -r "$WAN" "$TMP/wan-novae"
rm "$TMP/wan-novae/Wan2.1_VAE.safetensors"
cp -r "$WAN" "$TMP/wan-cut"
truncate -s 20000 "$TMP/wan-cut/diffusion_pytorch_model.safetensors"
refuse "gst-launch-1.0 refuses a Wan2.1 folder without its VAE, naming the VAE" \
    "^ERROR: from element .*Cannot load the model '$TMP/wan-novae': .*missing the VAE \(Wan2.1_VAE.safetensors" \
    st2vsrc prompt=sea model="$TMP/wan-novae" ! fakesink
refuse "gst-launch-1.0 refuses a Wan2.1 folder whose DiT file is cut short, naming the file" \
    "^ERROR: from element .*Cannot load the model '$TMP/wan-cut': .*diffusion_pytorch_model.safetensors: tensor .* outside" \
    st2vsrc prompt=sea model="$TMP/wan-cut" ! fakesink

# ------------------------------------------------------- the example program
"$EXAMPLE" -i 1 -t 3 -s fakesink >"$TMP/example.out" 2>"$TMP/example.err"
rc=$?
check "the example program changes the prompt every second while playing (exit $rc)" \
    test $rc -eq 0 -a "$(grep -c '^prompt: ' "$TMP/example.out")" -ge 3
check "the example program reports chunks from the progress messages" \
    grep -q '^generating chunk 1$' "$TMP/example.out"
[ $rc -ne 0 ] && head -n 5 "$TMP/example.err" >&2
awk '/^<!-- example: / { want = 1; next }
     want && /^```/ { if (inblock) exit; inblock = 1; next }
     inblock { print }' "$DOC" >"$TMP/example.c"
check "docs/gstreamer.md lists gst-st2v/examples/change-prompt.c as it is" \
    cmp -s "$TMP/example.c" gst-st2v/examples/change-prompt.c

# ------------------------------------------- a short soak (tools/soak.py gst)
# docs/robustness.md "Long runs" in 20 s: a live st2vsrc, the prompt
# changed every 4 s, through tools/soak.py and its checker. Asserted: no
# error, every timestamp gap and DISCONT announced by the element's QoS
# message (the checker's exit status), the prompts applied; not RSS or
# speed (a loaded machine), hence the wide RSS tolerance.
SOAK=$(abspath "$B/bin")/st2v-soak-gst
PY=${PY:-/usr/bin/python3}
if [ -x "$SOAK" ]; then
    ST2V_MODEL=$TINY timeout 120 "$PY" tools/soak.py gst --seconds 20 --prompt-interval 4 \
        --checker "$SOAK" --warmup 10 --sample 1 --rss-tolerance 50 \
        --json "$TMP/soak.json" >"$TMP/soak.out" 2>&1
    soak() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, r))' \
        "$TMP/soak.json" "$1" 2>/dev/null; }
    check "soak 20 s: the checker exits 0: no error, no gap or DISCONT without a QoS message ($(soak '"buffers=%d gaps=%d unexplained=%d qos=%d" % (buffers, gaps, unexplained_gaps, qos_src)'))" \
        test "$(soak 'exit_status == 0 and errors == 0 and unexplained_gaps == 0 and unexplained_discont == 0')" = True
    check "soak 20 s: buffers flow at 16/1, with continuous timestamps up to the gaps announced" \
        test "$(soak 'fps == "16/1" and buffers > 0 and abs(pts_span_s * 16 - buffers - gap_frames) <= 1')" = True
    check "soak 20 s: 4 prompt changes set, all but the last applied ($(soak '"%d set, %d applied" % (prompts_set, prompts_applied)'))" \
        test "$(soak 'prompts_set >= 4 and prompts_applied >= prompts_set - 1')" = True
    check "soak 20 s: RSS sampled from /proc every second" \
        test "$(soak 'samples >= 15 and rss_end_mib > 0')" = True
    [ -s "$TMP/soak.json" ] || head -n 5 "$TMP/soak.out" >&2
    "$SOAK" -t 0 >"$TMP/soak-bad.out" 2>&1
    rc=$?
    check "the soak checker refuses -t 0 with one line and status 2 (status $rc)" \
        test $rc -eq 2 -a "$(wc -l <"$TMP/soak-bad.out")" -eq 1
else
    fail "a short soak" "$SOAK is missing (make)"
fi

# --------------------------------------------------- docs/gstreamer.md recipes
# Each block after a line "<!-- tested: NAME OUTPUT -->" runs in a scratch
# directory with the tiny model as the default; OUTPUT must then hold
# decodable video (ffprobe when the project built one, else qtdemux).
FFPROBE=$ROOT/$B/bin/ffprobe
[ -x "$FFPROBE" ] || FFPROBE=$ROOT/build/bin/ffprobe
frames_in() { # frames_in FILE -> a frame count (ffprobe), or "?" (demuxes), or nothing
    if [ -x "$FFPROBE" ]; then
        "$FFPROBE" -v error -count_frames -select_streams v:0 \
            -show_entries stream=nb_read_frames -of csv=p=0 "$1" 2>/dev/null
    elif timeout 60 gst-launch-1.0 -q filesrc location="$1" ! qtdemux ! fakesink >/dev/null 2>&1; then
        echo "?"
    fi
}
run_recipes "$DOC" "$TMP/recipes" docs/gstreamer.md frames_in
check "docs/gstreamer.md has tested recipes (mp4, compositor)" test "$n_recipes" -ge 2

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
