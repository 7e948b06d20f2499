#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu.sh: the GPU run. Uses binaries built on the CPU machine (build/aule),
# the Vulkan loader packages in .gl/ (docs/performance.md says how to get
# them) and the GPU machine's PyTorch for the peer figures. Writes its
# results into $OUT (default /tmp/aule-gpu).
#   bench/gpu.sh
set -u
. "$(dirname "$0")/gpu_env.sh"
{
echo "== aule info"
timeout 60 $A info
echo "== the test suite's forward tests on this GPU"
timeout 300 build/tests/test_forward 2>&1 | grep -v "^\[ *\(RUN\|OK\) *\]"
echo "exit ${PIPESTATUS[0]}"
echo "== the coopmat test on the device's own matrices (build/tests/test_coopmat)"
timeout 300 build/tests/test_coopmat 2>&1 | grep -v "^ok "
echo "exit ${PIPESTATUS[0]}"
echo "== aule check, every shipped spec"
for s in specs/*.lua; do timeout 300 $A check --spec "$s"; echo "exit $?"; done
} 2>&1 | tee "$OUT/check.txt"

cat > /tmp/bench.lua <<'LUA'
attention { name = "d128", head_dim = 128, dtype = "f16" }
attention { name = "d128_causal", head_dim = 128, causal = true, dtype = "f16" }
attention { name = "d64", head_dim = 64, dtype = "f16" }
attention { name = "d64_causal", head_dim = 64, causal = true, dtype = "f16" }
attention { name = "gqa4_causal", head_dim = 128, gqa = 4, causal = true, dtype = "f16" }
attention { name = "d256", head_dim = 256, dtype = "f16" }
attention { name = "d128_bf16", head_dim = 128, dtype = "bf16" }
attention { name = "d128_causal_bf16", head_dim = 128, causal = true, dtype = "bf16" }
LUA
cat > /tmp/bench_scalar.lua <<'LUA'
attention { name = "d128_scalar", head_dim = 128, dtype = "f16", coopmat = "none" }
attention { name = "d128_causal_scalar", head_dim = 128, causal = true, dtype = "f16", coopmat = "none" }
LUA
{
echo "== aule bench (B*S = 16k tokens, 32 heads)"
timeout 240 $A bench --spec /tmp/bench.lua --kernel d128 --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats
timeout 240 $A bench --spec /tmp/bench.lua --kernel d128_causal --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats | tail -n +2
timeout 120 $A bench --spec /tmp/bench.lua --kernel d64 --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats | tail -n +2
timeout 120 $A bench --spec /tmp/bench.lua --kernel gqa4_causal --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats | tail -n +2
timeout 120 $A bench --spec /tmp/bench.lua --kernel d256 --batch 2 --heads 32 --seq 2048 --iters 5 --csv --stats | tail -n +2
# bf16 on the device's bf16 matrices (VK_KHR_shader_bfloat16; docs/kernels.md)
timeout 240 $A bench --spec /tmp/bench.lua --kernel d128_bf16 --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats | tail -n +2
timeout 240 $A bench --spec /tmp/bench.lua --kernel d128_causal_bf16 --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats | tail -n +2
# The causal kernel once more: the run-to-run anomaly (39 against 136 TFLOP/s) gone or isolated.
timeout 240 $A bench --spec /tmp/bench.lua --kernel d128_causal --batch 2 --heads 32 --seq 8192 --iters 5 --csv --stats | tail -n +2
timeout 120 $A bench --spec /tmp/bench_scalar.lua --batch 8 --heads 32 --seq 2048 --iters 3 --csv --stats | tail -n +2
echo "== aule decode: 32 query heads / 8 KV heads, D=128, fp16, one new token, paged (16) and contiguous"
cat > /tmp/decode.lua <<'LUA'
attention { name = "decode_paged", kind = "decode", head_dim = 128, gqa = 4, causal = true, page_size = 16, dtype = "f16" }
attention { name = "decode_contig", kind = "decode", head_dim = 128, gqa = 4, causal = true, dtype = "f16" }
LUA
for b in 1 8 32; do
    timeout 120 $A bench --spec /tmp/decode.lua --batch $b --heads 32 --seq 1024,8192,32768,131072 --iters 5 --csv | tail -n +2
done
echo "== PyTorch SDPA, same shapes"
timeout 180 python3 bench/sdpa_peer.py 2 32 32 128 8192
timeout 180 python3 bench/sdpa_peer.py 2 32 32 128 8192 --dtype bf16
timeout 120 python3 bench/sdpa_peer.py 2 32 32 64 8192 --backends flash
timeout 120 python3 bench/sdpa_peer.py 2 32 8 128 8192 --backends flash,cudnn
for b in 1 8 32; do timeout 120 python3 bench/sdpa_peer.py $b 32 8 128 1024,8192,32768,131072 --decode; done
} 2>&1 | tee "$OUT/bench.txt"
