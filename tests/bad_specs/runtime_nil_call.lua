-- expect: 5: attempt to call a nil value (field 'make_kernel')
-- calling a function that does not exist
local helpers = {}
attention { name = "ok", head_dim = 64 }
helpers.make_kernel("x")
