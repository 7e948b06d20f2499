-- SPDX-License-Identifier: MIT
-- Llama 3 8B with INT8 Q·K^T (SageAttention-style): 32 query heads, 8 KV heads
-- (GQA 4), head_dim 128, causal. Q and K are quantized per tile by the kernel's
-- int8_quant part, K smoothed; P·V stays in f16 with fp32 accumulation.
attention {
    name = "llama3_8b_prefill_int8",
    head_dim = 128,
    gqa = 4,
    causal = true,
    dtype = "f16",
    int8 = true,
}
