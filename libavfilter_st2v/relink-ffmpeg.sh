#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# relink-ffmpeg.sh - an ffmpeg and ffprobe whose st2v filter and libst2v
# are compiled with other flags (make check-asan's: AddressSanitizer and
# UBSan), made from an FFmpeg that build-ffmpeg.sh built already, without
# building FFmpeg again.
#
#   libavfilter_st2v/relink-ffmpeg.sh -f FFMPEG_BUILD -l LIBST2V_A \
#                                     -o WORK_DIR -b BIN_DIR -c "FLAGS"
#
#   1. compiles libavfilter_st2v/vsrc_st2v.c with FFmpeg's own flags (from
#      FFMPEG_BUILD/ffbuild/config.mak) followed by FLAGS, into WORK_DIR;
#   2. asks FFmpeg's make for its own link commands of ffmpeg_g and
#      ffprobe_g (make -n: nothing is written in FFMPEG_BUILD) and runs
#      them with FLAGS, the new vsrc_st2v.o ahead of libavfilter.a and
#      LIBST2V_A ahead of the staged libst2v.a, writing WORK_DIR/ffmpeg_g
#      and WORK_DIR/ffprobe_g;
#   3. copies them to BIN_DIR as ffmpeg and ffprobe.
#
# FFmpeg's own code stays as it was built (-O3, not instrumented); ASan
# still sees every allocation of the process, since its runtime replaces
# malloc and free. Seconds, instead of a 10-20 minute FFmpeg build.

set -eu

die() {
    echo "relink-ffmpeg.sh: error: $*" >&2
    exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: $0 -f FFMPEG_BUILD -l LIBST2V_A -o WORK_DIR -b BIN_DIR -c FLAGS"
ff=
lib=
work=
bindir=
flags=
while getopts f:l:o:b:c: opt; do
    case $opt in
        f) ff=$OPTARG ;;
        l) lib=$OPTARG ;;
        o) work=$OPTARG ;;
        b) bindir=$OPTARG ;;
        c) flags=$OPTARG ;;
        *) die "$usage" ;;
    esac
done
[ -n "$ff" ] && [ -n "$lib" ] && [ -n "$work" ] && [ -n "$bindir" ] || die "$usage"
[ -f "$ff/ffbuild/config.mak" ] && [ -f "$ff/ffmpeg_g" ] && [ -f "$ff/ffprobe_g" ] ||
    die "no built FFmpeg in $ff: run make ffmpeg (build-ffmpeg.sh) first"
[ -f "$lib" ] || die "$lib is missing"
grep -q '^CONFIG_ST2V_FILTER=yes' "$ff/ffbuild/config.mak" ||
    die "$ff was configured without the st2v filter"

mkdir -p "$work/stage/lib" "$work/stage/include" "$bindir"
ff=$(cd "$ff" && pwd)
work=$(cd "$work" && pwd)
bindir=$(cd "$bindir" && pwd)
cp "$lib" "$work/stage/lib/libst2v.a"
cp "$root/core/st2v.h" "$work/stage/include/st2v.h"

mak() { sed -n "s/^$1=//p" "$ff/ffbuild/config.mak" | tail -n 1; }
src=$(mak SRC_PATH)
case $src in /*) ;; *) src=$ff/$src ;; esac

# ---------------------------------------------------------------- 1. compile
# FFmpeg's command for a libavfilter object ($(CC) $(CPPFLAGS) $(CFLAGS)
# -I. -I$(SRC_PATH), run in the build directory), with libavfilter/ for
# the filter's own "avfilter.h" includes and this st2v.h ahead of the
# staged one; FLAGS last, so that their -O and frame pointer win.
start=$(date +%s)
# shellcheck disable=SC2046,SC2086
(cd "$ff" && $(mak CC) $(mak CPPFLAGS) $(mak CFLAGS) -I. -I"$src" -iquote "$src/libavfilter" \
    -I"$work/stage/include" $flags -c -o "$work/vsrc_st2v.o" "$root/libavfilter_st2v/vsrc_st2v.c") ||
    die "compiling vsrc_st2v.c failed"

# ---------------------------------------------------------------- 2. link
# FFmpeg's link lines as its make would run them (-W: as if the programs'
# main objects had changed; -n: printed, not run), without the variables
# of a make that runs this script (make check-asan's CFLAGS and LDFLAGS
# would replace FFmpeg's own, its -L paths with them)
lines=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ff" -n -W fftools/ffmpeg.o -W fftools/ffprobe.o ffmpeg_g ffprobe_g 2>/dev/null |
    sed -n 's/^.*; *//; / -o ff\(mpeg\|probe\)_g /p')
for p in ffmpeg ffprobe; do
    line=$(printf '%s\n' "$lines" | grep -- " -o ${p}_g " | tail -n 1)
    [ -n "$line" ] || die "FFmpeg's make printed no link command for ${p}_g"
    head=${line%% -o "${p}"_g *}
    tail=${line#* -o "${p}"_g }
    # an object named on the command line is always linked: had the
    # linker also pulled libavfilter.a's vsrc_st2v.o, ff_vsrc_st2v would
    # be defined twice and the link would fail
    (cd "$ff" && eval "$head $flags -L'$work/stage/lib' -o '$work/${p}_g' '$work/vsrc_st2v.o' $tail") ||
        die "linking $p failed"
done

# ---------------------------------------------------------------- 3. copy
for p in ffmpeg ffprobe; do
    cp "$work/${p}_g" "$bindir/$p"
done
echo "relink-ffmpeg.sh: $bindir/ffmpeg and $bindir/ffprobe (FFmpeg's objects from $ff; the st2v filter and $lib with: $flags) in $(($(date +%s) - start)) s"
