#version 450
// aule INT8 forward attention (int8 = true), cooperative-matrix variant: S = Q K^T
// on {{MM}}x{{MN}}x{{MK}} s8 x s8 -> s32 matrices, dequantized per group and tile as
// forward_int8.comp does; the online softmax and P V (fp32, V in the storage
// dtype) as there, through shared memory.
//
// Layouts: Q8, Q_SCALE, Q_CORR, K8, K_SCALE, K_MEAN as include/auegen_abi.h
// states them (int8_quant.comp writes them; Q8 carries scale * log2(e), so
// scores come out in log2 units); V [B][Hkv][Sk][Dv], O [B][H][Sq][Dv] strided,
// storage dtype; LSE fp32 [B][H][Sq]. One workgroup computes BR = 16 * NSG
// packed rows of one KV head (the quantizer's Q tile, so one Q scale per
// group); subgroup g owns rows 16g .. 16g+15. Key tiles of BC keys, aligned to
// BC (the quantizer's K tiles, so one K scale per group).
//
// Each packed row is D4 int8 words (D4P in shared memory: zeros up to whole K
// steps of MK bytes) and then FS fp32 outlier slots. The words of channel group
// 1 (outlier channels on scales of their own) come first; Q is staged twice,
// once with group 1's words zeroed (s_q0) and once with group 0's (s_q1), so
// each 16x16 block is two int32 sums: S0 over every K step, S1 over the steps
// up to the last group-1 word. Through a per-subgroup scratch, each score is
// S0 * q_scale0 * k_scale0 + S1 * q_scale1 * k_scale1 plus the fp32 products
// of the outlier slots. Smoothing took (Q . mean) from each row's scores: the
// softmax does not see it, and the LSE adds it back (Q_CORR).
{% if EMULATE then %}
#extension GL_EXT_control_flow_attributes : require
{% else %}
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
{% end %}
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_Q8) readonly buffer Q8Buf { uint q8[]; };
layout(set = 0, binding = BINDING_Q_SCALE) readonly buffer QScale { float q_scale[]; };
layout(set = 0, binding = BINDING_Q_CORR) readonly buffer QCorr { float q_corr[]; };
layout(set = 0, binding = BINDING_K8) readonly buffer K8Buf { uint k8[]; };
layout(set = 0, binding = BINDING_K_SCALE) readonly buffer KScale { float k_scale[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { STORE_T v_buf[]; };
layout(set = 0, binding = BINDING_O) writeonly buffer OBuf { STORE_T o_buf[]; };
layout(set = 0, binding = BINDING_LSE) writeonly buffer LseBuf { float lse_buf[]; };
layout(set = 0, binding = BINDING_K_MEAN) readonly buffer KMean { float k_mean[]; };

const uint D = {{D}};
const uint D4 = {{DPAD}} / 4;           // int8 words per row in memory
const uint KW = {{MK}} / 4;             // words per K step
const uint D4P = (D4 + KW - 1u) / KW * KW;
const uint FS = {{INT8_FLOAT_SLOTS}};   // outlier channels in fp32 after the int8 words
const uint RW = D4 + FS;                // words per row in memory
const uint SW = D4P + FS;               // words per row in shared memory
const uint DV = {{DV}};
const uint GQA = {{GQA}};
const uint NSG = {{NSG}};
const uint SG = {{SG}};
const uint BR = {{BR}};
const uint BC = {{BC}};
const uint WG = {{WG}};
const uint QS = {{QS}};                 // row stride of the Q and K tiles, words
const uint KS = {{KS}};
const uint VS = {{VS}};
const uint TS = 20u;                    // row stride of a 16x16 int32 scratch block
const int WIN_LEFT = {{WIN_LEFT}};
const int WIN_RIGHT = {{WIN_RIGHT}};
const float LN2 = 0.6931471805599453;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared uint s_q0[BR * QS];   // Q, group 0's int8 words and the fp32 slots
shared uint s_q1[BR * QS];   // Q, group 1's int8 words
shared uint s_k[BC * KS];
shared float s_v[BC * VS];
shared float s_s[BR * BC];
shared float s_m[BR];        // running max, log2 units
shared float s_l[BR];        // running sum
shared float s_a[BR];        // this tile's rescale of O
shared int sc_i[NSG * 2u * 16u * TS];   // per subgroup: a block's two int32 sums

{% include "common_coopmat_elem.glsl" %}
{% if EMULATE then %}
{% include "coopmat_emulation.glsl" %}
{% else %}
#define ACC_S32 coopmat<int32_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define MAT_A8 coopmat<int8_t, gl_ScopeSubgroup, 16, {{MK}}, gl_MatrixUseA>
#define MAT_B8 coopmat<int8_t, gl_ScopeSubgroup, {{MK}}, 16, gl_MatrixUseB>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COL_MAJOR gl_CooperativeMatrixLayoutColumnMajor
#define ACC_S32_ZERO ACC_S32(0)
#define coopMatLoadS8(m, arr, off, stride, lay) coopMatLoad(m, arr, off, stride, lay)
{% end %}

void sg_sync()
{
    subgroupMemoryBarrierShared();
    subgroupBarrier();
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint sg = gl_SubgroupID;
    const uint lane = gl_SubgroupInvocationID;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;
    const uint tile = gl_WorkGroupID.x;
    const uint sq = p.seq_q, sk = p.seq_k, rows = sq * GQA;
    const uint row0 = tile * BR;
    if (row0 >= rows)
        return;                      // uniform: the whole workgroup leaves
    const uint q_tiles = (rows + BR - 1u) / BR, k_tiles = (sk + BC - 1u) / BC;
    const uint bh = b * p.kv_heads + hkv;
    const uint v_base = b * p.v_stride_b + hkv * p.v_stride_h;
    const uint o_base = b * p.o_stride_b;
    const uint valid_rows = min(BR, rows - row0);

    // Each slot's channel (K_MEAN's group row): an outlier's is -1 - channel, and
    // the words holding outliers (group 1) come first; g1_end is one past the last.
    const uint grp0 = p.k_mean_off + bh * 3u * D + 2u * D;
    uint g1_end = 0u;
    for (uint s = 0u; s < D; s++)
        g1_end = k_mean[grp0 + s] < 0.0 ? s / 4u + 1u : g1_end;
    const uint q0 = p.q8_off + (bh * q_tiles * BR + row0) * RW;
    for (uint e = tid; e < BR * SW; e += WG) {
        uint r = e / SW, w = e % SW;
        uint x = 0u;
        if (r < valid_rows && w < D4)
            x = q8[q0 + r * RW + w];
        else if (r < valid_rows && w >= D4P)
            x = q8[q0 + r * RW + D4 + (w - D4P)];
        bool g1 = false;
        for (uint s = 4u * w; s < min(4u * w + 4u, D) && w < D4; s++)
            g1 = g1 || k_mean[grp0 + s] < 0.0;
        s_q0[r * QS + w] = g1 ? 0u : x;
        s_q1[r * QS + w] = g1 ? x : 0u;
    }
    for (uint r = tid; r < BR; r += WG) {
        s_m[r] = NEG_INF;
        s_l[r] = 0.0;
    }
    const vec2 qs = vec2(q_scale[p.q_scale_off + (bh * q_tiles + tile) * 2u],
                         q_scale[p.q_scale_off + (bh * q_tiles + tile) * 2u + 1u]);

    // Keys this tile can see (bottom-right aligned, i' = i + sk - sq), from the
    // start of the K tile holding the first: each tile has one K scale.
    const int shift = int(sk) - int(sq);
    const int first_q = int(row0 / GQA) + shift;
    const int last_q = int((row0 + valid_rows - 1u) / GQA) + shift;
    int kv_lo = 0, kv_hi = int(sk);
    if (WIN_LEFT >= 0)
        kv_lo = max(kv_lo, first_q - WIN_LEFT);
    if (WIN_RIGHT >= 0)
        kv_hi = min(kv_hi, last_q + WIN_RIGHT + 1);
    kv_lo = kv_lo / int(BC) * int(BC);

    float acc[{{OPT}}];
    for (uint o = 0u; o < {{OPT}}u; o++)
        acc[o] = 0.0;
    const uint sc0 = sg * 2u * 16u * TS;
    barrier();

    for (int j0 = kv_lo; j0 < kv_hi; j0 += int(BC)) {
        const uint cols = uint(min(int(BC), kv_hi - j0));
        const uint k0 = p.k8_off + (bh * k_tiles * BC + uint(j0)) * RW;
        for (uint e = tid; e < BC * SW; e += WG) {      // the whole tile: the quantizer zeroed its padding
            uint c = e / SW, w = e % SW;
            uint x = 0u;
            if (w < D4)
                x = k8[k0 + c * RW + w];
            else if (w >= D4P)
                x = k8[k0 + c * RW + D4 + (w - D4P)];
            s_k[c * KS + w] = x;
        }
        for (uint e = tid; e < cols * DV; e += WG) {
            uint c = e / DV, d = e % DV;
            s_v[c * VS + d] = LOAD(v_buf[v_base + uint(j0 + int(c)) * p.v_stride_s + d]);
        }
        const uint ks0 = p.k_scale_off + (bh * k_tiles + uint(j0) / BC) * 2u;
        const vec2 qk_scale = qs * vec2(k_scale[ks0], k_scale[ks0 + 1u]);
        barrier();

        // S = Q K^T: per 16x16 block of this subgroup's rows, two int32 sums on
        // matrices, dequantized element by element with the outlier slots added.
        for (uint cb = 0u; cb < cols; cb += 16u) {
            ACC_S32 s0 = ACC_S32_ZERO;
            ACC_S32 s1 = ACC_S32_ZERO;
            MAT_A8 ma;
            MAT_B8 mb;
            for (uint kc = 0u; kc < D4P; kc += KW) {
                coopMatLoadS8(mb, s_k, cb * KS + kc, KS, COL_MAJOR);
                coopMatLoadS8(ma, s_q0, sg * 16u * QS + kc, QS, ROW_MAJOR);
                s0 = coopMatMulAdd(ma, mb, s0);
                if (kc < g1_end) {                       // uniform: the same outlier words everywhere
                    coopMatLoadS8(ma, s_q1, sg * 16u * QS + kc, QS, ROW_MAJOR);
                    s1 = coopMatMulAdd(ma, mb, s1);
                }
            }
            coopMatStore(s0, sc_i, sc0, TS, ROW_MAJOR);
            coopMatStore(s1, sc_i, sc0 + 16u * TS, TS, ROW_MAJOR);
            sg_sync();
            for (uint e = lane; e < 256u; e += SG) {
                uint r = e / 16u, c = cb + e % 16u, lr = sg * 16u + r;
                int j = j0 + int(c);
                int qi = int((row0 + lr) / GQA) + shift;
                bool ok = lr < valid_rows && c < cols;
                if (WIN_LEFT >= 0)
                    ok = ok && j >= qi - WIN_LEFT;
                if (WIN_RIGHT >= 0)
                    ok = ok && j <= qi + WIN_RIGHT;
                float x = float(sc_i[sc0 + r * TS + e % 16u]) * qk_scale.x
                    + float(sc_i[sc0 + 16u * TS + r * TS + e % 16u]) * qk_scale.y;
                for (uint f = 0u; f < FS; f++)      // the outlier channels, in fp32
                    x += uintBitsToFloat(s_q0[lr * QS + D4P + f]) * uintBitsToFloat(s_k[c * KS + D4P + f]);
                s_s[lr * BC + c] = ok ? x : NEG_INF;
            }
            sg_sync();
        }
        barrier();

        // Online softmax in log2 units: one invocation per row.
        for (uint r = tid; r < valid_rows; r += WG) {
            float m_old = s_m[r];
            float m_new = m_old;
            for (uint c = 0u; c < cols; c++)
                m_new = max(m_new, s_s[r * BC + c]);
            float sum = 0.0;
            for (uint c = 0u; c < cols; c++) {
                float x = s_s[r * BC + c];
                float pr = x == NEG_INF ? 0.0 : exp2(x - m_new);
                s_s[r * BC + c] = pr;
                sum += pr;
            }
            float alpha = m_old == NEG_INF ? (m_new == NEG_INF ? 1.0 : 0.0) : exp2(m_old - m_new);
            s_a[r] = alpha;
            s_m[r] = m_new;
            s_l[r] = s_l[r] * alpha + sum;
        }
        barrier();

        // O = O * alpha + P V
        for (uint o = 0u; o < {{OPT}}u; o++) {
            uint e = tid + o * WG;
            if (e < BR * DV && e / DV < valid_rows) {
                uint r = e / DV, d = e % DV;
                float x = acc[o] * s_a[r];
                for (uint c = 0u; c < cols; c++)
                    x += s_s[r * BC + c] * s_v[c * VS + d];
                acc[o] = x;
            }
        }
        barrier();
    }

    for (uint o = 0u; o < {{OPT}}u; o++) {
        uint e = tid + o * WG;
        uint r = e / DV, d = e % DV, row = row0 + r;
        if (e < BR * DV && r < valid_rows) {
            float l = s_l[r];
            uint h = hkv * GQA + row % GQA;
            o_buf[o_base + h * p.o_stride_h + (row / GQA) * p.o_stride_s + d] = TO_STORE(l > 0.0 ? acc[o] / l : 0.0);
        }
    }
    if ((p.flags & WRITE_LSE) != 0u) {
        const uint c0 = p.q_corr_off + bh * q_tiles * BR + row0;
        for (uint r = tid; r < valid_rows; r += WG) {
            uint row = row0 + r;
            float l = s_l[r];
            uint h = hkv * GQA + row % GQA;
            lse_buf[b * p.lse_stride_b + h * p.lse_stride_h + row / GQA] =
                l > 0.0 ? (s_m[r] + log2(l) + q_corr[c0 + r]) * LN2 : NEG_INF;
        }
    }
}
