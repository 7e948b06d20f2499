-- expect: 23: head_dim must be in 1..256 (got 300)
-- expect: 23: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 23: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 24: head_dim must be in 1..256 (got 300)
-- expect: 24: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 24: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 25: head_dim must be in 1..256 (got 300)
-- expect: 25: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 25: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 26: head_dim must be in 1..256 (got 300)
-- expect: 26: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 26: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 27: head_dim must be in 1..256 (got 300)
-- expect: 27: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 27: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 28: head_dim must be in 1..256 (got 300)
-- expect: 28: gqa must be in 1..256 query heads per KV head (got 0)
-- expect: 28: dtype must be one of "f32", "f16", "bf16" (got "fp8")
-- expect: 29: head_dim must be in 1..256 (got 300)
-- expect: 29: gqa must be in 1..256 query heads per KV head (got 0)
-- expect-truncated
-- 36 errors: the first 20 are reported, then loading stops
attention { name = "k1", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k2", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k3", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k4", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k5", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k6", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k7", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k8", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k9", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k10", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k11", head_dim = 300, gqa = 0, dtype = "fp8" }
attention { name = "k12", head_dim = 300, gqa = 0, dtype = "fp8" }
