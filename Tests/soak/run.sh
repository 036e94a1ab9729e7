#!/usr/bin/env bash
# Soak test (not run in CI): churn + scrapes over HTTP + forks + probes for N minutes, through
# the Python package, printing RSS, fd and thread counts at the start, every minute and at the
# end. Exit status 1 if any scrape, probe or fork failed or hung.
#
#   bash Tests/soak/run.sh --minutes 30                  # against build-cmake's library
#   bash Tests/soak/run.sh --minutes 5 --series 5000 --fork-interval 1
#   MARTY_METRICS_LIBRARY=/path/libmarty_metrics.so.0 bash Tests/soak/run.sh --minutes 60
#
# It builds the release library with CMake (build-cmake) when MARTY_METRICS_LIBRARY is not set
# and none is built, and makes the .venv (prometheus_client is not needed) if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ -z "${MARTY_METRICS_LIBRARY:-}" ]; then
  MARTY_METRICS_LIBRARY="$root/build-cmake/lib/libmarty_metrics.so.0"
  if [ ! -f "$MARTY_METRICS_LIBRARY" ]; then
    echo "soak: building the library (cmake -S . -B build-cmake)"
    cmake -S . -B build-cmake -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-cmake --target marty_metrics_swiftpm
  fi
fi
export MARTY_METRICS_LIBRARY
[ -x .venv/bin/python ] || python3 -m venv .venv
PYTHONPATH="$root/bindings/python${PYTHONPATH:+:$PYTHONPATH}" exec .venv/bin/python Tests/soak/soak.py "$@"
