#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test_debian.sh - the Debian packages (debian/, docs/packaging.md) as a
# user gets them: built with dpkg-buildpackage from a copy of the tree in
# /tmp, installed on this machine with dpkg -i, used from outside any tree
# with a clean environment (st2v renders a clip, gst-inspect-1.0 and
# gst-launch-1.0 find st2vsrc in the system plugin path, a C program builds
# with pkg-config against libst2v-dev), then purged, leaving /usr as it was.
#
#   tests/test_debian.sh         (from the repository root; run as root)
#
# Skipped, with a "skipped:" line, when not root, without dpkg-buildpackage
# or debhelper, or when an st2v package is installed already (it is not
# ours to replace). CI runs as root with both installed
# (scripts/setup-debian.sh), so there it runs. The package build runs the
# C tests (make check-c) as a package build does. Programs are called by
# absolute path, and pkg-config and the dynamic loader kept to /usr, so that
# a `make install` in /usr/local cannot stand in for the packages.
#
# Prints one `ok`/`FAIL` line per check and "N passed, N failed".

set -u

. "$(dirname "$0")/shell_util.sh"
SRC=$(cd "$(dirname "$0")/.." && pwd -P)
PACKAGES="libst2v0 libst2v-dev st2v st2v-model gstreamer1.0-st2v"

skip() {
    echo "skipped: $1"
    echo "0 passed, 0 failed"
    exit 0
}
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

[ "${B:-build}" = build ] ||
    skip "B=$B (make check-asan): the packages are built from a copy of the tree with Debian's flags, not from $B; make check runs this"
[ "$(id -u)" -eq 0 ] || skip "not root: the test installs the .debs with dpkg -i (CI runs it as root)"
command -v dpkg-buildpackage >/dev/null 2>&1 && command -v dh >/dev/null 2>&1 ||
    skip "dpkg-buildpackage or debhelper missing (scripts/setup-debian.sh installs them)"

# one run at a time on this machine (two make checks would race in dpkg)
exec 9>/tmp/st2v-test-debian.lock
flock -w 1200 9 || { fail "another test_debian.sh held /tmp/st2v-test-debian.lock for 20 minutes"; finish; }

for p in $PACKAGES; do
    if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^.[^n]'; then
        skip "the package $p is installed already (dpkg -l $p): not replaced or purged by a test"
    fi
done

MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
VERSION=$(sed -n 's/^#define ST2V_VERSION_STRING "\(.*\)"/\1/p' "$SRC/core/st2v.h")
DEBVER=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
WORK=$(mktemp -d /tmp/st2v-deb.XXXXXX)
installed=no
cleanup() {
    # shellcheck disable=SC2086
    [ "$installed" = no ] || dpkg --purge $PACKAGES >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
seconds() { echo $(($(date +%s) - $1)); }

# What of st2v is in /usr now (outside /usr/local, where make install goes):
# after the purge it must be the same.
st2v_in_usr() {
    find /usr -xdev -path /usr/local -prune -o -iname '*st2v*' -print 2>/dev/null | sort
}
st2v_in_usr >"$WORK/usr-before"

# ------------------------------------------------------------ build
# The tree copied as git has it (tracked and new, not ignored files, as
# they are in the working tree), or, in an unpacked tarball, all of it but
# the build outputs.
TREE=$WORK/st2v-$VERSION
mkdir -p "$TREE"
# (an unpacked tarball may lie inside another checkout: make distcheck's)
if [ "$(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null)" = "$SRC" ]; then
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        tar --null --no-recursion --ignore-failed-read -T - -cf - 2>/dev/null) |
        tar -xf - -C "$TREE"
else
    tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./config.mak \
        --exclude=./config.log --exclude=./build_config.h -cf - . | tar -xf - -C "$TREE"
fi
check "the tree is copied to $TREE (debian/rules, models/default.safetensors)" \
    test -x "$TREE/debian/rules" -a -f "$TREE/models/default.safetensors"

