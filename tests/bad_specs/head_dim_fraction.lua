-- expect: 5: head_dim must be an integer (got 2.5)
-- head_dim that is not an integer
attention {
    name = "frac",
    head_dim = 2.5,
}
