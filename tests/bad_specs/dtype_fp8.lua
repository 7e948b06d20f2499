-- expect: 6: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- a dtype that does not exist
attention {
    name = "eight",
    head_dim = 128,
    dtype = "fp8",
}
