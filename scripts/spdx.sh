#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spdx.sh: adds the line "SPDX-License-Identifier: MIT" (see LICENSE) to the
# source files that lack it, as their first line (after a #! line) in their
# own comment syntax: C and headers, CMake, shell, Python, Lua. With --check it
# only lists the files that lack it and exits 1 if there are any.
# Files: those given, else every file git knows of those kinds, less
# generated/ (auegen writes the line itself), tests/fuzz/corpus/ (fuzz inputs)
# and tests/bad_specs/ (test data
# whose errors are expected at fixed line numbers).
#   scripts/spdx.sh [--check] [FILE...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
if [ $# -gt 0 ]; then
    files=("$@")
else
    mapfile -t files < <(git ls-files -co --exclude-standard \
        | grep -E '(\.(c|h|cmake|sh|py|lua)|CMakeLists\.txt|\.cmake\.in)$' | grep -Ev '^(generated|tests/bad_specs|tests/fuzz/corpus)/')
fi
missing=0
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    head -n 5 "$f" | grep -q 'SPDX-License-Identifier:' && continue
    missing=$((missing + 1))
    if [ $check = 1 ]; then echo "$f"; continue; fi
    case "$f" in
        *.c|*.h) line='/* SPDX-License-Identifier: MIT */' ;;
        *.lua) line='-- SPDX-License-Identifier: MIT' ;;
        *) line='# SPDX-License-Identifier: MIT' ;;
    esac
    if head -n 1 "$f" | grep -q '^#!'; then
        sed -i "1a $line" "$f"
    else
        sed -i "1i $line" "$f"
    fi
done
if [ $check = 1 ] && [ $missing -gt 0 ]; then exit 1; fi
exit 0
