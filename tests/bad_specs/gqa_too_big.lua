-- expect: 6: gqa must be in 1..256 query heads per KV head (got 300)
-- gqa above the maximum of 256
attention {
    name = "g300",
    head_dim = 64,
    gqa = 300,
}
