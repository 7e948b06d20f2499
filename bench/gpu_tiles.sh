#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu_tiles.sh: checks and times the tile shapes of bench/tiles.lua on the GPU
# (set up as in bench/gpu.sh), next to SDPA's FlashAttention-2 on the same shape.
set -u
. "$(dirname "$0")/gpu_env.sh"
{
echo "== forward tests on this GPU"
timeout 240 build/tests/test_forward 2>&1 | grep -v "^\[ *\(RUN\|OK\) *\]"
echo "exit ${PIPESTATUS[0]}"
echo "== check"
timeout 200 $A check --spec bench/tiles.lua --quick | grep -v " pass$"
echo "== bench"
timeout 300 $A bench --spec bench/tiles.lua --batch 2 --heads 32 --seq 8192 --iters 5 --csv
timeout 100 python3 bench/sdpa_peer.py 2 32 32 128 8192 --backends flash
} 2>&1 | tee "$OUT/tiles.txt"
