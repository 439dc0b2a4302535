#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# build-ffmpeg.sh - build a full-featured ffmpeg and ffprobe with the st2v
# source filter compiled into libavfilter.
#
#   libavfilter_st2v/build-ffmpeg.sh [-s FFMPEG_SOURCE] [-o BUILD_DIR]
#                                    [-b BIN_DIR] [-j JOBS] [-t TARGET]
#
# Run from the repository root after `make` (it needs build/lib/libst2v.a).
#
#   1. stages libst2v (static library, st2v.h and a private st2v.pc) in
#      build/stage, so that FFmpeg's configure finds it with pkg-config;
#   2. adds the filter to the FFmpeg source tree (integrate.sh, idempotent);
#   3. configures FFmpeg out of tree in BUILD_DIR (build/ffmpeg-X.Y), only
#      when the configuration changed: all built-in components plus libx264
#      and the external libraries scripts/setup-debian.sh installs;
#   4. builds with ccache (a clone in another folder reuses the cache) and
#      copies ffmpeg and ffprobe to BIN_DIR (build/bin). With -t, builds
#      only that make target (e.g. -t libavfilter/vsrc_st2v.o, to see the
#      filter compile against another FFmpeg in a minute).
#
# The source defaults to FFMPEG_SOURCE from config.mak, else the cached
# Debian 12 source (scripts/fetch-ffmpeg.sh). Environment: CC (default gcc),
# JOBS, ST2V_FFMPEG_EXTRA (more FFmpeg configure flags).

set -eu

die() {
    echo "build-ffmpeg.sh: error: $*" >&2
    exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/libavfilter_st2v
cd "$root"

src=
out=
bindir=
target=
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
while getopts s:o:b:j:t: opt; do
    case $opt in
        s) src=$OPTARG ;;
        o) out=$OPTARG ;;
        b) bindir=$OPTARG ;;
        j) jobs=$OPTARG ;;
        t) target=$OPTARG ;;
        *) die "usage: $0 [-s FFMPEG_SOURCE] [-o BUILD_DIR] [-b BIN_DIR] [-j JOBS] [-t TARGET]" ;;
    esac
done

mak_var() { # the value of a variable in config.mak
    [ -f config.mak ] && sed -n "s/^$1=//p" config.mak | tail -n 1
}

[ -n "$src" ] || src=$(mak_var FFMPEG_SOURCE)
[ -n "$src" ] || src=${ST2V_FFMPEG_CACHE:-/var/tmp/st2v-ffmpeg}/ffmpeg-5.1
[ -f "$src/libavfilter/allfilters.c" ] ||
    die "no FFmpeg source at $src: run scripts/fetch-ffmpeg.sh, or ./configure --ffmpeg-source=DIR"
