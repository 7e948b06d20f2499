-- expect: 4: 'coroutine' is not available in the sandbox
-- coroutines could catch errors: not in the sandbox
attention { name = "x", head_dim = 64 }
coroutine.wrap(function() while true do end end)()
