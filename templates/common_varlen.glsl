    // Varlen: sequence b spans rows cu_seqlens[b]..[b+1] of packed Q/O and K/V.
    if ((p.flags & VARLEN) != 0u) {
        uint q0 = cu_seqlens_q[b], k0 = cu_seqlens_k[b];
        sq = cu_seqlens_q[b + 1u] - q0;
        sk = cu_seqlens_k[b + 1u] - k0;
        q_base = q0 * p.q_stride_s;
        o_base = q0 * p.o_stride_s;
        k_base = k0 * p.k_stride_s;
        v_base = k0 * p.v_stride_s;
        lse_base = q0;
    }
