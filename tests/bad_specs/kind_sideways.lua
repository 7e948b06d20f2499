-- expect: 5: kind must be one of "forward", "decode", "backward" (got "sideways")
-- a kind that does not exist
attention {
    name = "side",
    kind = "sideways",
    head_dim = 64,
}
