-- Mistral 7B v0.1: 32 query heads, 8 KV heads (GQA 4), head_dim 128,
-- causal with a sliding window of 4096 tokens: query i sees keys
-- i-4095 .. i (4096 keys including itself).
attention {
    name = "mistral_7b_prefill",
    head_dim = 128,
    gqa = 4,
    causal = true,
    window = { left = 4095, right = 0 },
    dtype = "f16",
}

-- Decode with the sliding window, over a contiguous cache.
attention {
    name = "mistral_7b_decode",
    kind = "decode",
    head_dim = 128,
    gqa = 4,
    causal = true,
    window = { left = 4095, right = 0 },
    dtype = "f16",
}
