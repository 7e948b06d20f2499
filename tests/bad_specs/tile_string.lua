-- expect: 6: tile must be "auto" or a table { q = Br, kv = Bc } (got "big")
-- tile is "auto" or a table
attention {
    name = "tb",
    head_dim = 64,
    tile = "big",
}
