-- expect: 7: int8 = true is generated for kind = "forward" only in this version (decode: kv_int8 = true)
-- INT8 Q·K^T is a prefill kernel; decode reads an int8 cache through kv_int8
attention {
    name = "q8",
    kind = "decode",
    head_dim = 64,
    int8 = true,
}
