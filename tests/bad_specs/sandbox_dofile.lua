-- expect: 3: 'dofile' is not available in the sandbox
-- no dofile in the sandbox
dofile("common.lua")
attention { name = "x", head_dim = 64 }
