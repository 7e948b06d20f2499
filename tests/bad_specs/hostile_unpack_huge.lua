-- expect: 4: too many results to unpack
-- unpacking a huge range is refused before it loops
attention { name = "x", head_dim = 64 }
local a = table.unpack({}, 1, math.maxinteger)