start=$(date +%s)
if (cd "$TREE" && dpkg-checkbuilddeps) >"$WORK/builddeps.log" 2>&1; then
    (cd "$TREE" && DEB_BUILD_OPTIONS="parallel=$(nproc)" \
        dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        ok "dpkg-buildpackage -us -uc -b builds the packages, make check-c passing ($(seconds "$start") s)"
    else
        fail "dpkg-buildpackage -us -uc -b (exit $rc)" "$(tail -n 20 "$WORK/build.log")"
    fi
else
    fail "the build dependencies are installed (scripts/setup-debian.sh)" "$(cat "$WORK/builddeps.log")"
fi
nprog=$(sed -n 's/^check-c: \([0-9]*\) test programs passed$/\1/p' "$WORK/build.log")
check "the package build ran and passed the C tests (make check-c: ${nprog:-no} programs)" \
    test -n "$nprog"

debs=
missing=
for p in $PACKAGES; do
    f=$(ls "$WORK"/"${p}"_"${DEBVER}"_*.deb 2>/dev/null | head -n 1)
    if [ -n "$f" ]; then debs="$debs $f"; else missing="$missing $p"; fi
done
check "the five packages are built (${DEBVER})${missing:+, missing:$missing}" test -z "$missing"
[ -n "$missing" ] && finish
for f in $debs; do
    echo "   $(basename "$f"): $(stat -c %s "$f") bytes"
done

# the contents, where each file must be
contents() { dpkg-deb -c "$WORK/${1}_${DEBVER}_$2.deb" | awk '{ print $6 }' | grep -v '/$'; }
has() { # package arch path...
    local p=$1 a=$2 f list
    shift 2
    list=$(contents "$p" "$a")
    for f in "$@"; do
        printf '%s\n' "$list" | grep -qx "./$f" || return 1
    done
}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
check "libst2v0 holds usr/lib/$MA/libst2v.so.0" has libst2v0 "$arch" "usr/lib/$MA/libst2v.so.0"
check "libst2v0 has a symbols file naming st2v_version" \
    sh -c "dpkg-deb --ctrl-tarfile '$WORK/libst2v0_${DEBVER}_$arch.deb' | tar -xOf - ./symbols | grep -q '^ st2v_version@Base'"
check "libst2v-dev holds st2v.h, libst2v.so, libst2v.a and st2v.pc" \
    has libst2v-dev "$arch" usr/include/st2v.h "usr/lib/$MA/libst2v.so" "usr/lib/$MA/libst2v.a" \
    "usr/lib/$MA/pkgconfig/st2v.pc"
check "st2v holds st2v, st2v-convert and their manual pages" \
    has st2v "$arch" usr/bin/st2v usr/bin/st2v-convert usr/share/man/man1/st2v.1.gz \
    usr/share/man/man1/st2v-convert.1.gz
check "st2v-model (Architecture: all) holds usr/share/st2v/default.safetensors" \
    has st2v-model all usr/share/st2v/default.safetensors
check "gstreamer1.0-st2v holds usr/lib/$MA/gstreamer-1.0/libgstst2v.so" \
    has gstreamer1.0-st2v "$arch" "usr/lib/$MA/gstreamer-1.0/libgstst2v.so"

# The tree the packages came from is removed: what runs below can only be
# what the packages installed.
rm -rf "$TREE"

# ---------------------------------------------------------- install
installed=yes
# shellcheck disable=SC2086
if dpkg -i $debs >"$WORK/install.log" 2>&1; then
    ok "dpkg -i installs the five packages"
else
    fail "dpkg -i installs the five packages" "$(tail -n 10 "$WORK/install.log")"
    finish
fi

OUT=$WORK/outside
mkdir -p "$OUT" "$WORK/home"
# a clean environment, in a directory that is no source tree
run() { (cd "$OUT" && env -i PATH=/usr/bin:/bin HOME="$WORK/home" "$@"); }

check "/usr/bin/st2v --version prints st2v $VERSION" \
    test "$(run /usr/bin/st2v --version 2>&1)" = "st2v $VERSION"

# Parse a y4m file: prints "W H F FRAMES" and fails on any malformed byte.
y4m_info() {
    /usr/bin/python3 - "$1" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
end = data.index(b"\n")
head = data[:end].split(b" ")
assert head[0] == b"YUV4MPEG2", head
tags = {t[:1]: t[1:] for t in head[1:]}
w, h = int(tags[b"W"]), int(tags[b"H"])
size = w * h + 2 * (w // 2) * (h // 2)
pos, n = end + 1, 0
while pos < len(data):
    assert data[pos:pos + 5] == b"FRAME", "bad frame header at %d" % pos
    pos = data.index(b"\n", pos) + 1 + size
    n += 1
assert pos == len(data), "truncated frame"
print(w, h, tags[b"F"].decode(), n)
EOF
}

start=$(date +%s)
run /usr/bin/st2v -p "a red ball moving left" -s 1 -d 1 -q -o clip.y4m >"$WORK/st2v.log" 2>&1
rc=$?
info=$(y4m_info "$OUT/clip.y4m" 2>&1)
check "st2v renders 1 s with the installed model, no ST2V_MODEL: 128x128, 16 frames ($(seconds "$start") s)" \
    test $rc -eq 0 -a "$info" = "128 128 16:1 16"
[ "$info" = "128 128 16:1 16" ] || echo "  st2v exit $rc, y4m: $info; $(tail -n 3 "$WORK/st2v.log")" >&2
check "st2v with a missing model: one line on stderr, exit 1" \
    sh -c "cd '$OUT' && ! env -i PATH=/usr/bin:/bin ST2V_MODEL=/nonexistent.safetensors /usr/bin/st2v -p x -d 1 -o no.y4m 2>err &&
           test \$(wc -l <err) -eq 1 && test ! -e no.y4m"

# st2v-convert with python3-torch missing (a Recommends): a stand-in torch
# module that fails to import, as the real one's absence does
mkdir -p "$WORK/notorch"
echo 'raise ImportError("No module named torch")' >"$WORK/notorch/torch.py"
check "st2v-convert without python3-torch: one line naming it on stderr, exit 1" \
    sh -c "cd '$OUT' && env -i PATH=/usr/bin:/bin PYTHONPATH='$WORK/notorch' /usr/bin/st2v-convert x.pth 2>err;
           [ \$? -eq 1 ] && [ \$(wc -l <err) -eq 1 ] && grep -q python3-torch err"

run /usr/bin/gst-inspect-1.0 st2vsrc >"$WORK/inspect" 2>&1
rc=$?
check "gst-inspect-1.0 st2vsrc finds it in /usr/lib/$MA/gstreamer-1.0 (no GST_PLUGIN_PATH)" \
    sh -c "[ $rc -eq 0 ] && grep -Eq '^  Filename  +(/usr)?/lib/$MA/gstreamer-1.0/libgstst2v.so\$' '$WORK/inspect'"
check "gst-inspect-1.0 st2vsrc: License LGPL, Version $VERSION" \
    sh -c "grep -q '^  License  *LGPL\$' '$WORK/inspect' && grep -q '^  Version  *$VERSION\$' '$WORK/inspect'"
start=$(date +%s)
run timeout 120 /usr/bin/gst-launch-1.0 -q st2vsrc prompt="a red ball" num-buffers=3 seed=1 ! \
    fakesink >"$WORK/launch.log" 2>&1
rc=$?
check "gst-launch-1.0 st2vsrc prompt=... num-buffers=3 ! fakesink ($(seconds "$start") s)" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/  /' "$WORK/launch.log" >&2
run timeout 120 /usr/bin/gst-launch-1.0 -q st2vsrc prompt="a red ball" num-buffers=3 seed=1 ! \
    video/x-raw,format=I420,width=64,height=48 ! y4menc ! filesink location=gst.y4m \
    >>"$WORK/launch.log" 2>&1
info=$(y4m_info "$OUT/gst.y4m" 2>&1)
check "st2vsrc with the installed model, num-buffers=3 ! y4menc: 3 frames of 64x48 ($info)" \
    test "$(echo "$info" | cut -d' ' -f1,2,4)" = "64 48 3"

# libst2v-dev: pkg-config kept to /usr's directories (not /usr/local's)
PCDIRS=/usr/lib/$MA/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig
pc() { run PKG_CONFIG_LIBDIR="$PCDIRS" /usr/bin/pkg-config "$@"; }
check "pkg-config st2v: version $VERSION, libdir /usr/lib/$MA, -lst2v" \
    sh -c "[ '$(pc --modversion st2v 2>&1)' = '$VERSION' ] &&
           [ '$(pc --variable=libdir st2v 2>&1)' = '/usr/lib/$MA' ] &&
           [ '$(pc --variable=modeldir st2v 2>&1)' = '/usr/share/st2v' ] &&
           echo '$(pc --cflags --libs st2v 2>&1)' | grep -q -- '-lst2v'"
cat >"$OUT/version.c" <<'EOF'
#include <stdio.h>
#include <st2v.h>
int main(void)
{
    char path[4096];
    int rc = st2v_default_model_path(path, sizeof(path));
    printf("%s %s %d\n", st2v_version(), path, rc);
    return rc != 0;
}
EOF
# the loader too: /usr/local's libst2v.so.0 (make install) would come first
ldpath=
ls /usr/local/lib/libst2v.so.0 /usr/local/lib/"$MA"/libst2v.so.0 >/dev/null 2>&1 &&
    ldpath=LD_LIBRARY_PATH=/usr/lib/$MA
flags=$(pc --cflags --libs st2v)
want="$VERSION /usr/share/st2v/default.safetensors 0"
run /usr/bin/cc -o version version.c $flags >"$WORK/cc.log" 2>&1
check "a C program builds with \$(pkg-config --cflags --libs st2v), links libst2v.so.0" \
    sh -c "[ -x '$OUT/version' ] && cd '$OUT' && env -i $ldpath /usr/bin/ldd ./version | grep -q '/lib/$MA/libst2v.so.0'"
check "it prints st2v_version() and finds the installed default model: $want" \
    test "$(run $ldpath ./version 2>&1)" = "$want"
run /usr/bin/cc -o version-static version.c /usr/lib/"$MA"/libst2v.a -Wl,--as-needed \
    $(pc --static --libs st2v) >>"$WORK/cc.log" 2>&1
check "the same program links libst2v.a (pkg-config --static) and prints the same" \
    sh -c "[ -x '$OUT/version-static' ] && ! readelf -d '$OUT/version-static' | grep -q libst2v &&
           [ \"\$(cd '$OUT' && env -i ./version-static)\" = '$want' ]"
[ -s "$WORK/cc.log" ] && sed 's/^/  cc: /' "$WORK/cc.log" >&2

# ------------------------------------------------------------ purge
# shellcheck disable=SC2086
dpkg --purge $PACKAGES >"$WORK/purge.log" 2>&1
rc=$?
installed=no
check "dpkg --purge removes the five packages" \
    sh -c "[ $rc -eq 0 ] && ! dpkg-query -W -f='\${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null | grep -q '^.[^n]'"
st2v_in_usr >"$WORK/usr-after"
check "nothing of st2v is left in /usr (outside /usr/local)" cmp -s "$WORK/usr-before" "$WORK/usr-after"
cmp -s "$WORK/usr-before" "$WORK/usr-after" || diff "$WORK/usr-before" "$WORK/usr-after" | head >&2

finish
