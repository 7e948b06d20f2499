#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli.sh: auegen as a user runs it. Writes the four kinds of file, every .spv
# passes spirv-val, a second run changes no byte, a bad spec gives FILE:LINE
# and exit 1, bad usage exit 2; --list-outputs names exactly what a run
# writes, --register and --depfile write what a build system needs.
#   cli.sh AUEGEN SPIRV_VAL SOURCE_DIR
set -u
auegen=$1
spirv_val=$2
src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$src" || exit 1

"$auegen" --spec specs/llama3.lua --target portable,nvidia-hopper --out "$tmp/out" >"$tmp/log" || fail "auegen failed: $(cat "$tmp/log")"
for ext in comp spv c h; do
    n=$(ls "$tmp/out"/*."$ext" 2>/dev/null | wc -l)
    [ "$n" -eq 20 ] || fail "expected 20 .$ext files (5 kernels, a decode spec's reduce and append parts, a training spec's 3 backward parts; 2 targets), found $n"
done
for f in "$tmp/out"/*.spv; do
    env=vulkan1.2
    [ "$(od -An -tx4 -j4 -N4 "$f" | tr -d ' ')" = 00010600 ] && env=vulkan1.3
    if grep -qa SPV_KHR_bfloat16 "$f"; then
        "$auegen" --validate "$f" >/dev/null || fail "auegen --validate rejects $f"
        bf16=$((${bf16:-0} + 1))
    else
        "$spirv_val" --target-env "$env" "$f" || fail "spirv-val rejects $f"
    fi
done
# llama3.lua's bf16 prefill and training kernels (forward, bwd_dkdv, bwd_dq) on
# nvidia-hopper run on bf16 matrices.
[ "${bf16:-0}" -eq 4 ] || fail "expected 4 bf16 tensor-core modules, found ${bf16:-0}"
sums1=$(cd "$tmp/out" && sha256sum * && stat -c '%n %Y.%y' *)
sleep 1
"$auegen" --spec specs/llama3.lua --target portable,nvidia-hopper --out "$tmp/out" >"$tmp/log2" || fail "second run failed"
sums2=$(cd "$tmp/out" && sha256sum * && stat -c '%n %Y.%y' *)
[ "$sums1" = "$sums2" ] || fail "second run changed files"
grep -q " 0 file(s) written" "$tmp/log2" || fail "second run reports writes"
grep -rq "$tmp\|/home\|/root\|/work" "$tmp/out" && fail "an output names a machine path"

printf 'attention {\n    name = "big",\n    head_dim = 300,\n}\n' > "$tmp/bad.lua"
"$auegen" --spec "$tmp/bad.lua" --out "$tmp/bad" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "bad spec: exit $rc, expected 1"
grep -qx "$tmp/bad.lua:3: head_dim must be in 1..256 (got 300)" "$tmp/err" || fail "bad spec message: $(cat "$tmp/err")"
[ -e "$tmp/bad" ] && fail "a bad spec created its output folder"

"$auegen" --bogus >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc, expected 2"
"$auegen" --spec specs/llama3.lua --target nowhere --out "$tmp/x" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown target: exit $rc, expected 2"
"$auegen" --spec "$tmp/missing.lua" --out "$tmp/x" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "missing spec: exit $rc, expected 1"
grep -q "cannot read spec file" "$tmp/err" || fail "missing spec message: $(cat "$tmp/err")"
"$auegen" --spec specs/llama3.lua --kernel nope --out "$tmp/x" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || fail "unknown kernel: exit $rc, expected 1"
"$auegen" --spec specs/gemma2.lua --list | grep -q "^gemma2_9b_local .*window=4095,0 softcap=50" || fail "--list"
"$auegen" --help | grep -q "usage: auegen" || fail "--help"

# --list-outputs: the files a run writes, nothing generated.
"$auegen" --spec specs/llama3.lua --target portable,nvidia-hopper --out "$tmp/out" --list-outputs \
    | LC_ALL=C sort > "$tmp/listed" || fail "--list-outputs failed"
(ls -d "$tmp/out"/* | LC_ALL=C sort) > "$tmp/written"
cmp -s "$tmp/listed" "$tmp/written" || fail "--list-outputs differs from the files written: $(diff "$tmp/listed" "$tmp/written")"
"$auegen" --spec specs/llama3.lua --out "$tmp/none" --list-outputs >/dev/null || fail "--list-outputs, new folder"
[ -e "$tmp/none" ] && fail "--list-outputs created its output folder"

# --register and --depfile: the registration file includes every .c and registers every kernel.
"$auegen" --spec "$src/specs/llama3.lua" --target portable --out "$tmp/reg" --register "$tmp/reg/llama3.kernels.c" \
    --depfile "$tmp/reg/llama3.kernels.d" >/dev/null || fail "--register/--depfile failed"
ncs=$(ls "$tmp/reg"/*.portable.c | wc -l)
[ "$(grep -c '^#include ".*\.portable\.c"$' "$tmp/reg/llama3.kernels.c")" -eq "$ncs" ] || fail "--register: not every .c included"
[ "$(grep -c '^    &aule_kernel_.*_portable,$' "$tmp/reg/llama3.kernels.c")" -eq "$ncs" ] || fail "--register: not every kernel registered"
grep -q "aule_register_kernels(kernels" "$tmp/reg/llama3.kernels.c" || fail "--register: no registration"
grep -qx "$tmp/reg/llama3.kernels.c: $src/specs/llama3.lua .*auegen" "$tmp/reg/llama3.kernels.d" \
    || fail "--depfile: $(cat "$tmp/reg/llama3.kernels.d")"
"$auegen" --spec specs/llama3.lua --target portable --out "$tmp/reg" --register "$tmp/reg/llama3.kernels.c" \
    --list-outputs | grep -qx "$tmp/reg/llama3.kernels.c" || fail "--list-outputs without the --register file"
echo "cli: 14 checks passed"
