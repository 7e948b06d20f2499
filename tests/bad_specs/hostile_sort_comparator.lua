-- expect: 6: instruction limit exceeded (20 million): endless loop?
-- a comparator runs as Lua code, under the instruction budget
attention { name = "x", head_dim = 64 }
local t = {}
for i = 1, 100 do t[i] = i end
table.sort(t, function(a, b) while true do end end)
