#!/usr/bin/env bash
# Sets up what the tests need on a fresh Debian 12 machine that has the Swift toolchain,
# then runs every test: Swift (swift test), C (CTest, through CMake), and the independent
# judges of the exposition (prometheus_client's parsers and promtool, in a venv).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Each step prints its duration when it ends; all of them are listed again at the end.
step_name="" step_started=0 durations=()
end_step() {
  [ -n "$step_name" ] || return 0
  local seconds=$(($(date +%s) - step_started))
  durations+=("$(printf '%5d s  %s' "$seconds" "$step_name")")
  printf -- '---- %d s: %s\n' "$seconds" "$step_name"
  step_name=""
}
step() { end_step; step_name="$*"; step_started=$(date +%s); printf '\n==== %s\n' "$*"; }
run_started=$(date +%s)
trap 'status=$?; end_step; printf "\n==== Durations (%d s in all%s)\n" "$(($(date +%s) - run_started))" \
  "$([ $status -eq 0 ] || echo ", FAILED with status $status")"; printf "%s\n" "${durations[@]}"' EXIT

# ---- System packages --------------------------------------------------------------------
packages=(cmake ninja-build pkg-config libjemalloc-dev zlib1g-dev libcrypt-dev prometheus prometheus-pushgateway python3-venv abigail-tools protobuf-compiler curl openssl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- Python venv for the judges ---------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  step "Creating .venv"
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r Tests/judges/requirements.txt

# ---- Swift --------------------------------------------------------------------------------
step "swift format lint"
swift format lint --strict -r Tests/fuzz Tests/sanitizers/tsan/Package.swift Tests/sanitizers/tsan/MartyTestSupport/MonotonicClock.swift Sources Tests/MartyTestSupport Tests/MartyMetricsTests Tests/MartyCatalogTests Tests/MartyMetricsTestKitTests Tests/MartyEndpointTests Tests/MartyHealthTests Tests/MartySwiftMetricsTests Tests/MartyGRPCTests examples/demo examples/swift Package.swift

step "Layers: no module imports one above it (Tests/layers/check.py)"
python3 Tests/layers/check.py

step "swift build (a warning in our own code fails the run)"
swift build 2>&1 | tee .build-log.txt | tail -n 3
if grep -E "^$root/(Sources|Tests|examples)/.*: warning:" .build-log.txt; then
  echo "warnings in marty-metrics' own code (above)"
  exit 1
fi

step "swift test"
swift test

step "DocC: the public Swift API's documentation (no broken link, no public symbol without a doc comment)"
bash Tests/docs/build.sh

# ---- C library, C tests, install ---------------------------------------------------------
step "CMake + CTest"
cmake -S . -B build-cmake -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-cmake
ctest --test-dir build-cmake --output-on-failure

step "ABI check: abidiff of the header's C interface and of the library's exports against the last release (Tests/abi)"
bash Tests/abi/check.sh build-cmake

# ---- Python package ------------------------------------------------------------------------
step "Python package: pip install (bundling the CMake-built library, compiling the extension) + pytest with the extension, then through ctypes"
.venv/bin/pip install -q --disable-pip-version-check -r bindings/python/tests/requirements.txt
MARTY_METRICS_LIBRARY="$root/build-cmake/lib/libmarty_metrics.so.0" bash Tests/python/run-both.sh

step "Python wheel: built, installed in a fresh venv away from the repository, run (and the fallback without a compiler)"
MARTY_METRICS_LIBRARY="$root/build-cmake/lib/libmarty_metrics.so.0" bash Tests/python/wheel.sh

step "Drop-in: prometheus_client's own tests (the 0.26 suite, then 0.21.1's) run against marty_metrics through its import alias (Tests/dropin)"
MARTY_METRICS_LIBRARY="$root/build-cmake/lib/libmarty_metrics.so.0" PYTHON="$root/.venv/bin/python" bash Tests/dropin/run.sh
MARTY_METRICS_LIBRARY="$root/build-cmake/lib/libmarty_metrics.so.0" PYTHON="$root/.venv/bin/python" bash Tests/dropin/run.sh --suite 0.21.1

# ---- Independent judges -------------------------------------------------------------------
step "Judges: prometheus_client parsers and promtool"
MARTY_METRICS_LIBRARY="$root/build-cmake/lib/libmarty_metrics.so.0" .venv/bin/python -m pytest -q Tests/judges

# ---- Deployment examples ------------------------------------------------------------------
step "Deployment: Helm chart, Prometheus config and alert rules, Grafana dashboard, C service, end to end with a real Prometheus"
.venv/bin/pip install -q --disable-pip-version-check -r Tests/deploy/requirements.txt
swift build --product marty-demo 2>&1 | tail -n 1
MARTY_DEMO_BINARY="$(swift build --show-bin-path)/marty-demo" \
MARTY_C_SERVICE_BINARY="$root/build-cmake/examples/marty_c_service" \
MARTY_CMAKE_BUILD_DIR="$root/build-cmake" \
  .venv/bin/python -m pytest -q Tests/deploy

# ---- Sanitizers and fuzzing (issue 9), each bounded in time ---------------------------------
# Each of these runs alone as well: see the README's test section.
step "ASan + UBSan: build the instrumented library, the C tests and the fuzzers (build-asan)"
bash Tests/sanitizers/asan.sh --build

step "ASan + UBSan: the C tests (CTest in build-asan)"
ctest --test-dir build-asan --output-on-failure -LE 'sanitizer-incompatible|fuzz'

step "ASan: the Python tests against the ASan library (LD_PRELOAD of the ASan runtime)"
bash Tests/sanitizers/python-asan.sh

step "libFuzzer: fuzz_c_api, fuzz_negotiation, fuzz_http, fuzz_web_config, 60 s each, side by side"
bash Tests/fuzz/run.sh --seconds 60

step "TSan: swift test --sanitize=thread (concurrency, endpoint and health suites; .build-tsan)"
bash Tests/sanitizers/tsan.sh
