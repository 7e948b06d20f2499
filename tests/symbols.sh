#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# symbols.sh: the static archives name every global symbol with the project's
# prefixes (aule_, aule__, auegen_, auegen__), so a program that links them
# statically meets no clash with its own names. volk's vk*/volk* loader
# pointers are the one exception in the static archive (hidden in libaule.so).
#   symbols.sh ARCHIVE...
set -u
# Sanitizer builds add their own instrumentation symbols (__odr_asan.NAME, __asan_*, ...): not ours.
bad=$(for a in "$@"; do nm -g --defined-only "$a" 2>/dev/null | awk '$2 ~ /[TDBRC]/ {print $3}'; done \
      | grep -Ev '^__(odr_asan|asan|ubsan|tsan|sancov)' | grep -Ev '^(aule_|auegen_|vk|volk)' | sort -u)
if [ -n "$bad" ]; then
    echo "FAIL: unprefixed global symbols:"; echo "$bad"; exit 1
fi
n=$(for a in "$@"; do nm -g --defined-only "$a" | awk '$2 ~ /[TDBRC]/ {print $3}'; done | grep -Ec '^(aule_|auegen_)')
echo "symbols: $n global symbols, every one prefixed aule_/auegen_ (plus volk's vk* pointers)"
