-- expect: 3: 'load' is not available in the sandbox
-- no load in the sandbox
local f = load("return 64")
attention { name = "x", head_dim = f() }
