-- expect: 6: softcap must be a number (got "50")
-- softcap given as a string
attention {
    name = "ss",
    head_dim = 64,
    softcap = "50",
}
