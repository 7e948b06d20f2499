-- expect: 6: softcap must be a finite number >= 0, 0 for off (got inf)
-- softcap must be finite
attention {
    name = "sh",
    head_dim = 64,
    softcap = math.huge,
}
