-- expect: 6: causal must be true or false (got "yes")
-- causal must be a boolean
attention {
    name = "cs",
    head_dim = 64,
    causal = "yes",
}
