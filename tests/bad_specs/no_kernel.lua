-- expect: : declares no kernel (write attention { name = ..., head_dim = ... })
-- a file that sets things up but never calls attention
local D = 128
local base = { head_dim = D, causal = true }
