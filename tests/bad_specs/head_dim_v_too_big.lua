-- expect: 6: head_dim_v must be in 1..256 (got 512)
-- head_dim_v above the maximum of 256
attention {
    name = "wide_v",
    head_dim = 128,
    head_dim_v = 512,
}
