-- SPDX-License-Identifier: MIT
-- gpt-oss-20b: 64 query heads over 8 KV heads (gqa = 8), head_dim 64, and
-- attention sinks: one learned logit per query head joins every softmax
-- denominator. Layers alternate full causal attention and a 128-token
-- sliding window. The sink logits are passed with each call (fp32 [H]).
attention {
    name = "gpt_oss_20b_full",
    head_dim = 64,
    gqa = 8,
    causal = true,
    sinks = true,
    dtype = "bf16",
}

attention {
    name = "gpt_oss_20b_sliding",
    head_dim = 64,
    gqa = 8,
    causal = true,
    window = { left = 127 },   -- the token itself and the 127 before it
    sinks = true,
    dtype = "bf16",
}

attention {
    name = "gpt_oss_20b_decode",
    kind = "decode",
    head_dim = 64,
    gqa = 8,
    causal = true,
    window = { left = 127 },
    sinks = true,
    page_size = 16,
    dtype = "bf16",
}
