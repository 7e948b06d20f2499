-- expect: 3: head_dim is required (1..256)
-- no head_dim at all: reported at the attention call
attention {
    name = "nodim",
    gqa = 4,
    causal = true,
}
