#!/usr/bin/env bash
# exports.sh LIBRARY HEADER CC [EXAMPLE]
# The shipped library exports only marty_* functions (all of the header's), has the SONAME
# libmarty_metrics.so.0, needs no Swift runtime library, carries no regex runtime, and a
# program linked with it runs with an empty environment (no LD_LIBRARY_PATH).
set -u
lib=$1 header=$2 cc=$3 example=${4:-}
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

[ -f "$lib" ] || { echo "FAIL: no library at $lib"; echo "0 passed, 1 failed"; exit 1; }

# 1. Exported (global, defined) dynamic symbols: marty_* only.
exported=$(nm -D -g --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u)
others=$(printf '%s\n' "$exported" | grep -v '^marty_' | grep -v '^$' || true)
if [ -z "$others" ]; then pass; else
    fail "exports symbols not named marty_*: $(printf '%s\n' "$others" | head -20 | tr '\n' ' ')$( [ "$(printf '%s\n' "$others" | wc -l)" -gt 20 ] && echo "... ($(printf '%s\n' "$others" | wc -l) in all)")"
fi
functions=$(nm -D -g --defined-only "$lib" | awk '$2 == "T" || $2 == "W" || $2 == "i" {print $3}' | sed 's/@.*//' | sort -u)

# 2. Every function the header declares is exported as a function; nothing else is.
declared=$("$cc" -E -P -x c "$header" | grep -oE '\bmarty_[a-z0-9_]+[[:space:]]*\(' \
           | sed 's/[[:space:](]//g' | sort -u)
[ -n "$declared" ] || fail "found no marty_ function in $header"
for f in $declared; do
    if printf '%s\n' "$functions" | grep -qx "$f"; then pass; else fail "header function $f is not exported"; fi
done
for f in $(printf '%s\n' "$exported" | grep '^marty_'); do
    if printf '%s\n' "$declared" | grep -qx "$f"; then pass; else fail "exported $f is not declared in the header"; fi
done
echo "header declares $(printf '%s\n' "$declared" | wc -l) functions; library exports $(printf '%s\n' "$exported" | grep -c .) symbols"

# 3. SONAME.
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = "libmarty_metrics.so.0" ]; then pass; else fail "SONAME is '$soname', expected libmarty_metrics.so.0"; fi

# 4. No Swift runtime needed: neither NEEDED nor resolved by ldd; no RUNPATH into a toolchain.
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
if printf '%s' "$needed" | grep -qi swift; then fail "NEEDED names a Swift library: $needed"; else pass; fi
ldd_out=$(ldd "$lib" 2>&1)
if printf '%s\n' "$ldd_out" | grep -qi 'libswift\|libFoundation\|libdispatch\|libBlocksRuntime'; then
    fail "ldd names Swift runtime libraries:"; printf '%s\n' "$ldd_out" | grep -i 'swift\|Foundation\|dispatch\|Blocks'
else pass; fi
if printf '%s\n' "$ldd_out" | grep -q 'not found'; then fail "ldd: unresolved dependencies: $ldd_out"; else pass; fi
runpath=$(readelf -d "$lib" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\].*/\2/p')
if printf '%s' "$runpath" | grep -qi swift; then fail "RUNPATH/RPATH points into a Swift toolchain: $runpath"; else pass; fi

# 5. The example runs with an empty environment.
if [ -n "$example" ]; then
    if out=$(env -i "$example" 2>&1); then
        if printf '%s\n' "$out" | grep -q '^# TYPE '; then pass; else fail "example under env -i printed no exposition: $out"; fi
    else
        fail "example under env -i failed (exit $?): $out"
    fi
fi

# 6. No regex runtime (_StringProcessing, _RegexParser), which a host never uses: one
#    `trimmingPrefix` once linked 1.3 MiB of it.
unused=$(nm "$lib" 2>/dev/null | grep -oE '17_StringProcessing|12_RegexParser' | sort -u | tr '\n' ' ')
if [ -z "$unused" ]; then pass; else fail "the library carries unused modules: $unused"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
