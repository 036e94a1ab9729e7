#!/usr/bin/env bash
# prometheus_client's own tests (0.26 suite by default) against marty_metrics (see run.py). Uses the package in
# bindings/python from source and the library at MARTY_METRICS_LIBRARY (or build-cmake's).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export MARTY_METRICS_LIBRARY="${MARTY_METRICS_LIBRARY:-$REPO/build-cmake/lib/libmarty_metrics.so.0}"
export PYTHONPATH="$REPO/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" "$REPO/Tests/dropin/run.py" "$@"
