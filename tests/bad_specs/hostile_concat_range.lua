-- expect: 4: invalid value (nil) at index 1 in table for 'concat'
-- table.concat over a huge range stops at the first missing value
attention { name = "x", head_dim = 64 }
local s = table.concat({}, "", 1, math.maxinteger)
