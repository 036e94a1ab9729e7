#!/usr/bin/env bash
# find_package_consumer.sh BUILD_DIR CONSUMER_SOURCE WORK_DIR CC [GENERATOR]
# Installs the build to a temporary prefix, then builds and runs a consumer through
# find_package(MartyMetrics) and through pkg-config, both without LD_LIBRARY_PATH.
set -u
build=$1 consumer=$2 work=$3 cc=$4 generator=${5:-}
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
step() { # description, command...: runs it, shows its output on failure
    local what=$1; shift
    if out=$("$@" 2>&1); then pass; return 0; fi
    fail "$what"; echo "  \$ $*"; printf '%s\n' "$out" | tail -40 | sed 's/^/  /'; return 1
}

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
step "cmake --install to $prefix" cmake --install "$build" --prefix "$prefix" || finish

# The installed files.
for f in include/marty_metrics.h lib/libmarty_metrics.so.0 lib/pkgconfig/marty_metrics.pc \
         lib/cmake/MartyMetrics/MartyMetricsConfig.cmake \
         lib/cmake/MartyMetrics/MartyMetricsConfigVersion.cmake; do
    if [ -f "$prefix/$f" ]; then pass; else fail "not installed: $f"; fi
done
if [ -L "$prefix/lib/libmarty_metrics.so.0" ]; then fail "lib/libmarty_metrics.so.0 is a symlink, expected the library itself"; else pass; fi
if [ -L "$prefix/lib/libmarty_metrics.so" ] && [ "$(readlink "$prefix/lib/libmarty_metrics.so")" = libmarty_metrics.so.0 ]; then pass
else fail "lib/libmarty_metrics.so should be a symlink to libmarty_metrics.so.0 ($(ls -l "$prefix/lib/libmarty_metrics.so" 2>&1))"; fi
# Installed stripped (no symbol table), yet exporting the C functions, and only those.
if readelf -SW "$prefix/lib/libmarty_metrics.so.0" | grep -q ' \.symtab '; then fail "the installed library is not stripped"
else pass; fi
exports=$(nm -D --defined-only "$prefix/lib/libmarty_metrics.so.0" | awk '$2 ~ /^[TDBRW]$/ {print $3}')
if printf '%s\n' "$exports" | grep -qx marty_counter_inc; then pass; else fail "marty_counter_inc not exported after strip"; fi
others=$(printf '%s\n' "$exports" | grep -v '^marty_' | head -5)
if [ -z "$others" ]; then pass; else fail "the installed library exports more than marty_*: $others"; fi
echo "installed library: $(stat -c %s "$prefix/lib/libmarty_metrics.so.0") bytes (stripped)"
echo "--- marty_metrics.pc"; cat "$prefix/lib/pkgconfig/marty_metrics.pc" 2>/dev/null
if grep -qx "prefix=$prefix" "$prefix/lib/pkgconfig/marty_metrics.pc" 2>/dev/null; then pass
else fail "marty_metrics.pc does not say prefix=$prefix"; fi

# Resolves libmarty_metrics.so.0 of the binary to the installed copy (not the build tree's).
resolves_to_prefix() { # binary, prefix
    local where
    where=$(env -i ldd "$1" | awk '/libmarty_metrics/ {print $3}')
    if [ "$where" = "$2/lib/libmarty_metrics.so.0" ]; then pass
    else fail "$1 loads libmarty_metrics.so.0 from '$where', expected $2/lib"; fi
}

# 1. find_package(MartyMetrics) through CMAKE_PREFIX_PATH.
generator_args=()
[ -n "$generator" ] && generator_args=(-G "$generator")
if step "configure the find_package consumer" cmake -S "$consumer" -B "$work/cmake-build" \
        "${generator_args[@]}" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
   && step "build the find_package consumer" cmake --build "$work/cmake-build"; then
    step "run the find_package consumer under env -i" env -i "$work/cmake-build/consumer"
    resolves_to_prefix "$work/cmake-build/consumer" "$prefix"
fi

# The package refuses an incompatible version request.
mkdir -p "$work/version-check"
cat > "$work/version-check/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(VersionCheck LANGUAGES NONE)
find_package(MartyMetrics 99.0 QUIET)
if(MartyMetrics_FOUND)
  message(FATAL_ERROR "MartyMetrics 99.0 was accepted")
endif()
find_package(MartyMetrics REQUIRED)
message(STATUS "MartyMetrics_VERSION=${MartyMetrics_VERSION}")
CMAKE
step "find_package(MartyMetrics 99.0) must fail, without version must succeed" \
    cmake -S "$work/version-check" -B "$work/version-check/build" -DCMAKE_PREFIX_PATH="$prefix"

# 2. pkg-config.
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
if flags=$(pkg-config --cflags --libs marty_metrics 2>&1); then
    pass
    echo "pkg-config --cflags --libs marty_metrics: $flags"
    # shellcheck disable=SC2086
    if step "cc main.c \$(pkg-config --cflags --libs marty_metrics)" \
            "$cc" -std=c99 -Wall -Wextra -o "$work/pc-consumer" "$consumer/main.c" $flags; then
        step "run the pkg-config consumer under env -i" env -i "$work/pc-consumer"
        resolves_to_prefix "$work/pc-consumer" "$prefix"
    fi
    version=$(pkg-config --modversion marty_metrics)
    header_version=$(sed -n 's/^#define MARTY_METRICS_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/marty_metrics.h")
    if [ "$version" = "$header_version" ]; then pass; else fail "pkg-config version $version, header $header_version"; fi
else
    fail "pkg-config --cflags --libs marty_metrics: $flags"
fi
unset PKG_CONFIG_PATH

# 3. The CMake package is relocatable: a copied prefix works on its own.
cp -a "$prefix" "$work/moved"
rm -rf "$prefix"
if step "configure the consumer against a moved prefix" cmake -S "$consumer" -B "$work/moved-build" \
        "${generator_args[@]}" -DCMAKE_PREFIX_PATH="$work/moved" -DCMAKE_C_COMPILER="$cc" \
   && step "build the consumer against a moved prefix" cmake --build "$work/moved-build"; then
    step "run the moved-prefix consumer under env -i" env -i "$work/moved-build/consumer"
    resolves_to_prefix "$work/moved-build/consumer" "$work/moved"
fi

# 4. The release tarball (CPack): the installed tree, with the stripped library.
if step "cpack (TGZ)" cpack --config "$build/CPackConfig.cmake" -B "$work/package"; then
    tarball=$(ls "$work"/package/marty-metrics-*.tar.gz 2>/dev/null | head -1)
    listing=$(tar -tzf "$tarball" 2>/dev/null)
    for f in include/marty_metrics.h lib/libmarty_metrics.so.0 lib/libmarty_metrics.so lib/pkgconfig/marty_metrics.pc \
             lib/cmake/MartyMetrics/MartyMetricsConfig.cmake; do
        if printf '%s\n' "$listing" | grep -q "/$f\$"; then pass; else fail "$f is not in $tarball"; fi
    done
    mkdir -p "$work/unpacked" && tar -xzf "$tarball" -C "$work/unpacked"
    unpacked=$(find "$work/unpacked" -name libmarty_metrics.so.0 -type f | head -1)
    if [ -n "$unpacked" ] && ! readelf -SW "$unpacked" | grep -q ' \.symtab '; then pass
    else fail "the tarball's library is missing or not stripped"; fi
    echo "release tarball: $(basename "$tarball"), $(stat -c %s "$tarball") bytes"
fi
finish
