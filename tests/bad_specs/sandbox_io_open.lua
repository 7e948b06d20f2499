-- expect: 3: 'io' is not available in the sandbox
-- no io library in the sandbox
local fp = io.open("/etc/passwd")
attention { name = "x", head_dim = 64 }
