-- expect: 5: page_size applies to kind = "decode" only (got 16)
-- pages belong to a decode kernel's KV cache
attention {
    name = "paged",
    page_size = 16,
    head_dim = 64,
}
