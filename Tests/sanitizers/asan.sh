#!/usr/bin/env bash
# The C tests (Tests/c, CTest) against libmarty_metrics built with ASan (+ UBSan in its C
# parts), the C programs built with -fsanitize=address,undefined -fno-sanitize-recover=undefined
# by the Swift toolchain's clang, in build-asan (SwiftPM scratch path build-asan/swiftpm).
# Also builds the three libFuzzer targets (run them with Tests/fuzz/run.sh).
#
#   bash Tests/sanitizers/asan.sh            # configure, build, run the C tests
#   bash Tests/sanitizers/asan.sh --build    # configure and build only
#
# Tests labelled sanitizer-incompatible (c_alloc: jemalloc replaces malloc; the
# find_package consumer: built without -fsanitize) run in the normal build only.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMARTY_SANITIZE=address,undefined \
  -DCMAKE_C_COMPILER="$clang" -DCMAKE_CXX_COMPILER="$clangxx" -DMARTY_FUZZ_SECONDS="${MARTY_FUZZ_SECONDS:-60}" >/dev/null
# SwiftPM's own output, minus the linker's notes about the sanitizer runtime's local symbols.
status=0
cmake --build build-asan >build-asan/build.log 2>&1 || status=$?
grep -v "warning: Cannot export local symbol" build-asan/build.log | grep -E "error|warning:|Build of product|Linking C" | tail -n 20 || true
[ "$status" -eq 0 ] || { echo "build-asan: build failed (log: build-asan/build.log)"; tail -n 40 build-asan/build.log; exit 1; }
if grep -E "^$root/Tests/(fuzz|c)/.*: warning:" build-asan/build.log; then
  echo "warnings in the fuzz targets or C tests (above)"
  exit 1
fi
[ "${1:-}" = "--build" ] && exit 0
ctest --test-dir build-asan --output-on-failure -LE 'sanitizer-incompatible|fuzz'
