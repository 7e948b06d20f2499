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
# aule run with gradients: the files, their shapes, determinism, and dO = 0 giving zero gradients.
cat >"$tmp/train.lua" <<'SPEC'
attention { name = "t", head_dim = 16, gqa = 2, causal = true, dtype = "f32", backward = true }
SPEC
python3 - "$tmp" <<'PY'
import struct, sys, random
def npy(path, shape, vals):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join("%d, " % s for s in shape)
    hdr += " " * (63 - (len(hdr) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        f.write(struct.pack("<%df" % len(vals), *vals))
random.seed(5)
for name, shape in [("q", (1, 4, 9, 16)), ("k", (1, 2, 13, 16)), ("v", (1, 2, 13, 16)), ("do", (1, 4, 9, 16))]:
    n = 1
    for s in shape: n *= s
    npy(f"{sys.argv[1]}/{name}.npy", shape, [random.uniform(-1, 1) for _ in range(n)])
    if name == "do": npy(f"{sys.argv[1]}/zero.npy", shape, [0.0] * n)
PY
r() { "$aule" run --spec "$tmp/train.lua" --q "$tmp/q.npy" --k "$tmp/k.npy" --v "$tmp/v.npy" --out "$tmp/o$1.npy" \
        --do "$tmp/$2.npy" --dq "$tmp/dq$1.npy" --dk "$tmp/dk$1.npy" --dv "$tmp/dv$1.npy" 2>"$tmp/err"; }
r 1 do || fail "run --do: $(cat "$tmp/err")"
r 2 do || fail "run --do again: $(cat "$tmp/err")"
for g in dq dk dv; do cmp -s "$tmp/${g}1.npy" "$tmp/${g}2.npy" || fail "$g differs between two runs"; done
head -c 80 "$tmp/dk1.npy" | grep -q "(1, 2, 13, 16)" || fail "dk shape: $(head -c 80 "$tmp/dk1.npy")"
r 3 zero || fail "run with dO = 0: $(cat "$tmp/err")"
python3 - "$tmp" <<'PY' || fail "dO = 0: gradients not zero, or dO != 0: gradients zero"
import struct, sys
def vals(p):
    b = open(p, "rb").read(); n = struct.unpack("<H", b[8:10])[0]
    return struct.unpack("<%df" % ((len(b) - 10 - n) // 4), b[10 + n:])
t = sys.argv[1]
assert all(x == 0 for g in ("dq3", "dk3", "dv3") for x in vals(f"{t}/{g}.npy"))
assert all(any(x != 0 for x in vals(f"{t}/{g}1.npy")) for g in ("dq", "dk", "dv"))
PY
"$aule" run --spec "$tmp/train.lua" --q "$tmp/q.npy" --k "$tmp/k.npy" --v "$tmp/v.npy" --out "$tmp/o4.npy" \
    --do "$tmp/do.npy" --dq "$tmp/dq4.npy" 2>/dev/null && fail "--do without --dk and --dv accepted"

echo "aule cli: --version, --help x4, --flag=value, csv and json columns, progress on stderr, run --do"
