-- expect: 3: bad argument #1 to 'rep' (string expected, got no value)
-- an error raised inside a library function still gets a line
local base = string.rep()
attention { name = "lb", head_dim = 64 }
