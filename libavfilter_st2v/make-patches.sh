#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# make-patches.sh - the st2v source filter as a patch series in FFmpeg's
# own style, for `git am` on a pristine FFmpeg tree.
#
#   libavfilter_st2v/make-patches.sh FFMPEG_SOURCE OUTDIR
#
# FFMPEG_SOURCE is a pristine FFmpeg tree (a release tarball's, Debian's
# `apt-get source`, or a git checkout: then its HEAD), or a release tarball
# itself (ffmpeg-X.Y.Z.tar.xz, Debian's ffmpeg_X.Y.Z.orig.tar.xz). It is
# not modified:
# the script copies the files the series changes into a scratch git
# repository, commits them as the base, then commits our changes the way
# an FFmpeg developer would send them, one commit each:
#
#   0001 avfilter: add st2v video source filter
#        libavfilter/vsrc_st2v.c, allfilters.c, Makefile, configure
#        (--enable-libst2v, found with pkg-config): integrate.sh's edits
#   0002 doc/filters: document the st2v source
#        ffmpeg/st2v.texi as "@section st2v" in doc/filters.texi's
#        Video Sources chapter, after sierpinski
#   0003 fate: add st2v filter test
#        ffmpeg/filter-video.mak into tests/fate/filter-video.mak (next to
#        the other ffprobe metadata tests), ffmpeg/filter-st2v (or
#        ffmpeg/filter-st2v-X.Y) as tests/ref/fate/filter-st2v
#
# and writes them with `git format-patch` into OUTDIR (its old NNNN-*.patch
# files are replaced). The output is the same bytes on every run for the
# same inputs: fixed author and dates, --zero-commit, no signature. So the
# committed series in libavfilter_st2v/patches/ffmpeg-X.Y/ are checked
# against a fresh run (libavfilter_st2v/check-patches.sh, make
# check-ffmpeg-patches); `make ffmpeg-patches` regenerates them.
#
# Environment: ST2V_PATCH_AUTHOR ("Name <email>") for the From: line.

set -eu

die() {
    echo "make-patches.sh: error: $*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: $0 FFMPEG_SOURCE OUTDIR"
src=$1
outdir=$2
here=$(cd "$(dirname "$0")" && pwd)
frag=$here/ffmpeg

if [ -d "$src" ]; then
    for f in configure libavfilter/allfilters.c doc/filters.texi tests/fate/filter-video.mak; do
        [ -f "$src/$f" ] || die "$src is not an FFmpeg source tree (no $f)"
    done
    [ ! -e "$src/libavfilter/vsrc_st2v.c" ] ||
        die "$src already has libavfilter/vsrc_st2v.c: give a pristine FFmpeg tree"
else
    case $src in
        *.tar.xz | *.tar.gz | *.tar.bz2) [ -f "$src" ] || die "no file $src" ;;
        *) die "$src is neither an FFmpeg source tree nor a .tar.xz/.tar.gz/.tar.bz2 of one" ;;
    esac
fi
for f in st2v.texi filter-video.mak filter-st2v; do
    [ -f "$frag/$f" ] || die "$frag/$f is missing"
done
command -v git >/dev/null 2>&1 || die "git not found"
mkdir -p "$outdir" || die "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)

