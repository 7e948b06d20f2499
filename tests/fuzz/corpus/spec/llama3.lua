-- Llama 3 8B: 32 query heads, 8 KV heads (GQA 4), head_dim 128, causal.
attention {
    name = "llama3_8b_prefill",
    head_dim = 128,
    gqa = 4,
    causal = true,
    dtype = "f16",
    coopmat = "auto",
    tile = "auto",
}

attention {
    name = "llama3_8b_prefill_bf16",
    head_dim = 128,
    gqa = 4,
    causal = true,
    dtype = "bf16",
}

-- The same model trained or served in fp32 (reference runs, small batches).
attention {
    name = "llama3_8b_prefill_f32",
    head_dim = 128,
    gqa = 4,
    causal = true,
    dtype = "f32",
    coopmat = "none",
}

-- Decode against a paged KV cache (16 tokens a page, vLLM's layout), 1-16 new tokens.
attention {
    name = "llama3_8b_decode",
    kind = "decode",
    head_dim = 128,
    gqa = 4,
    causal = true,
    page_size = 16,
    dtype = "f16",
}
