-- expect: : time limit exceeded (1 s): endless loop?
-- few instructions, much C work each (table.insert moves 200000 slots): the clock stops it
attention { name = "x", head_dim = 64 }
local t = {}
for i = 1, 200000 do t[i] = i end
while true do table.insert(t, 1, 0) table.remove(t) end
