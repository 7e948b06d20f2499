-- expect: 6: window.left must be >= 0, or -1 for unbounded (got -5)
-- window.left below -1
attention {
    name = "wl",
    head_dim = 64,
    window = { left = -5, right = 0 },
}
