#version 450
// aule backward, dQ (FlashAttention-2). One workgroup owns BR packed query
// rows of one KV head and accumulates their gradient over the K/V tiles they
// see, recomputing P from Q, K and the LSE:
//   dS = P * (dO V^T - D),   dQ += scale * dS K.
// Tiles wholly outside the mask are skipped; a row with no key gets dQ = 0.
// dQ [B][H][Sq][D].
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

{% include "common_backward.glsl" %}

layout(set = 0, binding = BINDING_DQ) writeonly buffer DqBuf { STORE_T dq_buf[]; };
{% if SINKS then %}
// Sinks: DX = sum_j P dP per row, in fp32, for the sinks' gradient (bwd_dsink).
layout(set = 0, binding = BINDING_DX) writeonly buffer DxBuf { float dx_buf[]; };
shared float s_pdp[BR * BC];
shared float s_dx[BR];
{% end %}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;
    uint sq = p.seq_q, sk = p.seq_k;
    uint q_base = b * p.q_stride_b, k_base = b * p.k_stride_b, v_base = b * p.v_stride_b;
    uint do_base = b * p.do_stride_b, dq_base = b * p.dq_stride_b;
    uint lse_base = b * p.lse_stride_b, d_base = b * p.d_stride_b;
    if ((p.flags & VARLEN) != 0u) {
        uint q0 = cu_seqlens_q[b], k0 = cu_seqlens_k[b];
        sq = cu_seqlens_q[b + 1u] - q0;
        sk = cu_seqlens_k[b + 1u] - k0;
        q_base = q0 * p.q_stride_s;
        do_base = q0 * p.do_stride_s;
        dq_base = q0 * p.dq_stride_s;
        k_base = k0 * p.k_stride_s;
        v_base = k0 * p.v_stride_s;
        lse_base = q0;
        d_base = q0;
    }
    const uint rows = sq * GQA;
    const uint row0 = gl_WorkGroupID.x * BR;
    if (row0 >= rows)
        return;                      // uniform: the whole workgroup leaves
    k_base += hkv * p.k_stride_h;
    v_base += hkv * p.v_stride_h;
    load_rows(row0, rows, hkv, q_base, do_base, lse_base, d_base);

    float dq[{{OPT}}];
    for (uint o = 0u; o < {{OPT}}u; o++)
        dq[o] = 0.0;
{% if SINKS then %}
    for (uint r = tid; r < BR; r += WG)
        s_dx[r] = 0.0;
{% end %}

    // Keys these rows can see: bottom-right aligned, i' = i + sk - sq.
    const int shift = int(sk) - int(sq);
    const int first_q = int(row0 / GQA) + shift;
    const int last_q = int((min(row0 + BR, rows) - 1u) / GQA) + shift;
    int lo = WIN_LEFT >= 0 ? first_q - WIN_LEFT : 0;
    int hi = WIN_RIGHT >= 0 ? last_q + WIN_RIGHT : int(sk) - 1;
    lo = max(lo, 0);
    hi = min(hi, int(sk) - 1);
    for (uint col0 = lo <= hi ? uint(lo) / BC * BC : sk; col0 < sk && col0 <= uint(hi); col0 += BC) {
        const uint cols = min(BC, sk - col0);
        barrier();                   // the previous tile is consumed
        load_cols(col0, cols, k_base, v_base);
        barrier();
        for (uint e = tid; e < BR * BC; e += WG) {
            float pr, ds, pdp;
            p_and_ds(e / BC, e % BC, rows, cols, row0, col0, shift, pr, ds, pdp);
            s_ds[e] = ds;
{% if SINKS then %}
            s_pdp[e] = pdp;
{% end %}
        }
        barrier();
{% if SINKS then %}
        for (uint r = tid; r < BR; r += WG) {     // each row always by the same invocation: a fixed order
            float x = s_dx[r];
            for (uint c = 0u; c < BC; c++)
                x += s_pdp[r * BC + c];
            s_dx[r] = x;
        }
{% end %}
        for (uint o = 0u; o < {{OPT}}u; o++) {
            uint e = tid + o * WG;
            if (e < BR * D) {
                uint r = e / D, d = e % D;
                float a = 0.0;
                for (uint c = 0u; c < BC; c++)
                    a += s_ds[r * BC + c] * s_k[c * KS + d];
                dq[o] += a;
            }
        }
    }
    for (uint o = 0u; o < {{OPT}}u; o++) {
        uint e = tid + o * WG;
        uint r = e / D, d = e % D, row = row0 + r;
        if (e < BR * D && row < rows) {
            uint h = hkv * GQA + row % GQA;
            dq_buf[dq_base + h * p.dq_stride_h + (row / GQA) * p.dq_stride_s + d] = TO_STORE(dq[o] * p.scale);
        }
    }
{% if SINKS then %}
    for (uint r = tid; r < BR && row0 + r < rows; r += WG) {
        uint row = row0 + r, h = hkv * GQA + row % GQA;
        dx_buf[p.dx_offset + d_base + h * p.d_stride_h + row / GQA] = s_dx[r];
    }
{% end %}
}
