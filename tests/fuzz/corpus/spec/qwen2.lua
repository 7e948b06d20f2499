-- Qwen2: GQA 7 in both sizes (28 query / 4 KV heads in 7B, 14 / 2 in 0.5B).
attention { name = "qwen2_7b_prefill", head_dim = 128, gqa = 7, causal = true, dtype = "bf16" }
attention { name = "qwen2_7b_prefill_f16", head_dim = 128, gqa = 7, causal = true, dtype = "f16" }
attention { name = "qwen2_0_5b_prefill", head_dim = 64, gqa = 7, causal = true, dtype = "f16" }
