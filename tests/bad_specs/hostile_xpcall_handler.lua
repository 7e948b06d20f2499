-- expect: 4: 'xpcall' is not available in the sandbox
-- hooks are off in xpcall message handlers: xpcall is not in the sandbox
attention { name = "x", head_dim = 64 }
xpcall(function() error("x") end, function() while true do end end)
