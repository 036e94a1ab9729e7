#!/usr/bin/env bash
# Runs the four libFuzzer targets (CTest label `fuzz` in build-asan), each for 60 s by default,
# side by side: fuzz_c_api (names, label names, help and values through the C interface, then
# renders checked for well-formedness), fuzz_negotiation (Accept, Accept-Encoding) and
# fuzz_http (raw bytes into the endpoint's HTTP pipeline) and fuzz_web_config (web-config files
# and Authorization headers). Seeds: Tests/fuzz/corpus/<name>
# (read only); new inputs go to build-asan/fuzz/corpus/<name>; a crash leaves its input in
# build-asan/fuzz/artifacts/ and fails the run.
#
#   bash Tests/fuzz/run.sh                    # build (as Tests/sanitizers/asan.sh --build) and run
#   bash Tests/fuzz/run.sh --seconds 600      # longer
#   bash Tests/fuzz/run.sh --seconds 30 http  # one target (c_api, negotiation, http or web_config)
#   build-asan/fuzz/fuzz-http build-asan/fuzz/artifacts/http-crash-…   # replay one input
set -euo pipefail
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    c_api|negotiation|http|web_config) targets+=("$1"); shift ;;
    *) echo "usage: $0 [--seconds N] [c_api|negotiation|http|web_config ...]"; exit 2 ;;
  esac
done
source "$(dirname "$0")/../sanitizers/common.sh"

MARTY_FUZZ_SECONDS="$seconds" bash Tests/sanitizers/asan.sh --build

regex='fuzz_'
[ ${#targets[@]} -gt 0 ] && regex="^fuzz_($(IFS='|'; echo "${targets[*]}"))\$"
log="$asan_dir/fuzz/ctest.log"
status=0
ctest --test-dir build-asan -L fuzz -R "$regex" -j4 -V >"$log" 2>&1 || status=$?
# Per target: how long, how many inputs, what it found.
grep -E '^[0-9]+: (Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus|.*ERROR|SUMMARY|==[0-9]+==)|Test +#[0-9]+: fuzz_|tests passed' "$log" || true
if [ "$status" -ne 0 ]; then
  echo "fuzzing failed (full log: $log); inputs that crashed:"
  ls -la "$asan_dir/fuzz/artifacts/" || true
fi
exit "$status"
