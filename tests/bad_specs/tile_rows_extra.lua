-- expect: 5: unknown field 'rows' in tile (expected q, kv, rows_per_subgroup)
attention {
    name = "tr",
    head_dim = 64,
    tile = { q = 64, kv = 32, rows = 32 },
}
