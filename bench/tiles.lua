-- Tile shapes of the fast cooperative-matrix kernel, measured by bench/gpu_tiles.sh.
attention { name = "t64x64", head_dim = 128, dtype = "f16" }
attention { name = "t128x32", head_dim = 128, dtype = "f16", tile = { q = 128, kv = 32 } }
attention { name = "t64x32", head_dim = 128, dtype = "f16", tile = { q = 64, kv = 32 } }
attention { name = "t128x16", head_dim = 128, dtype = "f16", tile = { q = 128, kv = 16 } }
attention { name = "t32x64", head_dim = 128, dtype = "f16", tile = { q = 32, kv = 64 } }
attention { name = "d64_128x32", head_dim = 64, dtype = "f16", tile = { q = 128, kv = 32 } }
attention { name = "d64_128x64", head_dim = 64, dtype = "f16", tile = { q = 128, kv = 64 } }
attention { name = "c64x64", head_dim = 128, dtype = "f16", causal = true }
attention { name = "c128x32", head_dim = 128, dtype = "f16", causal = true, tile = { q = 128, kv = 32 } }
