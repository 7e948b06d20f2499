-- expect: 4: 'print' is not available in the sandbox
-- no print in the sandbox (after a valid kernel)
attention { name = "x", head_dim = 64 }
print("declared x")
