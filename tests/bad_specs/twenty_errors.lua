-- expect: 22: head_dim must be in 1..256 (got 300)
-- expect: 23: head_dim must be in 1..256 (got 300)
-- expect: 24: head_dim must be in 1..256 (got 300)
-- expect: 25: head_dim must be in 1..256 (got 300)
-- expect: 26: head_dim must be in 1..256 (got 300)
-- expect: 27: head_dim must be in 1..256 (got 300)
-- expect: 28: head_dim must be in 1..256 (got 300)
-- expect: 29: head_dim must be in 1..256 (got 300)
-- expect: 30: head_dim must be in 1..256 (got 300)
-- expect: 31: head_dim must be in 1..256 (got 300)
-- expect: 32: head_dim must be in 1..256 (got 300)
-- expect: 33: head_dim must be in 1..256 (got 300)
-- expect: 34: head_dim must be in 1..256 (got 300)
-- expect: 35: head_dim must be in 1..256 (got 300)
-- expect: 36: head_dim must be in 1..256 (got 300)
-- expect: 37: head_dim must be in 1..256 (got 300)
-- expect: 38: head_dim must be in 1..256 (got 300)
-- expect: 39: head_dim must be in 1..256 (got 300)
-- expect: 40: head_dim must be in 1..256 (got 300)
-- expect: 41: head_dim must be in 1..256 (got 300)
-- exactly 20 errors: all reported, not truncated
attention { name = "k1", head_dim = 300 }
attention { name = "k2", head_dim = 300 }
attention { name = "k3", head_dim = 300 }
attention { name = "k4", head_dim = 300 }
attention { name = "k5", head_dim = 300 }
attention { name = "k6", head_dim = 300 }
attention { name = "k7", head_dim = 300 }
attention { name = "k8", head_dim = 300 }
attention { name = "k9", head_dim = 300 }
attention { name = "k10", head_dim = 300 }
attention { name = "k11", head_dim = 300 }
attention { name = "k12", head_dim = 300 }
attention { name = "k13", head_dim = 300 }
attention { name = "k14", head_dim = 300 }
attention { name = "k15", head_dim = 300 }
attention { name = "k16", head_dim = 300 }
attention { name = "k17", head_dim = 300 }
attention { name = "k18", head_dim = 300 }
attention { name = "k19", head_dim = 300 }
attention { name = "k20", head_dim = 300 }
