# SPDX-License-Identifier: LGPL-2.1-or-later
# shell_util.sh - what the shell test suites share (sourced, not run): the
# counters and ok/fail/check, which print the "ok"/"FAIL" lines that
# run-tests.sh counts, and the running of the recipes a document marks as
# tested. The shell twin of test_util.h.

passed=0
failed=0
# the absolute path of an existing file or folder
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
# scratch_dir NAME: TMP, a new folder st2v-NAME.XXXXXX under $TMPDIR (or
# /tmp), removed when the suite exits
scratch_dir() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/st2v-$1.XXXXXX") || exit 1
    trap 'rm -rf "$TMP"' EXIT
}
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ $# -gt 1 ] && echo "  $2" >&2; return 0; }
check() { # check NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

# no_quarantine COMMAND...: COMMAND with, under AddressSanitizer (make
# check-asan), no quarantine: it keeps up to 256 MB of freed memory from
# reuse by design, so that RSS grows with what was freed; without it RSS
# follows the live memory again, which is what a flat-memory check
# measures. (Freed memory used again is then not caught in that run;
# every other run keeps the quarantine.)
no_quarantine() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 "$@"; }

# extract_recipes DOC DIR: each fenced block after a line
# "<!-- tested: NAME OUTPUT -->" in DOC becomes DIR/N.sh, whose first line
# is "# NAME OUTPUT".
extract_recipes() {
    mkdir -p "$2"
    awk -v dir="$2" '
        /^<!-- tested: / { name = $3; out = $4; want = 1; next }
        want && /^```/ { inblock = 1; want = 0; n++; file = dir "/" n ".sh";
                         print "# " name " " out > file; next }
        inblock && /^```/ { inblock = 0; close(file); next }
        inblock { print > file }
    ' "$1"
}

# run_recipes DOC DIR LABEL COUNT: run each tested recipe of DOC in its own
# folder under DIR (with $RECIPE_PATH, when set, first on PATH); COUNT FILE
# prints the frames in the recipe's output ("?": present, not countable),
# which must hold video. One ok/fail per recipe, named "LABEL recipe
# 'NAME' runs"; n_recipes counts them.
run_recipes() {
    local doc=$1 dir=$2 label=$3 count=$4 f name out work frames
    n_recipes=0
    extract_recipes "$doc" "$dir"
    for f in "$dir"/*.sh; do
        [ -f "$f" ] || continue
        n_recipes=$((n_recipes + 1))
        read -r _ name out <"$f"
        work=$dir/run.$n_recipes
        mkdir -p "$work"
        if (cd "$work" && PATH="${RECIPE_PATH:+$RECIPE_PATH:}$PATH" \
                timeout 300 bash -e "$f" >"$work.log" 2>&1); then
            frames=$("$count" "$work/$out")
            if [ "$frames" = "?" ] || [ "${frames:-0}" -gt 0 ] 2>/dev/null; then
                ok "$label recipe '$name' runs ($out: $frames frames)"
            else
                fail "$label recipe '$name' runs" "$out has no decodable video"
            fi
        else
            fail "$label recipe '$name' runs" "$(tail -n 5 "$work.log")"
        fi
    done
}

# hostile_models MODEL DIR: broken copies of the safetensors file MODEL in
# DIR (issue 23): cut.safetensors (20,000 bytes), random.safetensors,
# header-only.safetensors, past-end.safetensors (a tensor's data_offsets
# 1e9 past the end), overlap.safetensors (two tensors overlapping),
# negative-length.safetensors (header length -5), huge-length.safetensors
# (2^63 - 1).
hostile_models() {
    "${PY:-/usr/bin/python3}" - "$1" "$2" <<'PYEOF'
import copy, json, os, struct, sys
d = open(sys.argv[1], "rb").read()
out = sys.argv[2]
n = struct.unpack("<Q", d[:8])[0]
h = json.loads(d[8:8 + n])
names = sorted(k for k in h if k != "__metadata__")
def put(name, data):
    open(os.path.join(out, name), "wb").write(data)
def with_header(h2):
    b = json.dumps(h2).encode()
    return struct.pack("<Q", len(b)) + b + d[8 + n:]
put("cut.safetensors", d[:20000])
put("random.safetensors", bytes((i * 7919 + 13) % 251 for i in range(100000)))
put("header-only.safetensors", d[:8 + n])
h2 = copy.deepcopy(h)
a, b = h2[names[0]]["data_offsets"]
h2[names[0]]["data_offsets"] = [a + 10**9, b + 10**9]
put("past-end.safetensors", with_header(h2))
h2 = copy.deepcopy(h)
t0, t1 = h2[names[0]], h2[names[1]]
size1 = t1["data_offsets"][1] - t1["data_offsets"][0]
start = t0["data_offsets"][0] + 1
t1["data_offsets"] = [start, start + size1]
put("overlap.safetensors", with_header(h2))
put("negative-length.safetensors", struct.pack("<q", -5) + d[8:])
put("huge-length.safetensors", struct.pack("<Q", 2**63 - 1) + d[8:])
PYEOF
}
