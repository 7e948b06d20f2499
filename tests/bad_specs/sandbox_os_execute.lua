-- expect: 3: 'os' is not available in the sandbox
-- no os library in the sandbox
os.execute("rm -rf /")
attention { name = "x", head_dim = 64 }
