#version 450
// aule backward, dK and dV on cooperative matrices (FlashAttention-2,
// deterministic: no atomics; f16 storage, fp32 accumulators). One workgroup
// owns BC keys of one KV head, NSG subgroups of 16 keys each, and walks the
// query rows of every query head sharing that KV head in tiles of BR (the GQA
// sum happens here, in a fixed order). Per 16-row block of the tile, each
// subgroup computes S^T = K Q^T and dP^T = V dO^T on matrices, turns them
// into P^T and dS^T, and accumulates
//   dV += P^T dO,   dK += dS^T Q   (times scale at the end).
// Query tiles wholly outside the mask are skipped. dK, dV [B][Hkv][Sk][D|Dv].
{% if EMULATE then %}
#extension GL_EXT_control_flow_attributes : require
{% else %}
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
{% end %}
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require
{% if ATOMIC_DQ then %}
#extension GL_EXT_shader_atomic_float : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_backward_coopmat.glsl" %}

layout(set = 0, binding = BINDING_DK) writeonly buffer DkBuf { float16_t dk_buf[]; };
layout(set = 0, binding = BINDING_DV) writeonly buffer DvBuf { float16_t dv_buf[]; };

shared float16_t s_k[BC * KS];
shared float16_t s_v[BC * VS];
shared float16_t s_q[BR * QS];
shared float16_t s_do[BR * VS];
shared float s_lse[BR];
shared float s_d[BR];
{% if ATOMIC_DQ then %}
// atomic_dq: dQ += dS K, each subgroup's share (its 16 keys) added into the fp32
// accumulator (D's rows x D) with float atomics, in any order.
layout(set = 0, binding = BINDING_DQ_ACC) buffer DqAccBuf { float dq_acc[]; };
{% end %}

#define DK_ROW(j) (dk_base + (j) * p.dk_stride_s)
#define DV_ROW(j) (dv_base + (j) * p.dv_stride_s)

void main()
{
    const uint sg = gl_SubgroupID;
    const uint lane = gl_SubgroupInvocationID;
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
    LOAD_COLS(s_k, s_v, BC, col0, sk, k_base, v_base)
    const uint sc_fb = sg * 2u * 16u * TS, sc_hb = sg * 2u * 16u * HS;
{% for j = 0, DPAD // 16 - 1 do %}
    ACC dk{{j}} = ACC_ZERO;
{% end %}
{% for j = 0, DVPAD // 16 - 1 do %}
    ACC dv{{j}} = ACC_ZERO;
{% end %}

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
        LOAD_ROWS(s_q, s_do, s_lse, s_d, BR, row0, rows, hkv, q_base, do_base, lse_base, d_base)
        barrier();
        for (uint n = 0u; n < BR; n += 16u) {
            ACC st, dpt;
            BLOCK_ABT(st, s_k, sg * 16u * KS, KS, s_q, n * QS, QS, DPAD)
            BLOCK_ABT(dpt, s_v, sg * 16u * VS, VS, s_do, n * VS, VS, DVPAD)
            coopMatStore(st, sc_f, sc_fb, TS, ROW_MAJOR);
            coopMatStore(dpt, sc_f, sc_fb + 16u * TS, TS, ROW_MAJOR);
            sg_sync();
            for (uint e = lane; e < 256u; e += SG) {
                uint r = e / 16u, c = e % 16u;       // key r of this subgroup's, row c of the block
                uint j = col0 + sg * 16u + r, lr = n + c, row = row0 + lr;
                float pr, ds, pdp;
                grad_of(sc_f[sc_fb + r * TS + c], sc_f[sc_fb + 16u * TS + r * TS + c], row < rows && j < sk,
                        int(row / GQA) + shift, int(j), s_lse[lr], s_d[lr], pr, ds, pdp);
                sc_h[sc_hb + r * HS + c] = TO_ELEM(pr);
                sc_h[sc_hb + 16u * HS + r * HS + c] = TO_ELEM(ds);
            }
            sg_sync();
            MAT_A pa, da;
            MAT_B mb;
            coopMatLoad(pa, sc_h, sc_hb, HS, ROW_MAJOR);
            coopMatLoad(da, sc_h, sc_hb + 16u * HS, HS, ROW_MAJOR);
{% for j = 0, DVPAD // 16 - 1 do %}
            coopMatLoad(mb, s_do, n * VS + {{j * 16}}u, VS, ROW_MAJOR);
            dv{{j}} = coopMatMulAdd(pa, mb, dv{{j}});
{% end %}
{% for j = 0, DPAD // 16 - 1 do %}
            coopMatLoad(mb, s_q, n * QS + {{j * 16}}u, QS, ROW_MAJOR);
            dk{{j}} = coopMatMulAdd(da, mb, dk{{j}});
{% end %}
{% if ATOMIC_DQ then %}
            MAT_A dsa;
            coopMatLoad(dsa, sc_h, sc_hb + 16u * HS, HS, COL_MAJOR);   // dS: the dS^T block read transposed
            for (uint jd = 0u; jd < DPAD; jd += 16u) {
                ACC qa = ACC_ZERO;
                coopMatLoad(mb, s_k, sg * 16u * KS + jd, KS, ROW_MAJOR);
                qa = coopMatMulAdd(dsa, mb, qa);
                coopMatStore(qa, sc_f, sc_fb, TS, ROW_MAJOR);
                sg_sync();
                for (uint e = lane; e < 256u; e += SG) {
                    uint r = e / 16u, d = jd + e % 16u, row = row0 + n + r;
                    float x = sc_f[sc_fb + r * TS + e % 16u];
                    if (row < rows && d < D && x != 0.0) {
                        uint h = hkv * GQA + row % GQA;
                        atomicAdd(dq_acc[p.acc_offset + (d_base + h * p.d_stride_h + row / GQA) * D + d], x);
                    }
                }
                sg_sync();
            }
{% end %}
            sg_sync();               // the scratch blocks are rewritten by the next block
        }
    }
{% for j = 0, DPAD // 16 - 1 do %}
    STORE_GRAD(dk{{j}}, col0 + sg * 16u, {{j * 16}}u, sk, D, p.scale, dk_buf, DK_ROW)
{% end %}
{% for j = 0, DVPAD // 16 - 1 do %}
    STORE_GRAD(dv{{j}}, col0 + sg * 16u, {{j * 16}}u, sk, DV, 1.0, dv_buf, DV_ROW)
{% end %}
}
