#!/usr/bin/env python3
"""prometheus_client's own tests, run against marty_metrics through the import alias.

Gets prometheus_client's sdist (a given path, or `pip download` from PyPI into a cache outside
git), extracts the three test files of the suite (tests/test_core.py, tests/test_exposition.py,
tests/openmetrics/test_exposition.py) and the certificates one of them reads, puts
Tests/dropin/conftest_alias.py beside them as their conftest.py, and runs pytest there.

A test that kills the interpreter (a signal, an abort) is named, counted as crashed and left out
of the next run, so one crash does not hide the rest. Prints "N passed, N failed" and exits
non-zero when any test crashed or fewer than --min-passed passed.

    python Tests/dropin/run.py [--sdist PATH] [--cache DIR] [--min-passed N] [-- pytest args]

The package under test is the one `python` imports (install it, or set PYTHONPATH to
bindings/python and MARTY_METRICS_LIBRARY to the library).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "0.21.1"
SUITE = ("tests/test_core.py", "tests/test_exposition.py", "tests/openmetrics/test_exposition.py")
EXTRAS = ("tests/__init__.py", "tests/openmetrics/__init__.py", "tests/certs/")
# The suite's three files hold 178 tests (the real prometheus_client 0.21.1 passes all 178).
# 173 pass; the other 5 need what the library's C API does not offer (see
# bindings/python/README.md, "What still differs and why").
DEFAULT_MIN_PASSED = 173


def sdist_path(args):
    if args.sdist:
        return args.sdist
    os.makedirs(args.cache, exist_ok=True)
    wanted = os.path.join(args.cache, "prometheus_client-%s.tar.gz" % VERSION)
    if not os.path.exists(wanted):
        subprocess.check_call([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
                               "--no-deps", "--dest", args.cache, "prometheus_client==%s" % VERSION])
    return wanted


def extract(sdist, into):
    """The suite's files, under `into`/tests (replaced on every run)."""
    shutil.rmtree(os.path.join(into, "tests"), ignore_errors=True)
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            inner = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.isfile() and (inner in SUITE or any(inner == e or (e.endswith("/") and inner.startswith(e))
                                                          for e in EXTRAS)):
                target = os.path.join(into, inner)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.extractfile(member) as source, open(target, "wb") as out:
                    out.write(source.read())
    shutil.copyfile(os.path.join(HERE, "conftest_alias.py"), os.path.join(into, "conftest.py"))


def run_pytest(workdir, deselected, extra):
    """One pytest run: (returncode, {test id: outcome}, id of the test running when it died)."""
    report = os.path.join(workdir, "report.xml")
    if os.path.exists(report):
        os.remove(report)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--junitxml", report,
               "--rootdir", workdir] + ["--deselect=" + test for test in deselected] + list(SUITE) + list(extra)
    env = dict(os.environ)
    # 0.21.1 predates UTF-8 names: its tests expect the classic name rules, which are
    # prometheus_client's (and marty_metrics') legacy validation mode.
    env.setdefault("PROMETHEUS_LEGACY_NAME_VALIDATION", "true")
    process = subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.decode("utf-8", "replace")
    with open(os.path.join(workdir, "pytest.log"), "a") as log:
        log.write(output)
    outcomes = {}
    running = None
    for line in output.splitlines():
        match = re.match(r"^(tests/\S+::\S+(?:\[.*?\])?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", line)
        if match:
            outcomes[match.group(1)] = match.group(2)
            running = None
        else:
            started = re.match(r"^(tests/\S+::\S+(?:\[.*?\])?) ?$", line)
            if started:
                running = started.group(1)
    return process.returncode, outcomes, running, output


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sdist", help="prometheus_client-%s.tar.gz to use (else downloaded)" % VERSION)
    parser.add_argument("--cache", default=os.environ.get("MARTY_DROPIN_CACHE",
                                                          os.path.expanduser("~/.cache/marty-metrics-dropin")))
    parser.add_argument("--min-passed", type=int, default=DEFAULT_MIN_PASSED)
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()

    workdir = os.path.join(args.cache, "suite-%s" % VERSION)
    os.makedirs(workdir, exist_ok=True)
    open(os.path.join(workdir, "pytest.log"), "w").close()
    extract(sdist_path(args), workdir)

    crashed = []
    outcomes = {}
    while True:
        code, seen, running, output = run_pytest(workdir, crashed, args.pytest_args)
        outcomes.update(seen)
        # pytest's own exit codes are 0-5; anything else (negative: a signal) is a dead interpreter.
        if code in (0, 1):
            break
        if code < 0 or code > 5:
            if running is None or running in crashed:
                print(output[-3000:])
                print("the interpreter died (exit %d) outside any test" % code)
                return 2
            print("CRASHED (exit %d): %s" % (code, running))
            crashed.append(running)
            continue
        print(output[-3000:])
        print("pytest could not run the suite (exit %d)" % code)
        return 2

    passed = sorted(t for t, o in outcomes.items() if o in ("PASSED", "XPASS"))
    failed = sorted(t for t, o in outcomes.items() if o in ("FAILED", "ERROR"))
    skipped = sorted(t for t, o in outcomes.items() if o in ("SKIPPED", "XFAIL"))
    for test in failed:
        print("FAILED  " + test)
    for test in crashed:
        print("CRASHED " + test)
    print("prometheus_client %s suite on marty_metrics: %d tests; details in %s"
          % (VERSION, len(passed) + len(failed) + len(skipped) + len(crashed), os.path.join(workdir, "pytest.log")))
    print("%d passed, %d failed, %d skipped, %d crashed" % (len(passed), len(failed) + len(crashed), len(skipped),
                                                            len(crashed)))
    if crashed:
        print("FAIL: %d test(s) crashed the interpreter" % len(crashed))
        return 1
    if len(passed) < args.min_passed:
        print("FAIL: %d passed, below the threshold of %d" % (len(passed), args.min_passed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
