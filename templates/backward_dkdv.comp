#version 450
// aule backward, dK and dV (FlashAttention-2, deterministic: no atomics).
// One workgroup owns BC keys of one KV head and accumulates their gradients
// over the query rows of every query head sharing that KV head (the GQA sum
// happens here, in a fixed order), recomputing P from Q, K and the LSE:
//   dV += P^T dO,   dS = P * (dO V^T - D),   dK += scale * dS^T Q.
// Query tiles wholly outside the mask are skipped. dK, dV [B][Hkv][Sk][D|Dv].
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}
{% if ATOMIC_DQ then %}
#extension GL_EXT_shader_atomic_float : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

{% include "common_backward.glsl" %}

layout(set = 0, binding = BINDING_DK) writeonly buffer DkBuf { STORE_T dk_buf[]; };
layout(set = 0, binding = BINDING_DV) writeonly buffer DvBuf { STORE_T dv_buf[]; };

shared float s_p[BR * BC];
{% if ATOMIC_DQ then %}
// atomic_dq: dQ += dS K of every tile, added into the fp32 accumulator (D's rows x D) in any order.
layout(set = 0, binding = BINDING_DQ_ACC) buffer DqAccBuf { float dq_acc[]; };
{% end %}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;
    uint sq = p.seq_q, sk = p.seq_k;
    uint q_base = b * p.q_stride_b, k_base = b * p.k_stride_b, v_base = b * p.v_stride_b;
    uint do_base = b * p.do_stride_b, dk_base = b * p.dk_stride_b, dv_base = b * p.dv_stride_b;
    uint lse_base = b * p.lse_stride_b, d_base = b * p.d_stride_b;
    if ((p.flags & VARLEN) != 0u) {
        uint q0 = cu_seqlens_q[b], k0 = cu_seqlens_k[b];
        sq = cu_seqlens_q[b + 1u] - q0;
        sk = cu_seqlens_k[b + 1u] - k0;
        q_base = q0 * p.q_stride_s;
        do_base = q0 * p.do_stride_s;
        k_base = k0 * p.k_stride_s;
        v_base = k0 * p.v_stride_s;
        dk_base = k0 * p.dk_stride_s;
        dv_base = k0 * p.dv_stride_s;
        lse_base = q0;
        d_base = q0;
    }
    const uint col0 = gl_WorkGroupID.x * BC;
    if (col0 >= sk)
        return;                      // uniform: the whole workgroup leaves
    k_base += hkv * p.k_stride_h;
    v_base += hkv * p.v_stride_h;
    dk_base += hkv * p.dk_stride_h;
    dv_base += hkv * p.dv_stride_h;
    const uint cols = min(BC, sk - col0);
    load_cols(col0, cols, k_base, v_base);

    float dk[{{OPT}}], dv[{{SPT}}];
    for (uint o = 0u; o < {{OPT}}u; o++)
        dk[o] = 0.0;
    for (uint o = 0u; o < {{SPT}}u; o++)
        dv[o] = 0.0;

    // Query positions that see one of these keys (bottom-right aligned: i' = i + sk - sq).
    const int shift = int(sk) - int(sq);
    const uint rows = sq * GQA;
    int lo = WIN_RIGHT >= 0 ? int(col0) - WIN_RIGHT - shift : 0;
    int hi = WIN_LEFT >= 0 ? int(col0 + cols - 1u) + WIN_LEFT - shift : int(sq) - 1;
    lo = max(lo, 0);
    hi = min(hi, int(sq) - 1);
    for (uint row0 = lo <= hi ? uint(lo) * GQA / BR * BR : rows; row0 < rows && row0 <= uint(hi) * GQA + GQA - 1u;
         row0 += BR) {
        barrier();                   // the previous tile is consumed
        load_rows(row0, rows, hkv, q_base, do_base, lse_base, d_base);
        barrier();
        for (uint e = tid; e < BR * BC; e += WG) {
            float pr, ds, pdp;
            p_and_ds(e / BC, e % BC, rows, cols, row0, col0, shift, pr, ds, pdp);
            s_p[e] = pr;
            s_ds[e] = ds;
        }
        barrier();
        for (uint o = 0u; o < {{OPT}}u; o++) {
            uint e = tid + o * WG;
            if (e < BC * D) {
                uint c = e / D, d = e % D;
                float a = 0.0;
                for (uint r = 0u; r < BR; r++)
                    a += s_ds[r * BC + c] * s_q[r * QS + d];
                dk[o] += a;
            }
        }
{% if ATOMIC_DQ then %}
        for (uint e = tid; e < BR * D; e += WG) {
            uint r = e / D, d = e % D, row = row0 + r;
            if (row >= rows)
                continue;
            float a = 0.0;
            for (uint c = 0u; c < cols; c++)
                a += s_ds[r * BC + c] * s_k[c * KS + d];
            if (a != 0.0) {
                uint h = hkv * GQA + row % GQA;
                atomicAdd(dq_acc[p.acc_offset + (d_base + h * p.d_stride_h + row / GQA) * D + d], a);
            }
        }
{% end %}
        for (uint o = 0u; o < {{SPT}}u; o++) {
            uint e = tid + o * WG;
            if (e < BC * DV) {
                uint c = e / DV, d = e % DV;
                float a = 0.0;
                for (uint r = 0u; r < BR; r++)
                    a += s_p[r * BC + c] * s_do[r * VS + d];
                dv[o] += a;
            }
        }
    }
    for (uint o = 0u; o < {{OPT}}u; o++) {
        uint e = tid + o * WG;
        uint c = e / D, d = e % D;
        if (e < BC * D && c < cols)
            dk_buf[dk_base + (col0 + c) * p.dk_stride_s + d] = TO_STORE(dk[o] * p.scale);
    }
    for (uint o = 0u; o < {{SPT}}u; o++) {
        uint e = tid + o * WG;
        uint c = e / DV, d = e % DV;
        if (e < BC * DV && c < cols)
            dv_buf[dv_base + (col0 + c) * p.dv_stride_s + d] = TO_STORE(dv[o]);
    }
}
