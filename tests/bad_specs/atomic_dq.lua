-- expect: 6: atomic_dq = true needs backward = true (it chooses how the backward accumulates dQ)
-- expect: 15: atomic_dq = true cannot be combined with sinks (the sinks' gradient needs the deterministic dQ kernel's row sums)
-- atomic_dq chooses how the backward accumulates dQ: it needs the backward, and not the sinks' row sums
attention {
    name = "no_backward",
    atomic_dq = true,
    head_dim = 64,
}

attention {
    name = "with_sinks",
    head_dim = 64,
    backward = true,
    sinks = true,
    atomic_dq = true,
}
