#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run.sh B SECONDS TARGET... - run each libFuzzer target B/fuzz/TARGET for
# SECONDS (-max_total_time) on a working copy of its seeds
# (B/corpus/TARGET, grown there; fuzz/corpus/TARGET is only read), crashes
# to B/crashes/, the log to B/fuzz-TARGET.log; then print per target the
# executions, exec/s and coverage of libFuzzer's final lines. Exit 1 when
# a target crashed. A target's stdin is /dev/null: fuzz_filter may find
# st2v=textfile=/dev/stdin, which would wait on a terminal.
set -u
B=$1
SECONDS_EACH=$2
shift 2
status=0
mkdir -p "$B/crashes"
for t in "$@"; do
    mkdir -p "$B/corpus/$t"
    [ -d "fuzz/corpus/$t" ] && cp -n fuzz/corpus/$t/* "$B/corpus/$t/" 2>/dev/null
    opts=
    case $t in
    fuzz_cli) opts=-close_fd_mask=3 ;; # the CLI's messages
    esac
    log=$B/fuzz-$t.log
    "$B/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$B/crashes/$t-" $opts \
        "$B/corpus/$t" </dev/null >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
    if [ $rc -eq 0 ]; then
        res=ok
    else
        res="CRASH (rc $rc, see $log and $B/crashes/)"
        status=1
    fi
    printf '%-18s %s  execs %s  exec/s %s  cov %s  ft %s  corpus %s\n' \
        "$t" "$res" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
done
exit $status
