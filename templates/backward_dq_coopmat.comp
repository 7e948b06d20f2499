#version 450
// aule backward, dQ on cooperative matrices (FlashAttention-2; f16 storage,
// fp32 accumulators). One workgroup owns BR packed query rows of one KV head,
// NSG subgroups of 16 rows each, and walks the K/V tiles those rows see. Per
// 16-key block of the tile, each subgroup computes S = Q K^T and dP = dO V^T on
// matrices, turns them into dS, and accumulates
//   dQ += dS K   (times scale at the end).
// Tiles wholly outside the mask are skipped; a row with no key gets dQ = 0.
// dQ [B][H][Sq][D].
{% if EMULATE then %}
#extension GL_EXT_control_flow_attributes : require
{% else %}
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
{% end %}
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_backward_coopmat.glsl" %}

layout(set = 0, binding = BINDING_DQ) writeonly buffer DqBuf { float16_t dq_buf[]; };
{% if SINKS then %}
// Sinks: DX = sum_j P dP per row, in fp32, for the sinks' gradient (bwd_dsink).
layout(set = 0, binding = BINDING_DX) writeonly buffer DxBuf { float dx_buf[]; };
shared float s_dx[BR];
{% end %}

shared float16_t s_q[BR * QS];
shared float16_t s_do[BR * VS];
shared float16_t s_k[BC * KS];
shared float16_t s_v[BC * VS];
shared float s_lse[BR];
shared float s_d[BR];

#define DQ_ROW(row) (dq_base + (hkv * GQA + (row) % GQA) * p.dq_stride_h + ((row) / GQA) * p.dq_stride_s)

void main()
{
    const uint sg = gl_SubgroupID;
    const uint lane = gl_SubgroupInvocationID;
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
    LOAD_ROWS(s_q, s_do, s_lse, s_d, BR, row0, rows, hkv, q_base, do_base, lse_base, d_base)
    const uint sc_fb = sg * 2u * 16u * TS, sc_hb = sg * 2u * 16u * HS;
{% if SINKS then %}
    for (uint r = lane; r < 16u; r += SG)    // each subgroup its own rows: no workgroup barrier needed
        s_dx[sg * 16u + r] = 0.0;
{% end %}
{% for j = 0, DPAD // 16 - 1 do %}
    ACC dq{{j}} = ACC_ZERO;
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
        barrier();                   // the previous tile is consumed (and, first, the rows are loaded)
        LOAD_COLS(s_k, s_v, BC, col0, sk, k_base, v_base)
        barrier();
        for (uint n = 0u; n < BC; n += 16u) {
            ACC st, dpt;
            BLOCK_ABT(st, s_q, sg * 16u * QS, QS, s_k, n * KS, KS, DPAD)
            BLOCK_ABT(dpt, s_do, sg * 16u * VS, VS, s_v, n * VS, VS, DVPAD)
            coopMatStore(st, sc_f, sc_fb, TS, ROW_MAJOR);
            coopMatStore(dpt, sc_f, sc_fb + 16u * TS, TS, ROW_MAJOR);
            sg_sync();
            for (uint e = lane; e < 256u; e += SG) {
                uint r = e / 16u, c = e % 16u;       // row r of this subgroup's, key c of the block
                uint lr = sg * 16u + r, row = row0 + lr, j = col0 + n + c;
                float pr, ds, pdp;
                grad_of(sc_f[sc_fb + r * TS + c], sc_f[sc_fb + 16u * TS + r * TS + c], row < rows && j < sk,
                        int(row / GQA) + shift, int(j), s_lse[lr], s_d[lr], pr, ds, pdp);
                sc_h[sc_hb + r * HS + c] = TO_ELEM(ds);
{% if SINKS then %}
                sc_f[sc_fb + r * TS + c] = pdp;      // this element's own slot
{% end %}
            }
            sg_sync();
{% if SINKS then %}
            for (uint r = lane; r < 16u; r += SG) {  // each row by one lane, keys in order: a fixed order
                float x = s_dx[sg * 16u + r];
                for (uint c = 0u; c < 16u; c++)
                    x += sc_f[sc_fb + r * TS + c];
                s_dx[sg * 16u + r] = x;
            }
{% end %}
            MAT_A da;
            MAT_B mb;
            coopMatLoad(da, sc_h, sc_hb, HS, ROW_MAJOR);
{% for j = 0, DPAD // 16 - 1 do %}
            coopMatLoad(mb, s_k, n * KS + {{j * 16}}u, KS, ROW_MAJOR);
            dq{{j}} = coopMatMulAdd(da, mb, dq{{j}});
{% end %}
            sg_sync();               // the scratch blocks are rewritten by the next block
        }
    }
{% for j = 0, DPAD // 16 - 1 do %}
    STORE_GRAD(dq{{j}}, row0 + sg * 16u, {{j * 16}}u, rows, D, p.scale, dq_buf, DQ_ROW)
{% end %}
{% if SINKS then %}
    for (uint r = lane; r < 16u && row0 + sg * 16u + r < rows; r += SG) {
        uint row = row0 + sg * 16u + r, h = hkv * GQA + row % GQA;
        dx_buf[p.dx_offset + d_base + h * p.d_stride_h + row / GQA] = s_dx[sg * 16u + r];
    }
{% end %}
}
