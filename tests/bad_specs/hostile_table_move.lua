-- expect: 4: 'table.move' is not available in the sandbox
-- table.move loops inside C: not in the sandbox
attention { name = "x", head_dim = 64 }
table.move({}, 1, math.maxinteger - 1, 2)
