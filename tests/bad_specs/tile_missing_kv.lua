-- expect: 6: tile needs both q and kv (or tile = "auto")
-- tile needs both q and kv
attention {
    name = "tq",
    head_dim = 64,
    tile = { q = 64 },
}
