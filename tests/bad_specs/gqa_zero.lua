-- expect: 6: gqa must be in 1..256 query heads per KV head (got 0)
-- gqa = 0 query heads per KV head
attention {
    name = "g0",
    head_dim = 64,
    gqa = 0,
}
