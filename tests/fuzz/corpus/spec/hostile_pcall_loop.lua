-- expect: 4: 'pcall' is not available in the sandbox
-- pcall would catch the budget error and loop on: it is not in the sandbox
attention { name = "x", head_dim = 64 }
while true do pcall(function() while true do end end) end
