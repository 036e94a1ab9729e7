#!/usr/bin/env bash
# Runs the document-signer example: a venv with marty_metrics and grpcio, the service on
# 127.0.0.1 (ports of the Marty table, or GRPC_PORT / MARTY_HEALTH_PORT / MARTY_METRICS_PORT),
# a client loop, and the endpoint checker. MARTY_METRICS_LIBRARY=<built library> skips
# building the library when the package is installed. Delete examples/python/.venv to
# reinstall the package after changing it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export GRPC_PORT="${GRPC_PORT:-8082}" MARTY_HEALTH_PORT="${MARTY_HEALTH_PORT:-8083}"
export MARTY_METRICS_PORT="${MARTY_METRICS_PORT:-9082}" MARTY_METRICS_BIND="${MARTY_METRICS_BIND:-127.0.0.1}"

if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
fi
py="$here/.venv/bin/python"
if ! "$py" -c "import marty_metrics, grpc, prometheus_client" 2>/dev/null; then
  "$py" -m pip install -q --disable-pip-version-check "$repo/bindings/python[check,grpc]"
fi

"$py" "$here/service.py" &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT

"$py" "$here/client.py" "${ROUNDS:-50}"
"$py" -m marty_metrics.check --url "http://127.0.0.1:$MARTY_METRICS_PORT"
