-- expect: : memory limit exceeded (32 MiB)
-- unbounded recursion ends with a stack overflow, quickly
attention { name = "x", head_dim = 64 }
local function f(n) return 1 + f(n + 1) end
f(1)
