-- expect: 5: unknown field 'head_dims' in attention { } (did you mean 'head_dim'?)
-- a misspelt field gets a suggestion (and no extra "head_dim is required")
attention {
    name = "typo",
    head_dims = 128,
}
