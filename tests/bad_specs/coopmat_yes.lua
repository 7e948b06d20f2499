-- expect: 6: coopmat must be one of "auto", "khr", "none" (got "yes")
-- coopmat takes a mode, not yes/no
attention {
    name = "cm",
    head_dim = 128,
    coopmat = "yes",
}
