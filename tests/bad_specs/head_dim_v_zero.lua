-- expect: 6: head_dim_v must be in 1..256 (got 0)
-- head_dim_v = 0 (leave it out to mean head_dim)
attention {
    name = "zero_v",
    head_dim = 128,
    head_dim_v = 0,
}
