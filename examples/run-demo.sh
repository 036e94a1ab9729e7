#!/usr/bin/env bash
# Sets up and runs the demo: a simulated csca-service recording metrics and serving
# /metrics on 127.0.0.1:9081 and the health probes on 127.0.0.1:8082 (the seed's ports).
# Override with MARTY_METRICS_PORT, MARTY_HEALTH_PORT, MARTY_METRICS_BIND.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg-query -W -f='${Status}' zlib1g-dev libcrypt-dev 2>/dev/null | grep -c "install ok installed" | grep -q 2; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq zlib1g-dev libcrypt-dev >/dev/null
fi
swift build -c release --product marty-demo
exec .build/release/marty-demo "$@"
