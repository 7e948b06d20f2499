-- expect: 3: head_dim must be in 1..256 (got -1)
-- head_dim below 1, on a one-line call
attention { name = "neg", head_dim = -1, causal = true }
