-- expect: : memory limit exceeded (32 MiB)
-- unbounded recursion ends at the memory limit, quickly (big frames: few calls)
attention { name = "x", head_dim = 64 }
local function f(n) local a, b, c, d, e, g, h, i, j, k, l, m = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 return 1 + f(n + 1) end
f(1)
