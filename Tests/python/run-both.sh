#!/usr/bin/env bash
# The Python package's tests, once on each recording path: installs bindings/python into a
# venv (bundling the built library and compiling the extension marty_metrics._speedups), then
# runs bindings/python/tests with the compiled extension (MARTY_METRICS_REQUIRE_SPEEDUPS=1: an
# extension that failed to build fails the run instead of passing on ctypes) and again through
# ctypes (MARTY_METRICS_PURE_PYTHON=1).
#
#   bash Tests/python/run-both.sh [pytest arguments...]
#
# MARTY_METRICS_LIBRARY: the library to bundle (default build-cmake/lib/libmarty_metrics.so.0);
# PYTHON: the venv's interpreter (default .venv/bin/python, with the tests' requirements).
set -euo pipefail
cd "$(dirname "$0")/../.."
library=${MARTY_METRICS_LIBRARY:-$PWD/build-cmake/lib/libmarty_metrics.so.0}
python=${PYTHON:-.venv/bin/python}
[ -f "$library" ] || { echo "no library at $library: build it (cmake) or set MARTY_METRICS_LIBRARY"; exit 1; }
[ -x "$python" ] || { echo "no $python: python3 -m venv .venv && .venv/bin/pip install -r bindings/python/tests/requirements.txt"; exit 1; }

MARTY_METRICS_LIBRARY="$library" "$python" -m pip install -q --disable-pip-version-check --force-reinstall \
  --no-deps ./bindings/python

# The installed package with its bundled library (the tests import it before the source tree).
run() {
  echo "== bindings/python/tests with $1"
  env -u MARTY_METRICS_LIBRARY -u MARTY_METRICS_PURE_PYTHON -u MARTY_METRICS_REQUIRE_SPEEDUPS "${@:2}" \
    "$python" -m pytest -q bindings/python/tests "${pytest_args[@]}"
}
pytest_args=("$@")
run "the compiled extension" MARTY_METRICS_REQUIRE_SPEEDUPS=1
run "ctypes (MARTY_METRICS_PURE_PYTHON=1)" MARTY_METRICS_PURE_PYTHON=1
