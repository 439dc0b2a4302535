# SPDX-License-Identifier: LGPL-2.1-or-later
"""The one runner of the Python tests: a test is a function that raises
(an AssertionError, or anything) when it fails; its name is the test's.

    sys.exit(testing.run(TESTS))

prints "ok   NAME" or "FAIL NAME: ..." per test (an unexpected error with
its traceback) and last "N passed, N failed", the line tests/run-tests.sh
adds up; returns the exit status (1 where a test failed). Tests written as
unittest.TestCase methods, for its assertion methods, run through cases().
"""
import sys
import traceback


def run(tests):
    """Run every test in turn, whatever the others did; -> exit status."""
    passed = failed = 0
    for test in tests:
        name = test.__name__
        try:
            test()
        except (Exception, SystemExit) as e:    # report every failure and go on
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc(file=sys.stdout)
            continue
        passed += 1
        print("ok   %s" % name, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def cases(*classes):
    """The test_* methods of unittest.TestCase classes, in the order they
    are written, as tests for run() (each on a fresh instance, between
    setUp and tearDown)."""
    tests = []
    for cls in classes:
        names = [n for c in reversed(cls.__mro__) for n, v in vars(c).items()
                 if n.startswith("test") and callable(v)]
        for name in dict.fromkeys(names):
            def test(cls=cls, name=name):
                case = cls(name)
                case.setUp()
                try:
                    getattr(case, name)()
                finally:
                    case.tearDown()
            test.__name__ = name
            tests.append(test)
    return tests
