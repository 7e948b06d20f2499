-- expect: 4: error object is not a string
-- an error object that is not a string is still an error
attention { name = "x", head_dim = 64 }
error({}, 0)
