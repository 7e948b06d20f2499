-- expect: 3: 'require' is not available in the sandbox
-- no require in the sandbox
local json = require("json")
attention { name = "x", head_dim = 64 }
