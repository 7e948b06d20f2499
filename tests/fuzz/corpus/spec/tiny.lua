-- tiny.lua: small kernels the tests run quickly; one per feature.
attention { name = "tiny_f32", head_dim = 16, dtype = "f32" }
attention { name = "tiny_causal_gqa", head_dim = 24, gqa = 2, causal = true, dtype = "f16" }
attention { name = "tiny_window_softcap", head_dim = 32, head_dim_v = 16, dtype = "bf16",
            window = { left = 8, right = 2 }, softcap = 30.0 }
