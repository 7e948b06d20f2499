-- expect: 3: attention { } takes named fields only (found a positional value)
-- attention { } takes named fields only
attention { "fwd", 128, name = "pos", head_dim = 128 }
