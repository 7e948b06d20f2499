#!/usr/bin/env bash
# run.sh: the main job. Sets up (scripts/setup.sh), builds, and generates the
# kernels of a spec (default specs/llama3.lua) for the portable profile and
# for tensor cores, validating every SPIR-V module with spirv-val.
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
echo "== spirv-val ($val)"
for f in "$out"/*.spv; do
    env=vulkan1.2
    [ "$(od -An -tx4 -j4 -N4 "$f" | tr -d ' ')" = 00010600 ] && env=vulkan1.3
    "$val" --target-env "$env" "$f" && echo "ok  $env  $f"
done
