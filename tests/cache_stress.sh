#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cache_stress.sh: 8 processes on one disk cache folder, writers killed with
# kill -9 at random moments (mid-compile, mid-write, mid-rename), several
# rounds. Afterwards every entry loads or is a miss, never a wrong kernel:
# `aule check` (FlashAttention's rule against float64) passes for every
# kernel, first with what the cache holds, then again from a cache it healed.
#   cache_stress.sh AULE SOURCE_DIR [ROUNDS]
set -u
aule=$1
src=$2
rounds=${3:-4}
tmp=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cache=$tmp/cache
# Kernels that are not linked in from generated/: each is compiled and stored.
cat > "$tmp/spec.lua" <<'LUA'
attention { name = "s40", head_dim = 40, dtype = "f32" }
attention { name = "s24", head_dim = 24, gqa = 2, causal = true, dtype = "f32" }
attention { name = "s72", head_dim = 72, dtype = "f32", softcap = 20 }
attention { name = "s16", head_dim = 16, dtype = "f32", window = { left = 8, right = 0 } }
LUA
check() { AULE_CACHE_DIR=$cache "$aule" check --spec "$tmp/spec.lua" --quick --seed "$1"; }

killed=0 finished=0
for round in $(seq 1 "$rounds"); do
    pids=()
    for p in $(seq 1 8); do
        AULE_CACHE_DIR=$cache "$aule" check --spec "$tmp/spec.lua" --quick --seed $((round * 10 + p)) \
            >"$tmp/out.$round.$p" 2>&1 &
        pids+=($!)
    done
    # Kill half of them, each after its own random delay (0-1.5 s).
    for p in 1 3 5 7; do
        pid=${pids[$((p - 1))]}
        ( sleep "0.$((RANDOM % 10))$((RANDOM % 10))"; sleep $((RANDOM % 2)); kill -9 "$pid" 2>/dev/null ) &
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}"
        rc=$?
        if [ $rc -eq 137 ]; then
            killed=$((killed + 1))
        elif [ $rc -ne 0 ]; then
            fail "round $round, process $((i + 1)) exit $rc: $(cat "$tmp/out.$round.$((i + 1))")"
        else
            finished=$((finished + 1))
        fi
    done
    wait
    # Drop some entries so that the next round's writers write (and are killed) again.
    find "$cache/v1/spirv" -name '*.spv' 2>/dev/null | head -n $((round % 2 + 2)) | xargs -r rm -f
done
entries=$(find "$cache/v1/spirv" -name '*.spv' 2>/dev/null | wc -l)
temps=$(find "$cache/v1/spirv" -type f ! -name '*.spv' 2>/dev/null | wc -l)
# Every entry loads or is a miss; the kernels pass the rule either way.
check 999 >"$tmp/after" 2>&1 || fail "after the stress: $(cat "$tmp/after")"
disk=$(grep -c " disk " "$tmp/after")
# A second pass: what the first pass stored (or kept) is whole.
check 1000 >"$tmp/again" 2>&1 || fail "second pass: $(cat "$tmp/again")"
grep -q " jit " "$tmp/again" && fail "second pass still compiles: $(cat "$tmp/again")"
echo "cache_stress: $rounds rounds x 8 processes: $killed killed with kill -9, $finished finished;" \
    "$entries entries and $temps leftover temp files; after: $disk kernels from disk, all pass the rule"
