-- expect: 6: int8 = true does not combine with sinks in this version
-- the sink logit would need the smoothing's shift too
attention {
    name = "q8",
    head_dim = 64,
    int8 = true,
    sinks = true,
}
