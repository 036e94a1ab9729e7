#!/usr/bin/env bash
# Tests/abi/check.sh [BUILD_DIR]        checks the ABI against the last release's baseline
# Tests/abi/check.sh --write-baseline [HEADER]
#                                       writes the baseline from HEADER (default: the
#                                       current include/marty_metrics.h), at a release
#
# The baseline, Tests/abi/libmarty_metrics.so.0.abi, is the abidw dump (libabigail) of the
# last release's C interface. The library's functions are Swift @_cdecl functions, whose
# debug information describes Swift types, not the header's; so the C types are taken from
# the header itself: Tests/abi/stub.py writes a C file that includes it and defines every
# function it declares (plus abi_check_types, taking its enums and callback type), compiled
# with -g into a stand-in libmarty_metrics.so.0. Two checks, each with abidiff:
#
#  1. C types: the stand-in built from the current header against the baseline. Fails on a
#     removed function, a changed parameter or return type, a changed struct (members
#     removed, moved, retyped or inserted) or a changed enum value. Allowed: added
#     functions, and members appended at the end of an option struct (one that starts with
#     `size_t struct_size`, as marty_endpoint_options): stub.py cuts such a struct after the
#     baseline's last member, so abidiff compares exactly the members the baseline has.
#  2. Exports: the built library BUILD_DIR/lib/libmarty_metrics.so.0 (default build-cmake),
#     its debug information stripped so that only its ELF symbol table counts, against the
#     baseline. Fails when a function of the last release is no longer exported.
#
# The baseline in the repository is 0.1.0's, made with
#   git show 8ab0bc3:include/marty_metrics.h > /tmp/marty_metrics-0.1.0.h
#   bash Tests/abi/check.sh --write-baseline /tmp/marty_metrics-0.1.0.h
# 8ab0bc3 has the last header of 0.1.0 with the 0.1 marty_endpoint_options (up to
# max_connections). The later commits 3fd7756 and df9cb21 still say 0.1.0 but already carry the
# two fields "added in 0.2"; the version number was raised after them (96cb122).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
root=$PWD
abi_dir="$root/Tests/abi"
baseline="$abi_dir/libmarty_metrics.so.0.abi"
cc=${CC:-cc}

for tool in abidw abidiff python3 strip "$cc"; do
    command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (apt-get install abigail-tools)"; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The stand-in library for HEADER (option structs cut to BASELINE's members, if given),
# with the real library's SONAME: $work/NAME/libmarty_metrics.so.0.
build_stub() { # header name [baseline]
    local header=$1 dir="$work/$2"
    python3 "$abi_dir/stub.py" "$header" "$dir" ${3:+"$3"}
    # -fdebug-prefix-map: the dump does not depend on the temporary directory's name.
    (cd "$dir" && "$cc" -std=c99 -g -O0 -fPIC -shared -w -fdebug-prefix-map="$dir"=. \
        -Wl,-soname,libmarty_metrics.so.0 -o libmarty_metrics.so.0 stub.c)
    echo "$dir/libmarty_metrics.so.0"
}

if [ "${1:-}" = "--write-baseline" ]; then
    header=$(realpath "${2:-include/marty_metrics.h}")
    stub=$(build_stub "$header" baseline)
    abidw --no-corpus-path --no-show-locs --no-comp-dir-path "$stub" > "$baseline"
    version=$(sed -n 's/^#define MARTY_METRICS_VERSION_STRING "\(.*\)"/\1/p' "$header")
    echo "wrote $baseline from $header (version $version):" \
         "$(grep -c "<elf-symbol name='marty_" "$baseline") functions"
    exit 0
fi

build=${1:-build-cmake}
lib="$build/lib/libmarty_metrics.so.0"
[ -f "$lib" ] || { echo "FAIL: no library at $lib (build it first: cmake --build $build)"; exit 1; }
[ -f "$baseline" ] || { echo "FAIL: no baseline at $baseline"; exit 1; }
failed=0

echo "== 1. C types: include/marty_metrics.h against the baseline"
stub=$(build_stub include/marty_metrics.h current "$baseline")
if abidiff --no-show-locs --no-added-syms "$baseline" "$stub"; then
    echo "PASS: the header's C interface is compatible with the baseline"
else
    status=$?
    echo "FAIL: abidiff exit status $status (4: ABI change, 12: incompatible change)"
    failed=1
fi

echo "== 2. Exports: $lib against the baseline"
strip --strip-debug -o "$work/exports.so" "$lib"
# The abi_check_* functions exist only in the stand-in.
printf '[suppress_function]\n  name_regexp = ^abi_check_\n' > "$work/exports.abignore"
if abidiff --no-show-locs --no-added-syms --suppressions "$work/exports.abignore" \
        "$baseline" "$work/exports.so"; then
    echo "PASS: the library exports every function of the baseline"
else
    status=$?
    echo "FAIL: abidiff exit status $status (4: ABI change, 12: incompatible change)"
    failed=1
fi

added=$(abidiff --no-show-locs "$baseline" "$stub" \
        | sed -n "s/^  \[A\] 'function \(.*\)'.*/\1/p" || true)
if [ -n "$added" ]; then
    echo "== Added since the baseline (allowed):"
    printf '  %s\n' "$added"
fi
[ "$failed" -eq 0 ] && echo "ABI check passed" || echo "ABI check FAILED"
exit "$failed"
