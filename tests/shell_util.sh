# shell_util.sh - what the shell test suites share (sourced, not run): the
# counters and ok/fail/check, which print the "ok"/"FAIL" lines that
# run-tests.sh counts, and the extraction of the recipes a document marks
# as tested. The shell twin of test_util.h.

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; [ $# -gt 1 ] && echo "  $2" >&2; return 0; }
check() { # check NAME CONDITION-COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else fail "$name"; fi
}

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
