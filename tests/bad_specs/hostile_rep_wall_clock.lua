-- expect: : time limit exceeded (1 s): endless loop?
-- few instructions, much work in C: the wall-clock budget stops it
attention { name = "x", head_dim = 64 }
for i = 1, math.maxinteger do local s = string.rep("x", 8000000) end
