#!/usr/bin/env bash
# Builds the benchmarks in release mode and prints every table: marty-metrics against
# swift-prometheus (in-process), and GET /metrics under wrk against client_golang and
# prometheus_client (HTTP).
#
#   Benchmarks/run.sh [--quick] [--sections recording,threads,swift-metrics,create,exposition,memory,http]
#                     [--http-rounds N]
#
# In-process sections (the marty-bench executable):
# 1. libmarty_metrics.so (release) from the main package, into Benchmarks/.build-lib, with
#    the libmarty_metrics.so.0 link next to it; the C-ABI rows dlopen it.
# 2. the marty-bench executable (release) from this package, into Benchmarks/.build-bench.
# 3. runs it. Extra arguments go to marty-bench (--quick: a short smoke run; --sections: only
#    those parts; --help, --profile: the rest).
# The http section (Benchmarks/http/run_http.py), after them:
# 4. installs what is missing (apt-get: wrk, golang-go, golang-github-prometheus-client-golang-dev,
#    golang-github-prometheus-exporter-toolkit-dev, openssl, python3-venv; a venv
#    Benchmarks/.venv-bench with Benchmarks/http/requirements.txt);
# 5. builds marty-http-serve (release, Benchmarks/.build-bench) and the client_golang server
#    (offline, against Debian's Go packages, into Benchmarks/.build-http);
# 6. runs the three servers one at a time under wrk -t2 -c10 -d10s --latency (--http-rounds N:
#    N interleaved rounds, each server's best kept, for a machine that others share), then
#    marty-http-serve and the client_golang server again over TLS + basic auth (one web-config
#    file, exporter-toolkit's format, made by run_http.py in a temporary folder).
set -euo pipefail
bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$bench_dir")"
lib_scratch="${MARTY_BENCH_LIB_SCRATCH:-$bench_dir/.build-lib}"
bench_scratch="${MARTY_BENCH_SCRATCH:-$bench_dir/.build-bench}"
http_scratch="${MARTY_BENCH_HTTP_SCRATCH:-$bench_dir/.build-http}"
venv="${MARTY_BENCH_VENV:-$bench_dir/.venv-bench}"

bench_sections_all="recording,threads,swift-metrics,create,exposition,memory"
sections="$bench_sections_all,http"
quick=()
http_rounds=1
passthrough=()
only_bench=false  # --help and --profile are marty-bench's alone
while [ $# -gt 0 ]; do
  case "$1" in
    --sections)
      sections="${2:-}"
      shift 2 || { echo "--sections needs a list" >&2; exit 2; }
      ;;
    --sections=*) sections="${1#--sections=}"; shift ;;
    --quick) quick=(--quick); shift ;;
    --http-rounds) http_rounds="${2:-1}"; shift 2 || { echo "--http-rounds needs a number" >&2; exit 2; } ;;
    -h | --help | --profile) only_bench=true; passthrough+=("$1"); shift ;;
    *) passthrough+=("$1"); shift ;;
  esac
done

run_http=false
bench_sections=()
IFS=',' read -r -a requested <<<"$sections"
for section in "${requested[@]}"; do
  case "$section" in
    http) run_http=true ;;
    "") ;;
    *)
      if [[ ",$bench_sections_all," != *",$section,"* ]]; then
        echo "--sections takes a comma-separated subset of $bench_sections_all,http" >&2
        exit 2
      fi
      bench_sections+=("$section")
      ;;
  esac
done
if $only_bench; then run_http=false; fi
if [[ " ${passthrough[*]} " == *" --help "* || " ${passthrough[*]} " == *" -h "* ]]; then
  echo "usage: Benchmarks/run.sh [--quick] [--sections $bench_sections_all,http] [--http-rounds N]"
  echo "  (the http section: Benchmarks/http/run_http.py --help); marty-bench's own options follow:"
