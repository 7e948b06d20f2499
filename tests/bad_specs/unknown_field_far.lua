-- expect: 6: unknown field 'num_heads' in attention { } (fields: name, kind, head_dim, head_dim_v, gqa, causal, window, softcap, dtype, int8, coopmat, tile, page_size, kv_int8, sinks, backward, atomic_dq)
-- an unknown field with no close match lists the fields
attention {
    name = "heads",
    head_dim = 128,
    num_heads = 32,
}
