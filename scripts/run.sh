#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh: the main job. Sets up (scripts/setup.sh), builds, generates the
# kernels of a spec (default specs/llama3.lua) and validates their SPIR-V,
# then runs them on the default device (a GPU through Vulkan, else the native
# CPU backend; AULE_DEVICE=vulkan for lavapipe): a correctness check against
# float64 and a speed table.
#   scripts/run.sh [SPEC]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
spec=${1:-specs/llama3.lua}
"$root/scripts/setup.sh"
"$root/scripts/build.sh" >/dev/null
cd "$root"
out=build/kernels/$(basename "$spec" .lua)
echo "== auegen --spec $spec --target portable,nvidia-hopper --out $out"
build/auegen --spec "$spec" --target portable,nvidia-hopper --out "$out"
val=$(grep -m1 '^SPIRV_VAL:' build/CMakeCache.txt | cut -d= -f2 || true)
[ -x "$val" ] || { echo "run.sh: no spirv-val found (run scripts/setup.sh)"; exit 1; }
echo "== spirv-val"
for f in "$out"/*.spv; do
    env=vulkan1.2
    [ "$(od -An -tx4 -j4 -N4 "$f" | tr -d ' ')" = 00010600 ] && env=vulkan1.3
    if grep -qa SPV_KHR_bfloat16 "$f"; then
        # bf16 tensor-core kernels: this spirv-val predates SPV_KHR_bfloat16 (docs/kernels.md)
        build/auegen --validate "$f"
    else
        "$val" --target-env "$env" "$f" && echo "ok  $env  $f"
    fi
done
echo "== aule info"
build/aule info
echo "== aule check --spec $spec"
build/aule check --spec "$spec"
echo "== aule bench --spec $spec (small shapes: a CPU device is slow; see docs/performance.md for the GPU)"
build/aule bench --spec "$spec" --heads 8 --seq 256,512 --iters 3
# (aule info's output taken whole first: grep -q quitting early would make the pipe fail)
info=$(build/aule info 2>/dev/null || true)
if grep -q '^  backend  *native CPU' <<<"$info"; then
    echo "== bench/cpu.sh build --quick (the native CPU backend against this machine's FMA peak and memory"
    echo "   bandwidth, measured in the same run, and the CPU peers; docs/performance.md for the full sizes)"
    bench/cpu.sh build --quick
fi
