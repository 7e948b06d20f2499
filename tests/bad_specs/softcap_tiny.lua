-- expect: 5: softcap must be 0 (off) or in 0.001..1e6 (got 1e-300)
-- a softcap below float range would turn every score into 0
attention {
    name = "cap",
    softcap = 1e-300,
    head_dim = 64,
}
