#!/usr/bin/env bash
# Builds the DocC documentation of the public Swift modules into .build/docs/<Module> (docc
# from the toolchain, on symbol graphs of the existing debug build: no second build), and
# fails on a broken symbol link (--warnings-as-errors). Public symbols of ours without a doc
# comment fail the run (MARTY_DOCS_STRICT=0 only lists them).
# MartyCABI is left out: its public Swift functions are the C interface, whose documentation
# is include/marty_metrics.h.
#   bash Tests/docs/build.sh            # after `swift build --build-tests`
#   python3 -m http.server -d .build/docs/MartyMetrics   # then open /documentation/martymetrics
set -euo pipefail
cd "$(dirname "$0")/../.."
modules=(MartyMetrics MartyMetricsTestKit MartyHealth MartyProcess MartyCatalog MartyEndpoint MartyService
  MartySwiftMetrics MartyGRPC)
swift package dump-symbol-graph >/dev/null
graphs="$(swift build --show-bin-path)/../symbolgraph"
mkdir -p .build/docs
python3 Tests/docs/coverage.py "$graphs" "$PWD/Sources" "${modules[@]}" || [ "${MARTY_DOCS_STRICT:-1}" != 1 ]
for module in "${modules[@]}"; do
  input=$(mktemp -d)
  cp "$graphs/$module.symbols.json" "$input/"
  cp "$graphs/$module"@*.symbols.json "$input/" 2>/dev/null || true  # extensions of other modules' types
  catalog=()
  [ -d "Sources/$module/$module.docc" ] && catalog=("Sources/$module/$module.docc")
  docc convert "${catalog[@]}" --additional-symbol-graph-dir "$input" --fallback-display-name "$module" \
    --fallback-bundle-identifier "org.marty.$module" --output-path ".build/docs/$module" \
    --warnings-as-errors >/dev/null
  rm -rf "$input"
  echo "docs: $module -> .build/docs/$module"
done
