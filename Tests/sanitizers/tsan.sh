#!/usr/bin/env bash
# The Swift concurrency tests under ThreadSanitizer, in their own scratch path (.build-tsan):
# ConcurrencyTests (lock-free lookup and recording, concurrent creation and rendering) and the
# endpoint's tests (EndpointTests, RobustnessTests: concurrent scrapes, probes, hostile clients),
# and the health tests. Any race report fails the run (TSan's exit code 66).
#
#   bash Tests/sanitizers/tsan.sh                       # the default filter
#   bash Tests/sanitizers/tsan.sh --filter ConcurrencyTests
set -euo pipefail
source "$(dirname "$0")/common.sh"

filter=(--filter 'ConcurrencyTests|EndpointTests|RobustnessTests|HealthTests')
[ $# -gt 0 ] && filter=("$@")
export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:suppressions=$root/Tests/sanitizers/tsan.supp"
swift build --build-tests --scratch-path .build-tsan --sanitize=thread 2>&1 | grep -E "error|Compiling|Build complete" | tail -n 3
swift test --skip-build --scratch-path .build-tsan --sanitize=thread "${filter[@]}"
