-- expect: 4: name must be a C identifier ([A-Za-z_][A-Za-z0-9_]*) (got "llama-3-8b")
-- a name that is not a C identifier
attention {
    name = "llama-3-8b",
    head_dim = 128,
}
