#version 450
// aule forward attention, cooperative-matrix variant (VK_KHR_cooperative_matrix).
//
// Layouts as in forward_scalar.comp: Q [B][H][Sq][D], K/V [B][Hkv][Sk][D|Dv],
// O [B][H][Sq][Dv] through push-constant strides; LSE fp32 [B][H][Sq].
// Storage is f16; Q K^T and P V run on {{MM}}x{{MN}}x{{MK}} f16 matrices with fp32
// accumulators; the softmax is fp32.
//
// The workgroup has NSG subgroups of exactly SG invocations (the runtime
// requires that subgroup size); subgroup g owns packed rows g*MM .. g*MM+MM-1.
// The softmax pass gives each packed row one invocation, in turn.
// Q stays in registers as named A matrices, O as named accumulators (an
// array of cooperative matrices spills on some drivers). KHR cooperative
// matrices do not say which row an element is in, so S goes through shared
// memory for the softmax, and the O rescale goes through a per-subgroup
// scratch tile.
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

layout(set = 0, binding = BINDING_Q) readonly buffer QBuf { float16_t q_buf[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { float16_t k_buf[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { float16_t v_buf[]; };
layout(set = 0, binding = BINDING_O) writeonly buffer OBuf { float16_t o_buf[]; };
layout(set = 0, binding = BINDING_LSE) writeonly buffer LseBuf { float lse_buf[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_Q) readonly buffer CuSeqlensQ { uint cu_seqlens_q[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_K) readonly buffer CuSeqlensK { uint cu_seqlens_k[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint DPAD = {{DPAD}};
const uint DVPAD = {{DVPAD}};
const uint GQA = {{GQA}};
const uint MM = {{MM}};
const uint MN = {{MN}};
const uint MK = {{MK}};
const uint NSG = {{NSG}};
const uint WG = {{WG}};
const uint BR = {{BR}};
const uint BC = {{BC}};
const uint KVS = {{KS}};          // f16 row stride of the K/V tiles
const uint SS = BC + 4u;          // fp32 row stride of the score tile
const uint PS = BC + 8u;          // f16 row stride of the P tile
const uint XS = MN + 4u;          // fp32 row stride of a subgroup's scratch tile
const uint KV_ROWS = {{KV_ROWS}};
const int WIN_LEFT = {{WIN_LEFT}};
const int WIN_RIGHT = {{WIN_RIGHT}};
const float LOG2E = 1.4426950408889634;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float16_t s_kv[KV_ROWS * KVS];   // K rows 0..BC-1, V rows BC..2BC-1; Q before the loop
shared float s_s[BR * SS];
shared float16_t s_p[BR * PS];
{% if SINKS then %}
{% include "common_sinks.glsl" %}

{% end %}
shared float s_m[BR];
shared float s_l[BR];
shared float s_a[BR];
shared float s_x[NSG * MM * XS];

{% include "common_coopmat_elem.glsl" %}
{% if EMULATE then %}
{% include "coopmat_emulation.glsl" %}
{% else %}
#define ACC coopmat<float, gl_ScopeSubgroup, MM, MN, gl_MatrixUseAccumulator>
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, MM, MK, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, MK, MN, gl_MatrixUseB>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COL_MAJOR gl_CooperativeMatrixLayoutColumnMajor
#define ACC_ZERO ACC(0.0)
{% end %}

{% if HAS_SOFTCAP then %}
{% include "common_tanh.glsl" %}
{% end %}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint sg = gl_SubgroupID;
    const uint lane = gl_SubgroupInvocationID;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;

    uint sq = p.seq_q, sk = p.seq_k;
    uint q_base = b * p.q_stride_b, k_base = b * p.k_stride_b, v_base = b * p.v_stride_b, o_base = b * p.o_stride_b;
    uint lse_base = b * p.lse_stride_b;
{% include "common_varlen.glsl" %}
    const uint rows = sq * GQA;
    const uint row0 = gl_WorkGroupID.x * BR;
    if (row0 >= rows)
        return;
    k_base += hkv * p.k_stride_h;
    v_base += hkv * p.v_stride_h;

    // Stage Q (unscaled f16, zero-padded to DPAD) and keep it as A matrices.
    for (uint e = tid; e < BR * DPAD; e += WG) {
        uint r = e / DPAD, d = e % DPAD, row = row0 + r;
        float16_t x = float16_t(0.0);
        if (row < rows && d < D) {
            uint h = hkv * GQA + row % GQA;
            x = q_buf[q_base + h * p.q_stride_h + (row / GQA) * p.q_stride_s + d];
        }
        s_kv[r * KVS + d] = x;
    }
    for (uint r = tid; r < BR; r += WG) {
        s_m[r] = NEG_INF;
        s_l[r] = 0.0;
    }
    barrier();
{% for i = 0, DPAD // MK - 1 do %}
    MAT_A qa{{i}};
    coopMatLoad(qa{{i}}, s_kv, sg * MM * KVS + {{i}}u * MK, KVS, ROW_MAJOR);
{% end %}
{% for n = 0, DVPAD // MN - 1 do %}
    ACC o{{n}} = ACC_ZERO;
{% end %}
    barrier();

    const int shift = int(sk) - int(sq);
    const int first_q = int(row0 / GQA) + shift;
    const int last_q = int((min(row0 + BR, rows) - 1u) / GQA) + shift;
    int kv_lo = 0, kv_hi = int(sk);
    if (WIN_LEFT >= 0)
        kv_lo = max(kv_lo, first_q - WIN_LEFT);
    if (WIN_RIGHT >= 0)
        kv_hi = min(kv_hi, last_q + WIN_RIGHT + 1);
    const float s_scale = p.scale;     // scores and their max in natural units
    const uint xb = sg * MM * XS;

    for (int j0 = kv_lo; j0 < kv_hi; j0 += int(BC)) {
        for (uint e = tid; e < BC * DPAD; e += WG) {
            uint c = e / DPAD, d = e % DPAD;
            int j = j0 + int(c);
            s_kv[c * KVS + d] = (j < kv_hi && d < D) ? k_buf[k_base + uint(j) * p.k_stride_s + d] : float16_t(0.0);
        }
        for (uint e = tid; e < BC * DVPAD; e += WG) {
            uint c = e / DVPAD, d = e % DVPAD;
            int j = j0 + int(c);
            s_kv[(BC + c) * KVS + d] = (j < kv_hi && d < DV) ? v_buf[v_base + uint(j) * p.v_stride_s + d] : float16_t(0.0);
        }
        barrier();

        // S = Q K^T, MN columns at a time, into shared memory.
{% for c = 0, BC // MN - 1 do %}
        {
            ACC s = ACC_ZERO;
{% for i = 0, DPAD // MK - 1 do %}
            {
                MAT_B kb;
                coopMatLoad(kb, s_kv, {{c}}u * MN * KVS + {{i}}u * MK, KVS, COL_MAJOR);
                s = coopMatMulAdd(qa{{i}}, kb, s);
            }
{% end %}
            coopMatStore(s, s_s, sg * MM * SS + {{c}}u * MN, SS, ROW_MAJOR);
        }
{% end %}
        barrier();

        // Scale, cap, mask; online softmax; one invocation per row.
        for (uint r = tid; r < BR; r += WG) {
            uint row = row0 + r;
            int qi = int(row / GQA) + shift;
            float m_old = s_m[r];
            float m_new = m_old;
            for (uint c = 0u; c < BC; c++) {
                float x = s_s[r * SS + c] * s_scale;
{% if HAS_SOFTCAP then %}
                x = {{SOFTCAP}} * accurate_tanh(x / {{SOFTCAP}});
{% end %}
                int j = j0 + int(c);
                bool ok = row < rows && j < kv_hi;
                if (WIN_LEFT >= 0)
                    ok = ok && j >= qi - WIN_LEFT;
                if (WIN_RIGHT >= 0)
                    ok = ok && j <= qi + WIN_RIGHT;
                x = ok ? x : NEG_INF;
                s_s[r * SS + c] = x;
                m_new = max(m_new, x);
            }
            float sum = 0.0;
            for (uint c = 0u; c < BC; c++) {
                float x = s_s[r * SS + c];
                float pr = x == NEG_INF ? 0.0 : exp2((x - m_new) * LOG2E);
                float16_t ph = TO_ELEM(pr);
                s_p[r * PS + c] = ph;
{% if BF16_MATRICES then %}
                sum += pr;                 // bf16: the fp32 sum, as FlashAttention-2 (LSE keeps fp32 accuracy)
{% else %}
                sum += float(ph);          // the sum of what P V actually adds
{% end %}
            }
            float alpha = m_old == NEG_INF ? (m_new == NEG_INF ? 1.0 : 0.0) : exp2((m_old - m_new) * LOG2E);
            s_a[r] = alpha;
            s_m[r] = m_new;
            s_l[r] = s_l[r] * alpha + sum;
        }
        barrier();

{% for i = 0, BC // MK - 1 do %}
        MAT_A pa{{i}};
        coopMatLoad(pa{{i}}, s_p, sg * MM * PS + {{i}}u * MK, PS, ROW_MAJOR);
{% end %}
        // O = diag(alpha) O + P V, the rescale through this subgroup's scratch tile.
{% for n = 0, DVPAD // MN - 1 do %}
        coopMatStore(o{{n}}, s_x, xb, XS, ROW_MAJOR);
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        for (uint e = lane; e < MM * MN; e += gl_SubgroupSize)
            s_x[xb + (e / MN) * XS + e % MN] *= s_a[sg * MM + e / MN];
        subgroupMemoryBarrierShared();
        subgroupBarrier();
        coopMatLoad(o{{n}}, s_x, xb, XS, ROW_MAJOR);
        subgroupBarrier();
{% for i = 0, BC // MK - 1 do %}
        {
            MAT_B vb;
            coopMatLoad(vb, s_kv, (BC + {{i}}u * MK) * KVS + {{n}}u * MN, KVS, ROW_MAJOR);
            o{{n}} = coopMatMulAdd(pa{{i}}, vb, o{{n}});
        }
{% end %}
{% end %}
        barrier();
    }

{% if SINKS then %}
    // Sinks: each row's head logit joins the denominator; O is scaled by s_a on the way out.
    for (uint r = tid; r < BR; r += WG) {
        float m = s_m[r], l = s_l[r];
        s_a[r] = sink_fold(hkv * GQA + (row0 + r) % GQA, m, l);
        s_m[r] = m;
        s_l[r] = l;
    }
    barrier();
{% end %}
    // O / l, through the scratch tile, to storage.
{% for n = 0, DVPAD // MN - 1 do %}
    coopMatStore(o{{n}}, s_x, xb, XS, ROW_MAJOR);
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    for (uint e = lane; e < MM * MN; e += gl_SubgroupSize) {
        uint r = e / MN, d = {{n}}u * MN + e % MN, row = row0 + sg * MM + r;
        if (row < rows && d < DV) {
            float l = s_l[sg * MM + r];
            uint h = hkv * GQA + row % GQA;
{% if SINKS then %}
            float x = l > 0.0 ? s_x[xb + r * XS + e % MN] * s_a[sg * MM + r] / l : 0.0;
{% else %}
            float x = l > 0.0 ? s_x[xb + r * XS + e % MN] / l : 0.0;
{% end %}
            o_buf[o_base + h * p.o_stride_h + (row / GQA) * p.o_stride_s + d] = TO_ELEM(x);
        }
    }
    subgroupBarrier();
{% end %}
    for (uint r = tid; (p.flags & WRITE_LSE) != 0u && r < BR && row0 + r < rows; r += WG) {
        uint row = row0 + r;
        float l = s_l[r];
        uint h = hkv * GQA + row % GQA;
        lse_buf[lse_base + h * p.lse_stride_h + row / GQA] = l > 0.0 ? s_m[r] + log(l) : NEG_INF;
    }
}
