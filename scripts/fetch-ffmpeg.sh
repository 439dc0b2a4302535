#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fetch-ffmpeg.sh - get FFmpeg's source from Debian into a cache outside the
# repository, for the st2v filter build (libavfilter_st2v/build-ffmpeg.sh).
#
#   scripts/fetch-ffmpeg.sh [5.1|7.1|9.0]
#
#   5.1  Debian 12 (bookworm), the default: the FFmpeg Debian 12 ships
#   7.1  Debian 13 (trixie)
#   9.0  the newest release, from Debian's experimental or unstable
#
# Prints the source directory on its last line: $ST2V_FFMPEG_CACHE
# (default /var/tmp/st2v-ffmpeg) /ffmpeg-X.Y. Does nothing when that is
# already there. Needs the deb-src entries scripts/setup-debian.sh adds; it
# uses `apt-get source`, and unpacks the upstream tarball alone when
# Debian's packaging of that version cannot be had.

set -eu

die() {
    echo "fetch-ffmpeg.sh: error: $*" >&2
    exit 1
}

series=${1:-5.1}
case $series in
    5.1 | 7.1 | 9.0) ;;
    *) die "unknown FFmpeg version '$series' (give 5.1, 7.1 or 9.0)" ;;
esac
cache=${ST2V_FFMPEG_CACHE:-/var/tmp/st2v-ffmpeg}
dir=$cache/ffmpeg-$series
if [ -f "$dir/libavfilter/allfilters.c" ]; then
    echo "$dir"
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script is for Debian"
command -v dpkg-source >/dev/null 2>&1 || die "dpkg-source not found (apt-get install dpkg-dev)"

# The newest Debian version of the series, e.g. 7:5.1.9-0+deb12u1.
version=$(apt-cache showsrc ffmpeg 2>/dev/null |
    sed -n 's/^Version: //p' | grep "^\([0-9]*:\)\{0,1\}$series\." |
    sort -V | tail -n 1)
[ -n "$version" ] ||
    die "Debian offers no FFmpeg $series source: run scripts/setup-debian.sh (it adds the deb-src entries), then apt-get update"
upstream=${version#*:}
upstream=${upstream%-*}

mkdir -p "$cache/download"
cd "$cache/download"
echo "fetch-ffmpeg.sh: downloading ffmpeg $version" >&2
# A missing Debian packaging tarball is not fatal: the upstream one is
# enough, as the filter needs no Debian patch.
apt-get source --download-only "ffmpeg=$version" >&2 || true
orig=ffmpeg_$upstream.orig.tar.xz
dsc=ffmpeg_${version#*:}.dsc
[ -f "$orig" ] || die "could not download $orig"

tmp=$(mktemp -d "$cache/unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -f "$dsc" ] && dpkg-source -x "$dsc" "$tmp/src" >&2; then
    :
else
    rm -rf "$tmp/src"
    mkdir -p "$tmp/src"
    tar -xJf "$orig" -C "$tmp/src" --strip-components=1
fi
[ -f "$tmp/src/libavfilter/allfilters.c" ] || die "$orig did not unpack into an FFmpeg tree"
rm -rf "$dir"
mv "$tmp/src" "$dir"
echo "fetch-ffmpeg.sh: FFmpeg $upstream unpacked" >&2
echo "$dir"
