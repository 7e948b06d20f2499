-- expect: 3: name is required (a C identifier naming the kernel)
-- no name
attention {
    head_dim = 64,
    causal = true,
}
