-- expect: 6: unexpected symbol near <eof>
-- Lua shortens long file names in its messages; the line is still found
attention {
    name = "long",
    head_dim = 64,
