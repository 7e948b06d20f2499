-- expect: 4: 'getmetatable' is not available in the sandbox
-- the string metatable is out of reach
attention { name = "x", head_dim = 64 }
getmetatable("").__index = {}
