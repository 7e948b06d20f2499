-- expect: 4: instruction limit exceeded (20 million): endless loop?
-- the tightest endless loop
attention { name = "x", head_dim = 64 }
while true do end
