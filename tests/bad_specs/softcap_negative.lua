-- expect: 6: softcap must be a finite number >= 0, 0 for off (got -30)
-- negative softcap
attention {
    name = "sn",
    head_dim = 64,
    softcap = -30,
}