src=$(cd "$src" && pwd)
version=$(cat "$src/RELEASE" 2>/dev/null || cat "$src/VERSION" 2>/dev/null || echo unknown)
series=$(echo "$version" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
[ -n "$out" ] || out=build/ffmpeg-${series:-$version}
[ -n "$bindir" ] || bindir=build/bin

lib=build/lib/libst2v.a
[ -f "$lib" ] || die "$lib is missing: run make first"

# One build at a time: two at once in one tree break each other's archives.
if command -v flock >/dev/null 2>&1; then
    exec 9>build/.ffmpeg-build.lock
    flock 9
fi

# ---------------------------------------------------------------- 1. stage
# A private st2v.pc whose Libs carry every dependency, so that a plain
# (not --static) pkg-config links the static libst2v into ffmpeg: the
# binary then runs from anywhere without libst2v.so on the library path.
stage=$root/build/stage
mkdir -p "$stage/lib/pkgconfig" "$stage/include"
cmp -s "$lib" "$stage/lib/libst2v.a" || cp "$lib" "$stage/lib/libst2v.a"
cmp -s core/st2v.h "$stage/include/st2v.h" || cp core/st2v.h "$stage/include/st2v.h"
st2v_version=$(sed -n 's/^#define ST2V_VERSION_STRING "\(.*\)"/\1/p' core/st2v.h)
dep_libs=$(mak_var DEP_LIBS)
[ -n "$dep_libs" ] || dep_libs="-lopenblas -lcjson -lpng -lpthread -lm"
cat >"$stage/lib/pkgconfig/st2v.pc.tmp" <<EOF
prefix=$stage
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: st2v
Description: text-to-video generation engine (libst2v), staged for FFmpeg
Version: $st2v_version
Libs: -L\${libdir} -lst2v $dep_libs -ldl
Cflags: -I\${includedir}
EOF
if cmp -s "$stage/lib/pkgconfig/st2v.pc.tmp" "$stage/lib/pkgconfig/st2v.pc"; then
    rm -f "$stage/lib/pkgconfig/st2v.pc.tmp"
else
    mv "$stage/lib/pkgconfig/st2v.pc.tmp" "$stage/lib/pkgconfig/st2v.pc"
fi

# ---------------------------------------------------------------- 2. integrate
"$here/integrate.sh" "$src" >/dev/null

# ---------------------------------------------------------------- 3. configure
command -v ccache >/dev/null 2>&1 && ccache=ccache || ccache=
cc=${CC:-gcc}
# Every built-in filter, muxer, demuxer, encoder and decoder is on by
# default; these add the external libraries (setup-debian.sh installs them).
flags="--enable-gpl --enable-libst2v --enable-libx264 --enable-libzmq
--enable-libfreetype --enable-libfontconfig --enable-libfribidi
--enable-libmp3lame --enable-libopus --enable-libvpx
--disable-doc --disable-ffplay
${ST2V_FFMPEG_EXTRA:-}"
flags=$(echo $flags)
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PKG_CONFIG_PATH="$stage/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# ccache hits from another clone of the repository (CI's): paths relative
# to the repository, and the build directory left out of the hash (only the
# unstripped ffmpeg_g's debug info would name the wrong directory).
export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
stamp="$src $version $cc $flags $(cksum <"$src/configure") $(cksum <"$stage/lib/pkgconfig/st2v.pc")"
if [ ! -f "$out/ffbuild/config.mak" ] || [ "$(cat "$out/st2v-configure.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "build-ffmpeg.sh: configuring FFmpeg $version in $out"
    rm -f "$out/st2v-configure.stamp"
    # shellcheck disable=SC2086
    (cd "$out" && "$src/configure" --cc="${ccache:+$ccache }$cc" $flags >configure.out 2>&1) || {
        tail -n 30 "$out/configure.out" >&2
        tail -n 30 "$out/ffbuild/config.log" >&2 2>/dev/null || true
        die "FFmpeg's configure failed (see $out/configure.out and $out/ffbuild/config.log)"
    }
    grep -q '^CONFIG_ST2V_FILTER=yes' "$out/ffbuild/config.mak" ||
        die "FFmpeg configured without the st2v filter (see $out/ffbuild/config.log)"
    echo "$stamp" >"$out/st2v-configure.stamp"
fi

# ---------------------------------------------------------------- 4. build
# A new libst2v.a does not show in FFmpeg's dependencies: relink then.
for p in ffmpeg_g ffprobe_g; do
    if [ -f "$out/$p" ] && [ "$stage/lib/libst2v.a" -nt "$out/$p" ]; then
        rm -f "$out/$p"
    fi
done
start=$(date +%s)
if [ -n "$target" ]; then
    make -C "$out" -j"$jobs" "$target" >"$out/make.out" 2>&1 || {
        cat "$out/make.out" >&2
        die "building $target failed"
    }
    grep -E 'warning|error' "$out/make.out" >&2 || true
    echo "build-ffmpeg.sh: $target (FFmpeg $version) built in $(($(date +%s) - start)) s"
    exit 0
fi
make -C "$out" -j"$jobs" ffmpeg ffprobe >"$out/make.out" 2>&1 || {
    grep -E 'error|Error' "$out/make.out" | head -n 20 >&2
    tail -n 20 "$out/make.out" >&2
    die "building FFmpeg failed (see $out/make.out)"
}
mkdir -p "$bindir"
for p in ffmpeg ffprobe; do
    cmp -s "$out/$p" "$bindir/$p" || cp "$out/$p" "$bindir/$p"
done
echo "build-ffmpeg.sh: $bindir/ffmpeg and $bindir/ffprobe (FFmpeg $version) built in $(($(date +%s) - start)) s"
