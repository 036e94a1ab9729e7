#!/usr/bin/env bash
# The Swift concurrency tests under ThreadSanitizer, in their own scratch path (.build-tsan):
# ConcurrencyTests (lock-free lookup and recording, concurrent creation and rendering), ExemplarTests
# (sequence-locked exemplar slots written and read at once), native histograms observed from
# several threads while read (slots claimed by compare-and-swap and listed), every
# endpoint test (concurrent scrapes, probes, hostile clients) and every health test. They are
# built through Tests/sanitizers/tsan, a package whose test targets are links to the main
# package's, so that the TSan build leaves out grpc-swift, BoringSSL and swift-metrics. Any race
# report fails the run (TSan's exit code 66).
#
#   bash Tests/sanitizers/tsan.sh                       # the default filter
#   bash Tests/sanitizers/tsan.sh --filter ConcurrencyTests
set -euo pipefail
source "$(dirname "$0")/common.sh"

# Skipped here (run by the normal swift test): a test whose bound is wall-clock latency
# under load (probes answered within 1 s while 600 connections trickle), which TSan's 5-15x
# slowdown on two cores breaks without any race (seen: 5.1 s, no TSan report).
filter=(--filter 'ConcurrencyTests|ExemplarTests|MartyEndpointTests|MartyHealthTests|concurrentObservationsKeepCountEqualToTheBuckets|threadsMakeSharedSeriesWhileAScrapeAdoptsThem'
        --skip 'probesAndScrapesAnswerWhile600TricklingConnectionsAreOpen')
[ $# -gt 0 ] && filter=("$@")
export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:suppressions=$root/Tests/sanitizers/tsan.supp"
package=(--package-path Tests/sanitizers/tsan --scratch-path .build-tsan --sanitize=thread)
status=0
mkdir -p .build-tsan
swift build --build-tests "${package[@]}" >.build-tsan/build.log 2>&1 || status=$?
grep -E "error:|Build complete" .build-tsan/build.log | tail -n 20 || true
[ "$status" -eq 0 ] || { echo "TSan build failed (log: .build-tsan/build.log)"; tail -n 30 .build-tsan/build.log; exit 1; }
swift test --skip-build "${package[@]}" "${filter[@]}"
