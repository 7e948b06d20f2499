-- expect: 8: head_dim must be in 1..256 (got 300)
-- expect: 9: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 10: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 11: tile.q must be a power of two in 1..256 (got 48)
-- several errors in one call, reported in source order
attention {
    name = "m1",
    head_dim = 300,
    gqa = 0,
    dtype = "fp8",
    tile = { q = 48, kv = 64 },
}
