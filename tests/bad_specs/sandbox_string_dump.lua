-- expect: 3: 'string.dump' is not available in the sandbox
-- no string.dump in the sandbox
local code = string.dump(function() return 64 end)
attention { name = "x", head_dim = 64 }
