-- expect: 6: '}' expected (to close '{' at line 3) near 'causal'
-- a missing comma: Lua's syntax error, with its line
attention {
    name = "syn",
    head_dim = 64
    causal = true,
}
