// The backward kernels' shared part: buffers, tiles and the recomputation of
// one score's P and dS. Layouts as the forward's: Q/dO [B][H][Sq][D|Dv],
// K/V [B][Hkv][Sk][D|Dv] (strided); LSE and D fp32 [B][H][Sq]. Query rows are
// packed as in the forward: row r of KV head hkv is position r / GQA of query
// head hkv * GQA + r % GQA.
layout(set = 0, binding = BINDING_Q) readonly buffer QBuf { STORE_T q_buf[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { STORE_T k_buf[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { STORE_T v_buf[]; };
layout(set = 0, binding = BINDING_DO) readonly buffer DoBuf { STORE_T do_buf[]; };
layout(set = 0, binding = BINDING_LSE) readonly buffer LseBuf { float lse_buf[]; };
layout(set = 0, binding = BINDING_D) readonly buffer DBuf { float d_buf[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_Q) readonly buffer CuSeqlensQ { uint cu_seqlens_q[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_K) readonly buffer CuSeqlensK { uint cu_seqlens_k[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint GQA = {{GQA}};
const uint BR = {{BR}};
const uint BC = {{BC}};
const uint WG = {{WG}};
const uint QS = {{QS}};
const uint KS = {{KS}};
const uint VS = {{VS}};
const int WIN_LEFT = {{WIN_LEFT}};
const int WIN_RIGHT = {{WIN_RIGHT}};
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float s_q[BR * QS];
shared float s_do[BR * VS];
shared float s_k[BC * KS];
shared float s_v[BC * VS];
shared float s_ds[BR * BC];
shared float s_lse[BR];
shared float s_d[BR];

{% if HAS_SOFTCAP then %}
{% include "common_tanh.glsl" %}
{% end %}

// P, dS and P * dP of query row r (of the tile at row0) and key c (of the tile
// at col0) from the tiles in shared memory; 0 where the mask hides the key.
// S = scale * q.k (softcapped: cap * tanh(S / cap)), P = exp(S - LSE),
// dS = P * (dO.v - D), times the softcap's derivative 1 - tanh^2.
void p_and_ds(uint r, uint c, uint rows, uint cols, uint row0, uint col0, int shift, out float pr, out float ds,
              out float pdp)
{
    pr = 0.0;
    ds = 0.0;
    pdp = 0.0;
    const uint row = row0 + r;
    if (row >= rows || c >= cols || s_lse[r] == NEG_INF)
        return;
    const int i = int(row / GQA) + shift, j = int(col0 + c);
    if ((WIN_LEFT >= 0 && j < i - WIN_LEFT) || (WIN_RIGHT >= 0 && j > i + WIN_RIGHT))
        return;
    float x = 0.0;
    for (uint d = 0u; d < D; d++)
        x += s_q[r * QS + d] * s_k[c * KS + d];
    x *= p.scale;
{% if HAS_SOFTCAP then %}
    const float t = accurate_tanh(x / {{SOFTCAP}});
    x = {{SOFTCAP}} * t;
{% end %}
    pr = exp(x - s_lse[r]);
    float dp = 0.0;
    for (uint d = 0u; d < DV; d++)
        dp += s_do[r * VS + d] * s_v[c * VS + d];
    pdp = pr * dp;
    ds = pr * (dp - s_d[r]);
{% if HAS_SOFTCAP then %}
    ds *= 1.0 - t * t;
{% end %}
}

// Loads the query rows row0.. (Q, dO, LSE, D) into shared memory; zero past the end.
void load_rows(uint row0, uint rows, uint hkv, uint q_base, uint do_base, uint lse_base, uint d_base)
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint e = tid; e < BR * D; e += WG) {
        uint r = e / D, d = e % D, row = row0 + r;
        uint h = hkv * GQA + row % GQA;
        s_q[r * QS + d] = row < rows ? LOAD(q_buf[q_base + h * p.q_stride_h + (row / GQA) * p.q_stride_s + d]) : 0.0;
    }
    for (uint e = tid; e < BR * DV; e += WG) {
        uint r = e / DV, d = e % DV, row = row0 + r;
        uint h = hkv * GQA + row % GQA;
        s_do[r * VS + d] = row < rows ? LOAD(do_buf[do_base + h * p.do_stride_h + (row / GQA) * p.do_stride_s + d]) : 0.0;
    }
    for (uint r = tid; r < BR; r += WG) {
        uint row = row0 + r;
        uint h = hkv * GQA + row % GQA;
        s_lse[r] = row < rows ? lse_buf[lse_base + h * p.lse_stride_h + row / GQA] : NEG_INF;
        s_d[r] = row < rows ? d_buf[d_base + h * p.d_stride_h + row / GQA] : 0.0;
    }
}

// Loads keys col0.. (K and V) into shared memory; zero past the end.
void load_cols(uint col0, uint cols, uint k_base, uint v_base)
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint e = tid; e < BC * D; e += WG) {
        uint c = e / D, d = e % D;
        s_k[c * KS + d] = c < cols ? LOAD(k_buf[k_base + (col0 + c) * p.k_stride_s + d]) : 0.0;
    }
    for (uint e = tid; e < BC * DV; e += WG) {
        uint c = e / DV, d = e % DV;
        s_v[c * VS + d] = c < cols ? LOAD(v_buf[v_base + (col0 + c) * p.v_stride_s + d]) : 0.0;
    }
}
