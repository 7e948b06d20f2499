-- expect: 6: page_size must be a power of two in 16..256, or 0 for a contiguous cache (got 24)
-- vLLM and FlashInfer page sizes are powers of two
attention {
    name = "paged",
    kind = "decode",
    page_size = 24,
    head_dim = 64,
}
