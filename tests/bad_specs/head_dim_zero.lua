-- expect: 5: head_dim must be in 1..256 (got 0)
-- head_dim = 0 written out: a range error, not "required"
attention {
    name = "zero",
    head_dim = 0,
}
