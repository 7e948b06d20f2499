-- expect: 4: error (with an empty message)
-- an error with an empty message is still an error
attention { name = "x", head_dim = 64 }
error("", 0)
