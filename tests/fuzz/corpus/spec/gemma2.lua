-- Gemma 2 9B: 16 query heads, 8 KV heads (GQA 2), head_dim 256, attention
-- logits soft-capped at 50. Layers alternate between global causal attention
-- and a local sliding window of 4096 tokens. Scale at run time:
-- query_pre_attn_scalar^-0.5 = 1/16.
local base = { head_dim = 256, gqa = 2, causal = true, softcap = 50.0, dtype = "bf16" }

local function with(fields)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(fields) do t[k] = v end
    return t
end

attention(with { name = "gemma2_9b_global" })
attention(with { name = "gemma2_9b_local", window = { left = 4095, right = 0 } })
attention(with { name = "gemma2_9b_global_f16", dtype = "f16" })
