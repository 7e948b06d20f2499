-- expect: : declares no kernel (write attention { name = ..., head_dim = ... })
-- string.rep of an empty string used to loop maxinteger times inside C
local s = string.rep("", math.maxinteger)
local t = ("x"):rep(0)
