-- expect: 5: tile.q = 16 is not a multiple of tile.rows_per_subgroup = 32
attention {
    name = "tr",
    head_dim = 64,
    tile = { q = 16, kv = 32, rows_per_subgroup = 32 },
}
