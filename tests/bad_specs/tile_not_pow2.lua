-- expect: 6: tile.q must be a power of two in 1..256 (got 48)
-- tile sizes must be powers of two
attention {
    name = "t48",
    head_dim = 64,
    tile = { q = 48, kv = 64 },
}
