-- expect: 4: 'setmetatable' is not available in the sandbox
-- hooks are off in __gc finalizers: setmetatable is not in the sandbox
attention { name = "x", head_dim = 64 }
setmetatable({}, {__gc = function() while true do end end})
