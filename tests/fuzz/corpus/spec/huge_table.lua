-- expect: : memory limit exceeded (32 MiB)
-- a table that grows without end is refused by the memory limit
local t = {}
for i = 1, 1e9 do
    t[i] = i
end
attention { name = "x", head_dim = 64 }
