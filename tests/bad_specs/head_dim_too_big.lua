-- expect: 5: head_dim must be in 1..256 (got 300)
-- head_dim above the maximum of 256
attention {
    name = "big",
    head_dim = 300,
}
