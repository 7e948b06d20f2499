#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cache.sh: the disk cache across processes, through the aule CLI.
#   - a second process finds the kernels on disk and compiles nothing;
#   - corrupted, truncated, wrong-version and foreign entries are misses (JIT again, still right);
#   - 8 processes filling one empty cache folder at once all pass, leaving whole entries;
#   - an unwritable cache folder still works (compiles every time);
#   - no Vulkan driver, a Vulkan device asked for (AULE_DEVICE=vulkan, as ctest sets): a clear
#     message and exit 1, no crash (without AULE_DEVICE the native CPU backend would open).
#   cache.sh AULE SOURCE_DIR
set -u
aule=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$src" || exit 1
spec=specs/tiny.lua
run() { AULE_CACHE_DIR=$1 "$aule" check --spec "$spec" --quick; }

run "$tmp/c1" >"$tmp/first" 2>&1 || fail "first run: $(cat "$tmp/first")"
grep -q " jit " "$tmp/first" || fail "first run compiled nothing"
run "$tmp/c1" >"$tmp/second" 2>&1 || fail "second run: $(cat "$tmp/second")"
grep -q " jit " "$tmp/second" && fail "second process compiled again: $(cat "$tmp/second")"
jits=$(grep -c " jit " "$tmp/first")
n=$(grep -c " disk " "$tmp/second")
[ "$n" -eq "$jits" ] || fail "second process: $n kernels from disk, expected $jits"
echo "second process: $n kernels from the disk cache, none compiled"

entries=$(find "$tmp/c1/v1/spirv" -name '*.spv' | sort)
[ "$(echo "$entries" | wc -l)" -eq "$jits" ] || fail "expected $jits cache entries"
[ "$jits" -ge 2 ] || fail "need at least 2 compiled kernels for the damage tests (got $jits)"
set -- $entries ""
# corrupt one byte in the middle of one, truncate another; then change the format version
damage() {
python3 - "$@" <<'PY'
import sys
how, path = sys.argv[1], sys.argv[2]
d = bytearray(open(path, 'rb').read())
if how == 'flip': d[len(d) // 2] ^= 0x55
elif how == 'cut': d = d[:len(d) // 3]
elif how == 'version': d[8] = 99
open(path, 'wb').write(d)
PY
}
damage flip "$1"
damage cut "$2"
run "$tmp/c1" >"$tmp/third" 2>&1 || fail "run after corruption: $(cat "$tmp/third")"
[ "$(grep -c " jit " "$tmp/third")" -eq 2 ] || fail "damaged entries were not misses: $(cat "$tmp/third")"
damage version "$1"
run "$tmp/c1" >"$tmp/third" 2>&1 || fail "run after a version change: $(cat "$tmp/third")"
[ "$(grep -c " jit " "$tmp/third")" -eq 1 ] || fail "a wrong-version entry was not a miss: $(cat "$tmp/third")"
echo "corrupted, truncated and wrong-version entries: misses, recompiled, checks pass"
# a foreign entry: a valid entry of another kernel copied over this one's name
set -- $(find "$tmp/c1/v1/spirv" -name '*.spv' | sort)
cp "$1" "$2"
run "$tmp/c1" >"$tmp/fourth" 2>&1 || fail "run after a foreign entry: $(cat "$tmp/fourth")"
[ "$(grep -c " jit " "$tmp/fourth")" -eq 1 ] || fail "the foreign entry was not a miss: $(cat "$tmp/fourth")"
echo "foreign entry: a miss, recompiled, checks pass"

for i in 1 2 3 4 5 6 7 8; do run "$tmp/c8" >"$tmp/p$i" 2>&1 & done
wait
for i in 1 2 3 4 5 6 7 8; do grep -Eq "^([0-9]+) of \1 checks passed" "$tmp/p$i" || fail "process $i: $(cat "$tmp/p$i")"; done
left=$(find "$tmp/c8" -name '.tmp*' | wc -l)
[ "$left" -eq 0 ] || fail "$left temp files left behind"
run "$tmp/c8" >"$tmp/after8" 2>&1 || fail "run after 8 processes"
grep -q " jit " "$tmp/after8" && fail "entries written by 8 processes were not reused"
echo "8 processes at once: all passed, entries whole and reused"

touch "$tmp/file"
run "$tmp/file/cache" >"$tmp/ro" 2>&1 || fail "unwritable cache: $(cat "$tmp/ro")"
grep -Eq "^([0-9]+) of \1 checks passed" "$tmp/ro" || fail "unwritable cache: $(cat "$tmp/ro")"
echo "unwritable cache folder: works, compiling each time"

VK_DRIVER_FILES=$tmp/none.json VK_ICD_FILENAMES=$tmp/none.json "$aule" info >"$tmp/nodev" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "no driver: exit $rc, expected 1: $(cat "$tmp/nodev")"
grep -qi "no Vulkan device\|no usable Vulkan device\|no Vulkan driver" "$tmp/nodev" || fail "no driver message: $(cat "$tmp/nodev")"
echo "no Vulkan driver: $(tail -1 "$tmp/nodev")"
echo "cache: all checks passed"
