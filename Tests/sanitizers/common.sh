# Sourced by the sanitizer and fuzz scripts: the repository root, the Swift toolchain's clang
# (whose sanitizer runtimes the instrumented library needs), its symbolizer, and timing.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
swift_bin=$(dirname "$(readlink -f "$(command -v swiftc)")")
clang="$swift_bin/clang"
clangxx="$swift_bin/clang++"
[ -x "$clang" ] || { echo "no clang next to swiftc in $swift_bin (the Swift toolchain's clang is needed)"; exit 1; }
export ASAN_SYMBOLIZER_PATH="$swift_bin/llvm-symbolizer"
export TSAN_SYMBOLIZER_PATH="$swift_bin/llvm-symbolizer"
asan_dir="$root/build-asan"
