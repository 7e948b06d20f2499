-- expect: 7: window.left must be >= 0, or -1 for unbounded (got -5)
-- expect: 7: window.right must be >= 0, or -1 for unbounded (got -7)
-- two errors about the same field are both reported
attention {
    name = "wb",
    head_dim = 64,
    window = { left = -5, right = -7 },
}
