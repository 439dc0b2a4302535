#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-tests.sh - run every test program given on the command line, then the
# shell and Python tests, and print one total line "N passed, N failed".
# Each program prints "ok"/"FAIL" lines and its own "N passed, N failed".
set -u
total_pass=0
total_fail=0
failed_suites=()

run_suite() { # name command...
    local name=$1; shift
    local log
    log=$(mktemp)
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    if [ -n "$line" ]; then
        local p f
        p=${line%% passed*}
        f=${line#*passed, }; f=${f%% failed*}
        total_pass=$((total_pass + p))
        total_fail=$((total_fail + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            total_fail=$((total_fail + 1)); failed_suites+=("$name (exit $rc)")
        elif [ "$f" -ne 0 ]; then
            failed_suites+=("$name")
        fi
    else
        # a crash or a suite that printed no summary counts as one failure
        total_fail=$((total_fail + 1)); failed_suites+=("$name (no summary, exit $rc)")
    fi
}

for t in "$@"; do
    run_suite "$(basename "$t")" "$t"
done
# run_on VARIANT "NAMES" TESTS...: the tests named again on the fixtures
# of $ST2V_FIXTURES/VARIANT
run_on() {
    local variant=$1 names=" $2 "; shift 2
    local t
    for t in "$@"; do
        case $names in
        *" $(basename "$t") "*)
            run_suite "$(basename "$t") ($variant)" env ST2V_FIXTURES="$ST2V_FIXTURES/$variant" "$t" ;;
        esac
    done
}
# the golden tests again on the fixtures of a second geometry (pt2/: DiT
# patches 2 latent frames deep, latent frames of 2 video frames), and on
# the ReDi fixtures (redi/: dit.extra_channels 3, sampled with the latent,
# not decoded)
run_on pt2 "test_dit test_vae test_sample_golden" "$@"
run_on redi "test_dit test_sample_golden test_generator" "$@"
# the numeric tests again on each fallback of the run-time dispatch (cpu.h:
# ST2V_CPU caps the features used): what an AVX2-only or an older CPU runs
for t in "$@"; do
    case $(basename "$t") in
    test_ops | test_ops_bf16 | test_attention | test_dit | test_vae | test_sample_golden | test_umt5 | test_wan_dit | test_wan_vae | \
        test_wan_pipeline)
        for level in avx2 generic; do
            run_suite "$(basename "$t") (ST2V_CPU=$level)" env ST2V_CPU=$level "$t"
        done ;;
    esac
done
for s in tests/test_*.sh; do
    [ -f "$s" ] && run_suite "$(basename "$s")" bash "$s"
done
if [ "${HAVE_PYTHON:-no}" = yes ] && [ "${B:-build}" != build ]; then
    # make check-asan (B=build-asan): they would run the same Python as
    # make check's and nothing built in $B
    echo "== the Python suites: not run for B=$B: they run no code built there (the PyTorch reference and training, and build/bin/st2v); make check runs them"
elif [ "${HAVE_PYTHON:-no}" = yes ]; then
    run_suite test_reference.py "${PY:-/usr/bin/python3}" train/test_reference.py
    run_suite test_loop.py "${PY:-/usr/bin/python3}" -m train.test_loop
    run_suite test_redi.py "${PY:-/usr/bin/python3}" -m train.test_redi
    run_suite test_token_compose.py "${PY:-/usr/bin/python3}" -m train.test_token_compose
    run_suite test_vf_align.py "${PY:-/usr/bin/python3}" -m train.test_vf_align
    run_suite test_proxy.py "${PY:-/usr/bin/python3}" -m train.test_proxy
    run_suite test_world.py "${PY:-/usr/bin/python3}" -m train.world.test_world
    [ -f train/eval/test_eval.py ] &&
        run_suite test_eval.py "${PY:-/usr/bin/python3}" -m train.eval.test_eval
    run_suite test_convert_pth.py "${PY:-/usr/bin/python3}" train/wan/test_convert_pth.py
fi

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
    echo "failing suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