author=${ST2V_PATCH_AUTHOR:-st2v developers <st2v-devel@example.org>}
name=${author% <*}
email=${author##*<}
email=${email%>}
[ -n "$name" ] && [ "$email" != "$author" ] ||
    die "ST2V_PATCH_AUTHOR must read 'Name <email>', not '$author'"
export GIT_AUTHOR_NAME="$name" GIT_AUTHOR_EMAIL="$email"
export GIT_COMMITTER_NAME="$name" GIT_COMMITTER_EMAIL="$email"
# fixed dates: the same series, byte for byte, on every run
export GIT_AUTHOR_DATE="2026-12-05T12:00:00+0000"
export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
# no user or system git configuration (hooks, signing, diff options)
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=/nonexistent

work=$(mktemp -d "${TMPDIR:-/tmp}/st2v-patches.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/ffmpeg
mkdir "$tree"
# Only the files the series changes: a patch holds nothing of the others,
# so the output is the same as from the whole tree, in a second.
files="VERSION configure libavfilter/allfilters.c libavfilter/Makefile doc/filters.texi
tests/fate/filter-video.mak"
if [ -f "$src" ]; then
    top=$(tar -tf "$src" | head -n 1 | cut -d / -f 1)
    members=
    for f in $files; do members="$members $top/$f"; done
    # shellcheck disable=SC2086
    tar -xf "$src" -C "$tree" --strip-components=1 $members ||
        die "$src is not an FFmpeg release tarball"
elif git -C "$src" rev-parse --verify -q HEAD >/dev/null 2>&1 &&
    [ "$(git -C "$src" rev-parse --show-toplevel)" = "$(cd "$src" && pwd -P)" ]; then
    # shellcheck disable=SC2086
    git -C "$src" archive HEAD -- $files | tar -x -C "$tree"
else
    for f in $files; do
        [ -f "$src/$f" ] || continue
        mkdir -p "$tree/$(dirname "$f")"
        cp -p "$src/$f" "$tree/$f"
    done
fi
grep -q libst2v "$tree/configure" &&
    die "$src/configure already knows libst2v: give a pristine FFmpeg tree"
mkdir -p "$tree/tests/ref/fate"

cd "$tree"
git init -q
git add -A
git commit -q -m "FFmpeg $(cat VERSION 2>/dev/null || echo source), pristine"
base=$(git rev-parse HEAD)

# ---------------------------------------------------------------- 0001
"$here/integrate.sh" "$tree" >/dev/null
git add -A
git commit -q -F - <<'EOF'
avfilter: add st2v video source filter

Generate video from a text prompt with libst2v, the text-to-video
engine of the st2v project. The library renders in chunks of about a
second, each conditioned on the end of the one before, so the filter
streams frame by frame and an endless stream (d=-1) runs in constant
memory. The prompt, negative prompt and guidance scale change at run
time through process_command (sendcmd, zmq) from the next chunk on.

Enabled with --enable-libst2v; the library is found with pkg-config
(st2v.pc).
EOF

# ---------------------------------------------------------------- 0002
# insert FRAGMENT into FILE before the first line matching the regular
# expression AT after the line equal to AFTER (anywhere when AFTER is
# empty); fail when either is not found
insert_before() { # FILE AFTER AT FRAGMENT
    awk -v after="$2" -v at="$3" -v frag="$4" '
        BEGIN { state = after == "" }
        state == 1 && $0 ~ at {
            while ((getline l < frag) > 0)
                print l
            state = 2
        }
        state == 0 && $0 == after { state = 1 }
        { print }
        END { exit state == 2 ? 0 : 1 }' "$1" >"$1.st2v-tmp" || {
        rm -f "$1.st2v-tmp"
        die "could not find where to insert $(basename "$4") in $1"
    }
    mv "$1.st2v-tmp" "$1"
}

insert_before doc/filters.texi "@section sierpinski" \
    '^(@section |@anchor|@c man end VIDEO SOURCES)' "$frag/st2v.texi"
git add doc/filters.texi
git commit -q -F - <<'EOF'
doc/filters: document the st2v source
EOF

# ---------------------------------------------------------------- 0003
insert_before tests/fate/filter-video.mak "" \
    '^FATE_SAMPLES_FFPROBE \+= \$\(FATE_METADATA_FILTER-yes\)$' \
    "$frag/filter-video.mak"
# ffprobe lists a frame's tags in the order the version keeps them (5.1:
# prompt, seed, chunk; 9.0: seed, prompt, chunk): a version may have its
# own reference, ffmpeg/filter-st2v-X.Y
ref=$frag/filter-st2v
version=$(cat VERSION 2>/dev/null || echo unknown)
[ ! -f "$frag/filter-st2v-${version%.*}" ] || ref=$frag/filter-st2v-${version%.*}
cp "$ref" tests/ref/fate/filter-st2v
git add tests/fate/filter-video.mak tests/ref/fate/filter-st2v
git commit -q -F - <<'EOF'
fate: add st2v filter test

Checks the frames' count, size, pixel format, timestamps and
metadata (prompt, seed, chunk) on a tiny model from the samples,
st2v/tiny.safetensors. The pixels themselves are not compared:
libst2v's matrix products come from the BLAS library, whose kernels,
picked for the CPU, round differently.
EOF

# ---------------------------------------------------------------- format-patch
rm -f "$outdir"/[0-9][0-9][0-9][0-9]-*.patch
git format-patch -q --zero-commit --no-signature -o "$outdir" "$base..HEAD" >/dev/null
ls "$outdir"/[0-9][0-9][0-9][0-9]-*.patch
