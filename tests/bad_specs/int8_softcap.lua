-- expect: 7: int8 = true does not combine with softcap: smoothing K shifts the scores, which a cap does not allow
-- smoothing shifts each row's scores, which only the plain softmax ignores
attention {
    name = "q8",
    head_dim = 64,
    softcap = 30,
    int8 = true,
}
