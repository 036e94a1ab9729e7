#!/usr/bin/env bash
# The Python package's tests (bindings/python/tests) against the ASan build of the library
# (build-asan, made by Tests/sanitizers/asan.sh): Debian's python3 is not instrumented, so the
# ASan runtime is preloaded (LD_PRELOAD) before the interpreter starts; the library then finds
# it in the process. Leak detection is off here: the interpreter never frees its own heap at
# exit, so LeakSanitizer would report CPython, not the library (the C tests check leaks).
# detect_stack_use_after_return is off too: its fake stacks break CPython (generator frames
# lost their attributes). The tests that measure RSS (test_lifetimes.py) run in a second pass
# without ASan's quarantine, which would otherwise count 256 MiB of held-back freed memory as
# growth; everything else runs with it, so that a use after free is caught. PYTHONMALLOC=malloc
# makes every Python object an ASan allocation with redzones: pymalloc's arenas are invisible to
# ASan (with them, an overflow of a ctypes struct by the library surfaced only as a crash in
# CPython's GC; with malloc, ASan named it: see bindings/python/tests/test_abi.py).
set -euo pipefail
source "$(dirname "$0")/common.sh"

library="$asan_dir/lib/libmarty_metrics.so.0"
[ -f "$library" ] || { echo "no $library: run bash Tests/sanitizers/asan.sh --build first"; exit 1; }
runtime=$("$clang" -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$runtime" ] || { echo "no ASan runtime at $runtime"; exit 1; }
[ -x .venv/bin/python ] || { echo "no .venv: run bash Tests/run-all.sh (or python3 -m venv .venv + pip install -r bindings/python/tests/requirements.txt)"; exit 1; }

# no:cloudcoil: the deployment tests' ServiceMonitor model package brings a pytest plugin that
# these tests do not need; it stays out of the instrumented process.
run() {
  local options=$1; shift
  LD_PRELOAD="$runtime" PYTHONMALLOC=malloc ASAN_OPTIONS="detect_leaks=0:abort_on_error=0$options" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 MARTY_METRICS_LIBRARY="$library" \
  PYTHONPATH="${package_path:-$root/bindings/python}${PYTHONPATH:+:$PYTHONPATH}" \
    .venv/bin/python -m pytest -q -p no:cacheprovider -p no:cloudcoil "$@"
}
rss_tests=bindings/python/tests/test_lifetimes.py
echo "== through ctypes (the package from the source tree)"
if [ -f "$rss_tests" ]; then
  run "" bindings/python/tests --deselect "$rss_tests" --ignore "$rss_tests" "$@"
  run ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0" "$rss_tests" "$@"
else
  run "" bindings/python/tests "$@"
fi

# The compiled extension (marty_metrics._speedups), itself built with ASan and UBSan, in a copy
# of the package; MARTY_METRICS_REQUIRE_SPEEDUPS=1 fails the run if it does not load.
echo "== with the compiled extension, built with ASan and UBSan"
copy_root=$(mktemp -d)
trap 'rm -rf "$copy_root"' EXIT
package_copy="$copy_root/bindings/python"  # setup.py reads the version from ../../include
mkdir -p "$package_copy" "$copy_root/include"
cp include/marty_metrics.h "$copy_root/include/"
cp -r bindings/python/. "$package_copy/"
rm -rf "$package_copy/build" "$package_copy/marty_metrics/_lib"
(cd "$package_copy" && CC="$clang" CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
  LDFLAGS="-fsanitize=address,undefined -shared-libasan" MARTY_METRICS_NO_BUILD=1 \
  "$root/.venv/bin/python" setup.py -q build_ext --inplace >/dev/null)
ls "$package_copy"/marty_metrics/_speedups*.so >/dev/null
package_path="$package_copy" MARTY_METRICS_REQUIRE_SPEEDUPS=1 \
  run "" bindings/python/tests --deselect "$rss_tests" --ignore "$rss_tests" "$@"
