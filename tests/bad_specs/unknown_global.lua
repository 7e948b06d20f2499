-- expect: 4: unknown name 'heads'
-- reading a global that was never set
local D = 64
attention { name = "ug", head_dim = D * heads }
