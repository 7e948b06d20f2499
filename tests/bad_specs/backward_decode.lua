-- expect: 6: backward = true needs kind = "forward" (the backward kernels come with a forward one)
-- the backward kernels are generated beside a forward kernel only
attention {
    name = "bwd",
    kind = "decode",
    backward = true,
    head_dim = 64,
}
