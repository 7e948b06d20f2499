-- expect: 5: head_dim must be an integer (got "128")
-- head_dim given as a string
attention {
    name = "str",
    head_dim = "128",
}
