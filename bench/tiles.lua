-- SPDX-License-Identifier: MIT
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
-- Head dims over 128: Q in shared memory (32x16 is the planner's choice at D=256 on the H200).
attention { name = "d256_32x16", head_dim = 256, dtype = "f16" }
attention { name = "d256_16x32", head_dim = 256, dtype = "f16", tile = { q = 16, kv = 32 } }
attention { name = "d192", head_dim = 192, dtype = "f16" }
-- Two 16-row blocks per subgroup: each K/V matrix load feeds two products (as FlashAttention-2's 32 rows per warp).
attention { name = "r32_64x32", head_dim = 128, dtype = "f16", tile = { q = 64, kv = 32, rows_per_subgroup = 32 } }
attention { name = "r32_128x32", head_dim = 128, dtype = "f16", tile = { q = 128, kv = 32, rows_per_subgroup = 32 } }
attention { name = "r32_128x16", head_dim = 128, dtype = "f16", tile = { q = 128, kv = 16, rows_per_subgroup = 32 } }
attention { name = "r32_c128x32", head_dim = 128, dtype = "f16", causal = true, tile = { q = 128, kv = 32, rows_per_subgroup = 32 } }
attention { name = "r32_d64_128x32", head_dim = 64, dtype = "f16", tile = { q = 128, kv = 32, rows_per_subgroup = 32 } }
attention { name = "r32_d256_32x16", head_dim = 256, dtype = "f16", tile = { q = 32, kv = 16, rows_per_subgroup = 32 } }
