#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test_ffmpeg_patches.sh - the committed FFmpeg patch series of the st2v
# filter (libavfilter_st2v/patches/ffmpeg-X.Y/) carry today's sources:
# the file each patch adds or the lines it inserts must be, byte for byte,
# libavfilter_st2v/vsrc_st2v.c and the fragments in libavfilter_st2v/ffmpeg/
# (the texinfo section, the FATE rule, the FATE reference). Needs no FFmpeg
# source, so it runs in every make check; make check-ffmpeg-patches
# regenerates the series from FFmpeg's tarball, applies it with git am,
# builds it and runs its FATE test.
#
#   tests/test_ffmpeg_patches.sh            (from the repository root)
#
# Prints one `ok`/`FAIL` line per check and "N passed, N failed".

set -u

. "$(dirname "$0")/shell_util.sh"

DIR=${ST2V_PATCH_SOURCES:-libavfilter_st2v}
scratch_dir patches-test

# added_lines PATCH PATH: the lines the patch adds to PATH (its "+" lines,
# without the "+"), in order
added_lines() {
    awk -v path="$2" '
        /^diff --git / { infile = ($4 == "b/" path); next }
        infile && /^\+\+\+ / { next }
        infile && /^\+/ { print substr($0, 2) }
    ' "$1"
}

# same NAME PATCH PATH SOURCE: the lines PATCH adds to PATH are SOURCE
same() {
    added_lines "$2" "$3" >"$TMP/added"
    if [ ! -s "$TMP/added" ]; then
        fail "$1" "$2 adds nothing to $3"
    elif cmp -s "$TMP/added" "$4"; then
        ok "$1"
    else
        fail "$1" "$2 is out of date with $4: run make ffmpeg-patches"
        diff "$4" "$TMP/added" | head -n 10 >&2
    fi
}

# subject PATCH: the commit's subject line
subject() { sed -n 's/^Subject: \[PATCH [0-9]*\/[0-9]*\] //p' "$1"; }

for series in 5.1 9.0; do
    p=$DIR/patches/ffmpeg-$series
    n=$(ls "$p"/0*.patch 2>/dev/null | wc -l)
    check "ffmpeg-$series: three patches in $p" [ "$n" -eq 3 ]
    [ "$n" -eq 3 ] || continue
    p1=$(ls "$p"/0001-*.patch)
    p2=$(ls "$p"/0002-*.patch)
    p3=$(ls "$p"/0003-*.patch)
    check "ffmpeg-$series: subjects in FFmpeg's area: style" \
        [ "$(subject "$p1")|$(subject "$p2")|$(subject "$p3")" = \
        "avfilter: add st2v video source filter|doc/filters: document the st2v source|fate: add st2v filter test" ]
    same "ffmpeg-$series: 0001 adds libavfilter/vsrc_st2v.c as it is" \
        "$p1" libavfilter/vsrc_st2v.c "$DIR/vsrc_st2v.c"
    for f in configure libavfilter/allfilters.c libavfilter/Makefile; do
        added_lines "$p1" "$f" >"$TMP/added"
        check "ffmpeg-$series: 0001 changes $f" [ -s "$TMP/added" ]
    done
    check "ffmpeg-$series: 0001 adds --enable-libst2v and its pkg-config check" \
        grep -q 'require_pkg_config libst2v st2v st2v.h' "$p1"
    same "ffmpeg-$series: 0002 inserts ffmpeg/st2v.texi into doc/filters.texi" \
        "$p2" doc/filters.texi "$DIR/ffmpeg/st2v.texi"
    same "ffmpeg-$series: 0003 inserts ffmpeg/filter-video.mak" \
        "$p3" tests/fate/filter-video.mak "$DIR/ffmpeg/filter-video.mak"
    ref=$DIR/ffmpeg/filter-st2v
    [ ! -f "$ref-$series" ] || ref=$ref-$series
    same "ffmpeg-$series: 0003 adds tests/ref/fate/filter-st2v ($(basename "$ref"))" \
        "$p3" tests/ref/fate/filter-st2v "$ref"
done

# The checks can fail: a source changed after the series was made is seen.
sed 's/st2v_model_load_with_params/st2v_model_load_with_param/' \
    "$DIR/vsrc_st2v.c" >"$TMP/changed.c"
added_lines "$DIR/patches/ffmpeg-5.1/0001-avfilter-add-st2v-video-source-filter.patch" \
    libavfilter/vsrc_st2v.c >"$TMP/added"
check "a vsrc_st2v.c changed after the series differs from it" \
    eval '! cmp -s "$TMP/added" "$TMP/changed.c"'

# Every option of the filter is documented in the texinfo section.
opts=$(sed -n 's/^ *{ "\([a-z_]*\)", *"[^"]*", *OFFSET(.*/\1/p' "$DIR/vsrc_st2v.c")
missing=
for o in $opts; do
    grep -q "^@item \(.*, \)\{0,1\}$o\(,.*\)\{0,1\}$" "$DIR/ffmpeg/st2v.texi" || missing="$missing $o"
done
check "st2v.texi documents every option of vsrc_st2v.c ($(echo $opts | wc -w))" [ -z "$missing" ]
[ -z "$missing" ] || echo "  undocumented:$missing" >&2

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
