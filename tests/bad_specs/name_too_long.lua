-- expect: 4: name must be at most 63 characters (got 100)
-- a name over 63 characters: the real length is reported
attention {
    name = string.rep("k", 100),
    head_dim = 64,
}
