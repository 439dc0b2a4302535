#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# setup-debian.sh - install every Debian 12 package st2v needs to build,
# test and train. Run as root (or with sudo). Safe to run again.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

PACKAGES="build-essential pkg-config ccache
libopenblas-dev libcjson-dev libpng-dev
python3-torch python3-numpy python3-sentencepiece libjemalloc2
valgrind"

# ffmpeg with the st2v filter (libavfilter_st2v/, docs/ffmpeg.md): the
# source tools, the assembler, and the external libraries of the full
# build (libavfilter_st2v/build-ffmpeg.sh enables exactly these); `time`
# measures the filter's memory in tests/test_ffmpeg.sh.
PACKAGES="$PACKAGES
dpkg-dev xz-utils nasm time
libx264-dev libvpx-dev libopus-dev libmp3lame-dev libzmq3-dev
libfreetype-dev libfontconfig-dev libfribidi-dev
zlib1g-dev libbz2-dev liblzma-dev"

# make check-ffmpeg-patches (libavfilter_st2v/check-patches.sh): makeinfo
# builds FFmpeg's doc/ffmpeg-filters.html with the patch series' st2v
# section, so a texinfo error in it fails the check.
PACKAGES="$PACKAGES
texinfo"

# the GStreamer element st2vsrc (gst-st2v/, docs/gstreamer.md): headers,
# gst-check for its tests, the tools, and the plugins its recipes and tests
# link to (videoconvert and compositor in base, mp4mux in good, x264enc in
# ugly).
PACKAGES="$PACKAGES
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-ugly"

# the Debian packages (debian/, docs/packaging.md): debhelper builds them
# (dpkg-dev is above), help2man writes st2v(1) from st2v --help, and
# tests/test_debian.sh builds, installs and purges them in make check;
# lintian checks them by hand (docs/packaging.md).
PACKAGES="$PACKAGES
debhelper help2man lintian"

# `make fuzz` (fuzz/, docs/robustness.md "Fuzzing"): clang and its
# libFuzzer, ASan and UBSan runtimes (-fsanitize=fuzzer,address,undefined).
PACKAGES="$PACKAGES
clang libclang-rt-14-dev"

# deb-src entries for FFmpeg's source: Debian 12's 5.1 (the default), 13's
# 7.1 and the newest release from unstable/experimental
# (scripts/fetch-ffmpeg.sh). They mirror the machine's own `deb` entries,
# so the same archive (or the local mirror) serves them.
SOURCES=/etc/apt/sources.list.d/st2v-src.sources
if [ ! -f "$SOURCES" ]; then
    {
        echo "# added by st2v's scripts/setup-debian.sh: FFmpeg source for the st2v filter"
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] && [ "$f" != "$SOURCES" ] || continue
            # deb822 stanzas of type deb -> deb-src; the main archive gets the
            # newer suites too
            awk 'BEGIN { RS = ""; ORS = "\n\n" }
                 /(^|\n)Types:[^\n]*deb([ \n]|$)/ && /Suites:[^\n]*bookworm/ {
                     gsub(/Types:[^\n]*/, "Types: deb-src")
                     gsub(/\n#[^\n]*/, "")
                     if ($0 !~ /security/)
                         sub(/Suites:[^\n]*/, "& trixie sid experimental")
                     print }' "$f"
        done
        if [ -f /etc/apt/sources.list ]; then
            sed -n 's/^deb \(.*bookworm.*\)/deb-src \1/p' /etc/apt/sources.list
        fi
    } | $SUDO tee "$SOURCES" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES

# Debian 12's FFmpeg source, cached outside the repository; ./configure
# picks it up (--disable-ffmpeg skips the ffmpeg build).
"$(dirname "$0")/fetch-ffmpeg.sh" 5.1 >/dev/null
echo "setup-debian.sh: all packages installed"
