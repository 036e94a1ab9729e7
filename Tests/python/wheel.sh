#!/usr/bin/env bash
# Packaging test: `pip wheel ./bindings/python` gives a platform wheel carrying the library and
# the compiled extension, which installs and runs in a fresh venv away from this repository.
#
#   1. builds the wheel (bundling MARTY_METRICS_LIBRARY, default build-cmake's library);
#   2. checks its tag (this Python's ABI and a platform tag, never py3-none-any) and that it
#      holds marty_metrics/_lib/libmarty_metrics.so.0 and marty_metrics/_speedups*.so;
#   3. copies it alone into an empty directory, makes a new venv there, installs it, and runs
#      wheel_smoke.py from that directory with MARTY_METRICS_LIBRARY unset and a PATH without
#      Swift: record, render, start the endpoint on 127.0.0.1 (ephemeral ports), fetch /metrics;
#   4. the same with a compiler that fails (CC=false): the build must still succeed (with a
#      warning), give a py3-none-<platform> wheel without the extension, which runs on ctypes.
#
#   bash Tests/python/wheel.sh
#
# The wheel builds in pip's isolated build environment, which fetches setuptools and wheel.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
library=${MARTY_METRICS_LIBRARY:-$root/build-cmake/lib/libmarty_metrics.so.0}
python=${PYTHON:-python3}
[ -f "$library" ] || { echo "no library at $library: build it (cmake) or set MARTY_METRICS_LIBRARY"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
check() { # check "what" command...: prints ok/FAILED
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1"; failures=$((failures + 1)); fi
}

# build_wheel <name> [env assignments...]: the path of the one wheel built into $work/<name>.
# pip builds in the source tree, where setuptools would reuse an earlier build's objects
# (bindings/python/build): each wheel is built from a clean copy of the package and the header.
build_wheel() {
  local out="$work/$1" source="$work/source-$1"
  mkdir -p "$out" "$source/bindings"
  cp -r "$root/include" "$source/"
  cp -r "$root/bindings/python" "$source/bindings/"
  rm -rf "$source/bindings/python/build" "$source"/bindings/python/*.egg-info
  find "$source" \( -name "*.so" -o -name __pycache__ \) -prune -exec rm -rf {} +
  env MARTY_METRICS_LIBRARY="$library" "${@:2}" "$python" -m pip wheel -v --disable-pip-version-check --no-deps \
    -w "$out" "$source/bindings/python" >"$out.log" 2>&1 || { cat "$out.log"; return 1; }
  ls "$out"/*.whl
}

# members <wheel>: the files inside, one a line
members() { "$python" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; }

# smoke <wheel> extension|ctypes: new venv in an empty directory, install the wheel, run the test
smoke() {
  local place="$work/elsewhere-$2"
  mkdir -p "$place"
  cp "$1" "$root/Tests/python/wheel_smoke.py" "$place/"
  "$python" -m venv "$place/venv"
  "$place/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index "$place/$(basename "$1")"
  # No Swift on PATH, no library named in the environment, nothing of the repository on sys.path.
  (cd "$place" && env -u MARTY_METRICS_LIBRARY -u MARTY_METRICS_PURE_PYTHON -u PYTHONPATH -u LD_LIBRARY_PATH \
    PATH=/usr/bin:/bin MARTY_METRICS_REQUIRE_SPEEDUPS=$([ "$2" = extension ] && echo 1 || echo 0) \
    "$place/venv/bin/python" wheel_smoke.py "$2")
}

echo "== the wheel with the compiled extension"
wheel=$(build_wheel with-extension)
name=$(basename "$wheel")
echo "built $name"
tag=$("$python" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
check "the tag is this Python's ABI on a platform ($tag-$tag-<platform>, not py3-none-any)" \
  bash -c "[[ '$name' == *-$tag-$tag-*linux_*.whl && '$name' != *-any.whl ]]"
contents=$(members "$wheel")
check "it holds marty_metrics/_lib/libmarty_metrics.so.0" grep -qx "marty_metrics/_lib/libmarty_metrics.so.0" <<<"$contents"
check "it holds the compiled extension marty_metrics/_speedups*.so" grep -qE "^marty_metrics/_speedups\..*\.so$" <<<"$contents"
check "it holds no C source or build leftovers (only the package)" bash -c "! grep -vqE '^(marty_metrics/|marty_metrics-[^/]+\.dist-info/)' <<<'$contents'"
check "the bundled library needs nothing that is not on a plain Linux (ldd: no 'not found')" \
  bash -c "unzip -p '$wheel' marty_metrics/_lib/libmarty_metrics.so.0 >'$work/lib.so' && ! ldd '$work/lib.so' | grep -q 'not found'"
check "installs in a fresh venv and runs from an empty directory (record, render, endpoint, HTTP /metrics)" \
  smoke "$wheel" extension

echo "== a build whose compiler fails (CC=false): the install must go on without the extension"
fallback=$(build_wheel without-extension CC=false)
fallback_name=$(basename "$fallback")
echo "built $fallback_name"
check "the build warned that the extension was not built" grep -q "WARNING: the compiled extension" "$work/without-extension.log"
check "the tag is py3-none-<platform> (no Python ABI without the extension; never any)" \
  bash -c "[[ '$fallback_name' == *-py3-none-linux_*.whl ]]"
fallback_contents=$(members "$fallback")
check "it holds the library" grep -qx "marty_metrics/_lib/libmarty_metrics.so.0" <<<"$fallback_contents"
check "it holds no extension" bash -c "! grep -q '_speedups' <<<'$fallback_contents'"
check "installs and runs on ctypes" smoke "$fallback" ctypes

if [ "$failures" -ne 0 ]; then
  echo "wheel.sh: $failures check(s) FAILED"
  exit 1
fi
echo "wheel.sh: every check passed"
