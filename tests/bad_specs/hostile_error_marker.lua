-- expect: 4: ?
-- an error whose message looks like the loader's old internal stop marker is still an error
attention { name = "x", head_dim = 64 }
error("\1", 0)
