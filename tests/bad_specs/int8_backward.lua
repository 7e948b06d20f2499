-- expect: 6: int8 = true has no backward kernels: training needs the unquantized forward (drop backward)
-- a quantized forward has no gradients
attention {
    name = "q8",
    head_dim = 64,
    int8 = true,
    backward = true,
}
