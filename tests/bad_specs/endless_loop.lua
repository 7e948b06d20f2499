-- expect: 6: instruction limit exceeded (20 million): endless loop?
-- an endless loop is stopped by the instruction limit, quickly
attention { name = "x", head_dim = 64 }
local n = 0
while true do
    n = n + 1
end
