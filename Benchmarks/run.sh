#!/usr/bin/env bash
# Builds the benchmark in release mode and prints the marty-metrics vs swift-prometheus table.
#
#   Benchmarks/run.sh [--quick] [--sections recording,threads,create,exposition,memory]
#
# 1. libmarty_metrics.so (release) from the main package, into Benchmarks/.build-lib, with
#    the libmarty_metrics.so.0 link next to it; the C-ABI rows dlopen it.
# 2. the marty-bench executable (release) from this package, into Benchmarks/.build-bench.
# 3. runs it. Extra arguments go to marty-bench (--quick: a short smoke run; --sections: only
#    those parts; --help: the rest).
set -euo pipefail
bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$bench_dir")"
lib_scratch="${MARTY_BENCH_LIB_SCRATCH:-$bench_dir/.build-lib}"
bench_scratch="${MARTY_BENCH_SCRATCH:-$bench_dir/.build-bench}"

start=$(date +%s)
(cd "$root" && swift build -c release --product marty_metrics --scratch-path "$lib_scratch") >&2
lib_dir="$(cd "$root" && swift build -c release --product marty_metrics --scratch-path "$lib_scratch" --show-bin-path)"
ln -sf libmarty_metrics.so "$lib_dir/libmarty_metrics.so.0"
middle=$(date +%s)
swift build -c release --package-path "$bench_dir" --scratch-path "$bench_scratch" --product marty-bench >&2
bin_dir="$(swift build -c release --package-path "$bench_dir" --scratch-path "$bench_scratch" --show-bin-path)"
end=$(date +%s)
echo "build: libmarty_metrics.so $((middle - start)) s, marty-bench $((end - middle)) s ($(swift --version 2>&1 | head -1))"

exec "$bin_dir/marty-bench" --lib "$lib_dir/libmarty_metrics.so" "$@"
