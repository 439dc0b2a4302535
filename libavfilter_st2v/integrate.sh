#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# integrate.sh - add the st2v source filter to an FFmpeg source tree.
#
#   libavfilter_st2v/integrate.sh FFMPEG_SOURCE_DIR
#
# FFmpeg cannot load filters at run time, so the filter is compiled into
# libavfilter. This script makes the four edits that a filter backed by an
# external library needs, the way libvmaf is declared:
#
#   libavfilter/vsrc_st2v.c               copied from this directory
#   libavfilter/allfilters.c              extern const AVFilter ff_vsrc_st2v;
#                                         (FFFilter from libavfilter 11 on)
#   libavfilter/Makefile                  OBJS-$(CONFIG_ST2V_FILTER) += vsrc_st2v.o
#   configure                             libst2v in EXTERNAL_LIBRARY_LIST,
#                                         --enable-libst2v in --help,
#                                         st2v_filter_deps="libst2v",
#                                         require_pkg_config libst2v st2v ...
#
# Idempotent: a second run changes nothing (files are rewritten only when
# their content differs, so make does not rebuild needlessly). It works on
# FFmpeg 5.1 through 9.0. It does not configure or build: see
# libavfilter_st2v/build-ffmpeg.sh, which calls it.

set -eu

die() {
    echo "integrate.sh: error: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 FFMPEG_SOURCE_DIR"
src=$1
here=$(cd "$(dirname "$0")" && pwd)

for f in configure libavfilter/allfilters.c libavfilter/Makefile; do
    [ -f "$src/$f" ] || die "$src is not an FFmpeg source tree (no $f)"
done
[ -w "$src/configure" ] || die "$src/configure is not writable"

# copy_if_changed SRC DST: keep DST's time stamp when nothing changed.
copy_if_changed() {
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2"
        echo "integrate.sh: updated ${2#"$src"/}"
    fi
}

# edit FILE SED-SCRIPT: apply a sed script to FILE in place, through a copy,
# so that a failed edit leaves FILE untouched.
edit() {
    sed "$2" "$1" >"$1.st2v-tmp" || { rm -f "$1.st2v-tmp"; die "editing $1 failed"; }
    if cmp -s "$1" "$1.st2v-tmp"; then
        rm -f "$1.st2v-tmp"
        die "could not find where to edit $1 (unknown FFmpeg version?)"
    fi
    # keep the mode (configure is executable)
    cat "$1.st2v-tmp" >"$1"
    rm -f "$1.st2v-tmp"
    echo "integrate.sh: patched ${1#"$src"/}"
}

copy_if_changed "$here/vsrc_st2v.c" "$src/libavfilter/vsrc_st2v.c"

# ---------------------------------------------------------------- allfilters.c
# Each new line goes where its name falls in alphabetical order, as
# FFmpeg keeps these lists. The new line copies smptehdbars's, so it has
# the type this version uses (AVFilter up to libavfilter 10, FFFilter
# from 11).
f=$src/libavfilter/allfilters.c
if ! grep -q 'ff_vsrc_st2v;' "$f"; then
    edit "$f" '/^extern const [A-Za-z]*Filter ff_vsrc_smptehdbars;$/{p;s/ff_vsrc_smptehdbars/ff_vsrc_st2v/;}'
fi

# ---------------------------------------------------------------- Makefile
f=$src/libavfilter/Makefile
if ! grep -q 'CONFIG_ST2V_FILTER' "$f"; then
    edit "$f" '/^OBJS-\$(CONFIG_SMPTEHDBARS_FILTER) /a\
OBJS-$(CONFIG_ST2V_FILTER)                   += vsrc_st2v.o'
fi

# ---------------------------------------------------------------- configure
f=$src/configure
if ! grep -q '^    libst2v$' "$f"; then
    edit "$f" '/^EXTERNAL_LIBRARY_LIST="$/,/^"$/{/^    libsvtav1$/i\
    libst2v
}'
fi
if ! grep -q -- '--enable-libst2v' "$f"; then
    edit "$f" '/^  --enable-libsvtav1 /i\
  --enable-libst2v         enable the st2v text-to-video source via libst2v [no]'
fi
if ! grep -q '^st2v_filter_deps=' "$f"; then
    edit "$f" '/^stereo3d_filter_deps=/i\
st2v_filter_deps="libst2v"'
fi
if ! grep -q '^enabled libst2v ' "$f"; then
    edit "$f" '/^enabled libsvtav1 /i\
enabled libst2v           \&\& require_pkg_config libst2v st2v st2v.h st2v_model_load'
fi

echo "integrate.sh: $src has the st2v filter"
