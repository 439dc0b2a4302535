#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# check-patches.sh - check the committed FFmpeg patch series of the st2v
# filter (libavfilter_st2v/patches/ffmpeg-X.Y/) the way a user applies it:
#
#   libavfilter_st2v/check-patches.sh [-B LIBST2V_BUILD] [-w WORKDIR] X.Y
#   libavfilter_st2v/check-patches.sh -u X.Y
#
# With -u it only regenerates the committed series from FFmpeg X.Y's
# tarball (make ffmpeg-patches). Otherwise it:
#
#   1. unpacks FFmpeg X.Y's upstream tarball (scripts/fetch-ffmpeg.sh
#      downloads it from Debian once) into WORKDIR/pristine;
#   2. regenerates the series from it with make-patches.sh and fails when
#      the committed one differs (run `make ffmpeg-patches`);
#   3. copies the pristine tree to WORKDIR/src, commits it with git and
#      applies the committed series with `git am`;
#   4. stages libst2v (LIBST2V_BUILD/lib/libst2v.a, core/st2v.h, a private
#      st2v.pc) and configures the smallest FFmpeg that runs the test:
#      --disable-everything, the st2v filter, the lavfi device and ffprobe;
#   5. builds it with ccache, then runs `make fate-filter-st2v` (the tiny
#      test model as the samples' st2v/tiny.safetensors), `make
#      fate-source` (license headers) and `make doc/ffmpeg-filters.html`
#      (the texinfo of 0002 must build).
#
# Prints the time of each step; exits non-zero at the first failure.
# Defaults: LIBST2V_BUILD=build, WORKDIR=LIBST2V_BUILD/ffmpeg-patches-X.Y.
# Environment: CC (default gcc), JOBS, ST2V_FFMPEG_CACHE.

set -eu

die() {
    echo "check-patches.sh: error: $*" >&2
    exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/libavfilter_st2v
bdir=build
work=
update=
while getopts B:w:u opt; do
    case $opt in
        B) bdir=$OPTARG ;;
        w) work=$OPTARG ;;
        u) update=1 ;;
        *) die "usage: $0 [-B LIBST2V_BUILD] [-w WORKDIR] [-u] 5.1|9.0" ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || die "usage: $0 [-B LIBST2V_BUILD] [-w WORKDIR] [-u] 5.1|9.0"
series=$1
case $series in
    5.1 | 9.0) ;;
    *) die "no committed series for FFmpeg '$series' (give 5.1 or 9.0)" ;;
esac
cd "$root"
committed=$here/patches/ffmpeg-$series

# FFmpeg's upstream tarball, as Debian ships it (downloaded once)
scripts/fetch-ffmpeg.sh "$series" >/dev/null
cache=${ST2V_FFMPEG_CACHE:-/var/tmp/st2v-ffmpeg}
tarball=$(ls "$cache"/download/ffmpeg_"$series".*.orig.tar.xz 2>/dev/null | sort -V | tail -n 1)
[ -n "$tarball" ] || die "no ffmpeg_$series.*.orig.tar.xz in $cache/download"

if [ -n "$update" ]; then
    "$here/make-patches.sh" "$tarball" "$committed"
    exit 0
fi

ls "$committed"/0*.patch >/dev/null 2>&1 || die "no patches in $committed"
lib=$bdir/lib/libst2v.a
[ -f "$lib" ] || die "$lib is missing: run make first"
lib=$(cd "$(dirname "$lib")" && pwd)/libst2v.a
[ -n "$work" ] || work=$bdir/ffmpeg-patches-$series
mkdir -p "$work"
work=$(cd "$work" && pwd)
command -v makeinfo >/dev/null 2>&1 ||
    die "makeinfo not found, to build FFmpeg's documentation (apt-get install texinfo)"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

t0=$(date +%s)
step() { # print the time the last step took
    t1=$(date +%s)
    echo "check-patches.sh: FFmpeg $series: $* ($((t1 - t0)) s)"
    t0=$t1
}

# ---------------------------------------------------------------- 1. pristine
if [ "$(cat "$work/pristine.stamp" 2>/dev/null)" != "$tarball" ]; then
    rm -rf "$work/pristine" "$work/pristine.stamp"
    mkdir "$work/pristine"
    tar -xJf "$tarball" -C "$work/pristine" --strip-components=1
    echo "$tarball" >"$work/pristine.stamp"
fi
step "pristine source from $(basename "$tarball")"

# ---------------------------------------------------------------- 2. up to date
rm -rf "$work/patches"
"$here/make-patches.sh" "$tarball" "$work/patches" >/dev/null
diff -r "$committed" "$work/patches" >"$work/patches.diff" || {
    head -n 40 "$work/patches.diff" >&2
    die "$committed is out of date with libavfilter_st2v/: run make ffmpeg-patches"
}
step "committed series is up to date ($(ls "$committed" | tr '\n' ' '))"

