-- Llama 2 7B: 32 heads of 128, multi-head attention (no GQA), causal.
-- Scale at run time: 1/sqrt(128).
local common = { head_dim = 128, gqa = 1, causal = true, coopmat = "auto", tile = "auto" }

local function kernel(name, fields)
    local t = { name = name }
    for k, v in pairs(common) do t[k] = v end
    for k, v in pairs(fields) do t[k] = v end
    attention(t)
end

kernel("llama2_7b_prefill", { dtype = "f16" })
kernel("llama2_7b_prefill_bf16", { dtype = "bf16" })
