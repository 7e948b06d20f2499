-- expect: 3: memory limit exceeded (32 MiB) by string.rep
-- a 1 GB string is refused by the memory limit, quickly
local s = string.rep("x", 1000000000)
attention { name = "x", head_dim = 64 }
