-- expect: 6: window must be a table { left = N, right = N } or false (got 4096)
-- window given as a number
attention {
    name = "wn",
    head_dim = 64,
    window = 4096,
}
