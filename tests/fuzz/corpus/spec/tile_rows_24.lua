-- expect: 5: tile.rows_per_subgroup must be 16 or 32 (got 24)
attention {
    name = "tr",
    head_dim = 64,
    tile = { q = 64, kv = 32, rows_per_subgroup = 24 },
}
