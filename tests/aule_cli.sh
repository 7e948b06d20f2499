#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# aule_cli.sh: the aule command's conventions. --version; --help on every
# command (exit 0, its own usage, the environment variables); --flag=value as
# well as --flag value; bench's CSV header and rows with the same number of
# columns, JSON lines with the same fields; progress on stderr, not stdout.
#   aule_cli.sh AULE SOURCE_DIR
set -u
aule=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$src" || exit 1
export AULE_CACHE_DIR=$tmp/cache

"$aule" --version | grep -Eq '^aule [0-9]+\.[0-9]+\.[0-9]+ \(auegen ' || fail "--version: $("$aule" --version)"
for c in info check bench run; do
    "$aule" "$c" --help >"$tmp/h" 2>&1 || fail "aule $c --help exits $?"
    grep -q "^usage: aule $c" "$tmp/h" || fail "aule $c --help: $(head -2 "$tmp/h")"
    grep -q "AULE_CACHE_DIR" "$tmp/h" || fail "aule $c --help does not list the environment"
done
"$aule" --help | grep -q "AULE_VERBOSE" || fail "aule --help does not document AULE_VERBOSE"

"$aule" bench --spec=specs/tiny.lua --kernel=tiny_f32 --seq=32,48 --iters=2 --csv >"$tmp/csv" 2>"$tmp/err" \
    || fail "bench --csv: $(cat "$tmp/err")"
header=$(head -1 "$tmp/csv")
[ "$header" = "device,kernel,kind,variant,dtype,layout,B,H,Hkv,Sq,Sk,D,causal,ms,tflops,gbs,wall_ms" ] \
    || fail "csv header: $header"
"$aule" bench --spec specs/llama3.lua --kernel llama3_8b_decode --heads 8 --seq 64 --iters 2 --csv \
    >"$tmp/csv2" 2>>"$tmp/err" || fail "decode bench --csv: $(cat "$tmp/err")"
cols=$(echo "$header" | awk -F, '{print NF}')
# The device name is quoted and may hold commas: count fields after it.
tail -n +2 "$tmp/csv" | cat - <(tail -n +2 "$tmp/csv2") | while IFS= read -r line; do
    rest=${line#\"*\",}
    n=$(( $(echo "$rest" | awk -F, '{print NF}') + 1 ))
    [ "$n" -eq "$cols" ] || { echo "FAIL: csv row has $n columns, header $cols: $line"; exit 1; }
done || exit 1
grep -q ',decode,scalar,f16,paged,' "$tmp/csv2" || fail "decode csv row: $(cat "$tmp/csv2")"
grep -q "preparing the kernel" "$tmp/err" || fail "no progress on stderr"
grep -q "preparing" "$tmp/csv" && fail "progress went to stdout"

"$aule" bench --spec specs/tiny.lua --kernel tiny_f32 --seq 32 --iters 2 --json >"$tmp/json" 2>/dev/null \
    || fail "bench --json"
python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = sys.argv[2].split(",")
assert rows and all(list(r) == keys for r in rows), rows
' "$tmp/json" "$header" || fail "json lines: $(cat "$tmp/json")"
echo "aule cli: --version, --help x4, --flag=value, csv and json columns, progress on stderr"
