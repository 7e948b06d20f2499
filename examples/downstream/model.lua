-- SPDX-License-Identifier: MIT
-- model.lua: the downstream example's own kernels (not among aule's shipped ones):
-- a prefill kernel and a decode kernel for a model with head_dim 48 and 2 query
-- heads per KV head, causal, f16.
attention {
    name = "example_prefill",
    head_dim = 48,
    gqa = 2,
    causal = true,
    dtype = "f16",
}

-- Decode against a paged KV cache (16 tokens a page); comes with its split
-- merge (reduce) and its cache append (append) parts.
attention {
    name = "example_decode",
    kind = "decode",
    head_dim = 48,
    gqa = 2,
    causal = true,
    page_size = 16,
    dtype = "f16",
}