# ---------------------------------------------------------------- 3. git am
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=check GIT_AUTHOR_EMAIL=check@invalid
export GIT_COMMITTER_NAME=check GIT_COMMITTER_EMAIL=check@invalid
rm -rf "$work/src"
cp -a "$work/pristine" "$work/src"
(
    cd "$work/src"
    git init -q
    git add -A
    git commit -q -m "FFmpeg $series, pristine"
    git am -q "$committed"/0*.patch
    git log --format='    %s' HEAD~3..HEAD
) || die "git am of $committed failed"
step "git am of the series"

# ---------------------------------------------------------------- 4. configure
stage=$work/stage
mkdir -p "$stage/lib/pkgconfig" "$stage/include"
cp "$lib" "$stage/lib/libst2v.a"
cp core/st2v.h "$stage/include/st2v.h"
dep_libs=$(sed -n 's/^DEP_LIBS=//p' config.mak 2>/dev/null | tail -n 1)
[ -n "$dep_libs" ] || dep_libs="-lopenblas -lcjson -lpng -lpthread -lm"
cat >"$stage/lib/pkgconfig/st2v.pc" <<EOF
prefix=$stage
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: st2v
Description: text-to-video generation engine (libst2v), staged for FFmpeg
Version: $(sed -n 's/^#define ST2V_VERSION_STRING "\(.*\)"/\1/p' core/st2v.h)
Libs: -L\${libdir} -lst2v $dep_libs -ldl
Cflags: -I\${includedir}
EOF
command -v ccache >/dev/null 2>&1 && ccache="ccache " || ccache=
export PKG_CONFIG_PATH="$stage/lib/pkgconfig"
export CCACHE_BASEDIR=$work CCACHE_NOHASHDIR=1
rm -rf "$work/build"
mkdir "$work/build"
(cd "$work/build" && "$work/src/configure" --cc="$ccache${CC:-gcc}" \
    --disable-everything --disable-autodetect --disable-programs \
    --enable-ffprobe --enable-libst2v --enable-filter=st2v \
    --enable-indev=lavfi --enable-decoder=rawvideo,wrapped_avframe \
    --enable-protocol=file,pipe >configure.out 2>&1) || {
    tail -n 20 "$work/build/configure.out" >&2
    die "FFmpeg's configure failed (see $work/build/ffbuild/config.log)"
}
grep -q '^CONFIG_ST2V_FILTER=yes' "$work/build/ffbuild/config.mak" ||
    die "FFmpeg configured without the st2v filter (see $work/build/ffbuild/config.log)"
grep -q '^HAVE_MAKEINFO_HTML=yes' "$work/build/ffbuild/config.mak" ||
    die "FFmpeg's configure found no makeinfo that writes HTML (see $work/build/ffbuild/config.log)"
step "configure --disable-everything --enable-libst2v --enable-filter=st2v ..."

# ---------------------------------------------------------------- 5. build, FATE
make -C "$work/build" -j"$jobs" ffprobe >"$work/build/make.out" 2>&1 || {
    grep -E 'error|Error' "$work/build/make.out" | head -n 20 >&2
    die "building FFmpeg failed (see $work/build/make.out)"
}
! grep -n 'vsrc_st2v.*warning' "$work/build/make.out" >&2 ||
    die "vsrc_st2v.c compiles with warnings"
step "make ffprobe"

mkdir -p "$work/samples/st2v"
cp tests/fixtures/tiny.safetensors "$work/samples/st2v/tiny.safetensors"
make -C "$work/build" fate-filter-st2v SAMPLES="$work/samples" >"$work/fate.out" 2>&1 || {
    cat "$work/fate.out" >&2
    die "make fate-filter-st2v failed"
}
grep -q '^TEST *filter-st2v$' "$work/fate.out" || {
    cat "$work/fate.out" >&2
    die "make fate-filter-st2v ran no test (is CONFIG_ST2V_FILTER set?)"
}
step "make fate-filter-st2v"

make -C "$work/build" fate-source >"$work/fate-source.out" 2>&1 || {
    cat "$work/fate-source.out" >&2
    die "make fate-source failed"
}
step "make fate-source"

make -C "$work/build" doc/ffmpeg-filters.html >"$work/doc.out" 2>&1 || {
    cat "$work/doc.out" >&2
    die "make doc/ffmpeg-filters.html failed"
}
! grep -i 'warning' "$work/doc.out" >&2 || die "makeinfo warned on doc/filters.texi"
grep -q 'href="#st2v"' "$work/build/doc/ffmpeg-filters.html" ||
    die "doc/ffmpeg-filters.html has no st2v section"
step "make doc/ffmpeg-filters.html"
echo "check-patches.sh: FFmpeg $series: the series applies, builds and passes"
