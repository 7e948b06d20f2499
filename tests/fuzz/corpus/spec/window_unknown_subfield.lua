-- expect: 6: unknown field 'size' in window (expected left, right)
-- window has only left and right
attention {
    name = "wu",
    head_dim = 64,
    window = { left = 128, size = 256 },
}
