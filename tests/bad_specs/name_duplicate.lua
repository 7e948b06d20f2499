-- expect: 6: kernel name 'same' is already declared on line 3
-- the same name twice in one file: points at the first one
attention { name = "same", head_dim = 64 }
attention { name = "other", head_dim = 128 }
attention {
    name = "same",
    head_dim = 128,
}
