-- expect: 6: softcap must be a finite number >= 0, 0 for off (got -1)
-- expect: 7: coopmat must be one of "auto", "khr", "none" (got "yes")
-- expect: 7: int8 = true does not combine with sinks in this version
-- errors in several calls, after a valid one
attention { name = "good", head_dim = 64 }
attention { name = "b1", head_dim = 64, softcap = -1 }
attention { name = "b2", head_dim = 64, coopmat = "yes", int8 = true, sinks = true }
