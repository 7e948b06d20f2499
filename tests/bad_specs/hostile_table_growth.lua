-- expect: : memory limit exceeded (32 MiB)
-- a table that grows without end hits the memory budget
attention { name = "x", head_dim = 64 }
local t = {}
for i = 1, math.maxinteger do t[i] = i end
