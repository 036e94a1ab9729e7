#!/usr/bin/env bash
# header.sh HEADER CC [CXX]
# The header compiles on its own as strict C99 and as C++17, without a single warning.
set -u
header=$(realpath "$1") cc=$2 cxx=${3:-}
passed=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # description, command...
    local what=$1; shift
    if out=$("$@" 2>&1); then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: $what"; echo "  \$ $*"; printf '%s\n' "$out" | sed 's/^/  /'
    fi
}
cflags=(-std=c99 -Wall -Wextra -Wpedantic -Werror -Wstrict-prototypes -Wold-style-definition)
run "C99: header alone" "$cc" "${cflags[@]}" -fsyntax-only -x c "$header"
printf '#include "%s"\n#include "%s"\nint main(void) { return MARTY_OK; }\n' "$header" "$header" > "$work/twice.c"
run "C99: included twice" "$cc" "${cflags[@]}" -c "$work/twice.c" -o "$work/twice.o"
if [ -n "$cxx" ]; then
    cxxflags=(-std=c++17 -Wall -Wextra -Wpedantic -Werror)
    run "C++17: header alone" "$cxx" "${cxxflags[@]}" -fsyntax-only -x c++ "$header"
    printf '#include "%s"\nint main() { return marty_version() == nullptr ? 1 : 0; }\n' "$header" > "$work/use.cpp"
    run "C++17: a translation unit using it" "$cxx" "${cxxflags[@]}" -c "$work/use.cpp" -o "$work/use.o"
    if nm "$work/use.o" | grep -q ' U marty_version$'; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL: C++ refers to marty_version by a mangled name (extern \"C\" missing?):"; nm "$work/use.o"
    fi
else
    failed=$((failed + 1)); echo "FAIL: no C++ compiler found: the C++ checks did not run"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
