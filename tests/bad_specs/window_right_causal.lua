-- expect: 7: window.right must be 0 or -1 when causal = true (got 2)
-- a window looking ahead contradicts causal = true
attention {
    name = "wr",
    head_dim = 64,
    causal = true,
    window = { left = 128, right = 2 },
}