fi
if [ ${#bench_sections[@]} -eq 0 ] && ! $run_http && ! $only_bench; then
  echo "--sections takes a comma-separated subset of $bench_sections_all,http" >&2
  exit 2
fi

# ---- In-process sections: marty-bench ------------------------------------------------------
if [ ${#bench_sections[@]} -gt 0 ] || $only_bench; then
  start=$(date +%s)
  (cd "$root" && swift build -c release --product marty_metrics --scratch-path "$lib_scratch") >&2
  lib_dir="$(cd "$root" && swift build -c release --product marty_metrics --scratch-path "$lib_scratch" --show-bin-path)"
  ln -sf libmarty_metrics.so "$lib_dir/libmarty_metrics.so.0"
  middle=$(date +%s)
  swift build -c release --package-path "$bench_dir" --scratch-path "$bench_scratch" --product marty-bench >&2
  bin_dir="$(swift build -c release --package-path "$bench_dir" --scratch-path "$bench_scratch" --show-bin-path)"
  end=$(date +%s)
  echo "build: libmarty_metrics.so $((middle - start)) s, marty-bench $((end - middle)) s ($(swift --version 2>&1 | head -1))"

  section_arguments=()
  if ! $only_bench; then
    section_arguments=(--sections "$(IFS=','; echo "${bench_sections[*]}")")
  fi
  "$bin_dir/marty-bench" --lib "$lib_dir/libmarty_metrics.so" "${quick[@]}" "${section_arguments[@]}" \
    "${passthrough[@]}"

  # Memory per series follows the CPUs the process may use (affinity mask, cgroup limit):
  # two shards per CPU, at most 64. MARTY_METRICS_SHARDS stands in for a 2-, 16- and 64-CPU pod.
  if ! $only_bench && [[ " ${bench_sections[*]} " == *" memory "* ]]; then
    echo "MEMORY BY CPUS (marty B/series; shards = 2 per usable CPU, at most 64)"
    for cpus_and_shards in 2:4 16:32 64:64; do
      cpus="${cpus_and_shards%%:*}"
      shards="${cpus_and_shards##*:}"
      MARTY_METRICS_SHARDS="$shards" "$bin_dir/marty-bench" --lib "$lib_dir/libmarty_metrics.so" --sections memory |
        grep -E '^9 (counter|histogram)' | awk -v cpus="$cpus" -v shards="$shards" \
          '{ printf "  %2d CPUs (%2d shards)  %-44s %s B/series\n", cpus, shards, substr($0, 3, 42), $(NF-2) }'
    done
  fi
fi
if ! $run_http; then exit 0; fi
[ ${#bench_sections[@]} -gt 0 ] && echo

# ---- HTTP section: wrk against the three servers ----------------------------------------------
packages=(wrk golang-go golang-github-prometheus-client-golang-dev golang-github-prometheus-exporter-toolkit-dev
  openssl python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "http: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "http: creating $venv" >&2
  python3 -m venv "$venv" >&2
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$bench_dir/http/requirements.txt" >&2

start=$(date +%s)
swift build -c release --package-path "$bench_dir" --scratch-path "$bench_scratch" --product marty-http-serve >&2
bin_dir="$(swift build -c release --package-path "$bench_dir" --scratch-path "$bench_scratch" --show-bin-path)"
middle=$(date +%s)
# client_golang and exporter-toolkit (its -web-config) from Debian's packages, built without
# modules or network.
mkdir -p "$http_scratch/gopath"
(cd "$bench_dir/http/promhttp" &&
  GO111MODULE=off GOFLAGS= GOPATH="$http_scratch/gopath:/usr/share/gocode" GOCACHE="$http_scratch/gocache" \
    go build -o "$http_scratch/promhttp-serve" .) >&2
end=$(date +%s)
echo "build: marty-http-serve $((middle - start)) s, promhttp-serve $((end - middle)) s ($(go version))"
echo

exec "$venv/bin/python" "$bench_dir/http/run_http.py" --marty "$bin_dir/marty-http-serve" \
  --promhttp "$http_scratch/promhttp-serve" --python "$venv/bin/python" --rounds "$http_rounds" "${quick[@]}"
