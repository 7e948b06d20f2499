-- expect: 6: window needs left and/or right (-1 = unbounded)
-- an empty window table
attention {
    name = "we",
    head_dim = 64,
    window = {},
}
