#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cpu.sh: the native CPU backend's speed table, with its ceilings and peers measured
# in the same run (docs/performance.md, "The native CPU backend"), and the generated
# kernels of specs/llama3.lua against the generic kernel (docs/cpu.md).
#   bench/cpu.sh [BUILD_DIR]        (default build/; --quick as a second argument: small sizes)
# Threads: $AULE_CPU_THREADS, else one per online CPU, for aule and the peers alike.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
quick=${2:-}
threads=${AULE_CPU_THREADS:-$(nproc)}
export AULE_CPU_THREADS=$threads OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
out=$("$build/bench_cpu" --markdown $quick)
echo "$out"
peak=$(echo "$out" | sed -n 's/.*FMA peak[^:]*: \([0-9.]*\) GFLOP.*/\1/p')
sizes=2048
[ -n "$quick" ] && sizes=512
echo
echo "| peer | shape | ms | GFLOP/s | of peak |"
echo "|---|---|---|---|---|"
/usr/bin/python3 "$root/bench/cpu_peers.py" "$peak" "$threads" "$sizes"
