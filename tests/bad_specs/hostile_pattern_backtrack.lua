-- expect: 4: 'string.find' is not available in the sandbox
-- pattern matching backtracks exponentially inside one C call: not in the sandbox
attention { name = "x", head_dim = 64 }
local r = ("a"):rep(60):find((".-"):rep(12) .. "b")
