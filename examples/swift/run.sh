#!/usr/bin/env bash
# Builds and runs the Swift example service (trust-anchor: gRPC 9080, health 9081, metrics 10080).
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product marty-swift-example
exec .build/release/marty-swift-example
