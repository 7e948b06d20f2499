-- expect: 6: gqa must be an integer (got 1.5)
-- gqa that is not an integer
attention {
    name = "ghalf",
    head_dim = 64,
    gqa = 1.5,
}
