-- expect: 6: kv_int8 needs kind = "decode" and a page_size (the scales are per page and KV head)
-- int8 KV scales live per page: a contiguous cache has none
attention {
    name = "q8",
    kind = "decode",
    kv_int8 = true,
    head_dim = 64,
}
