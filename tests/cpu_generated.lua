-- SPDX-License-Identifier: MIT
-- cpu_generated.lua: the specs whose native CPU kernels test_cpu_generated has auegen
-- generate at build time (one per feature the generated kernels make constant).
attention { name = "cg_d64_causal_f16", head_dim = 64, gqa = 2, causal = true, dtype = "f16" }
attention { name = "cg_d128_bf16", head_dim = 128, dtype = "bf16" }
attention { name = "cg_d128_causal_bf16_gqa4", head_dim = 128, gqa = 4, causal = true, dtype = "bf16" }
attention { name = "cg_d80_window_softcap_f32", head_dim = 80, head_dim_v = 48, dtype = "f32",
            window = { left = 40, right = 3 }, softcap = 30.0, sinks = true }
attention { name = "cg_d128_decode_f16", kind = "decode", head_dim = 128, gqa = 4, dtype = "f16", page_size = 16 }
attention { name = "cg_d64_decode_bf16_sinks", kind = "decode", head_dim = 64, gqa = 2, dtype = "bf16", sinks = true }
