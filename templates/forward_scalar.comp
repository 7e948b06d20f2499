#version 450
// aule forward attention, scalar variant: runs on any Vulkan 1.2 device.
//
// Layouts (elements; the last dimension is contiguous):
//   Q [B][H][Sq][D], K [B][Hkv][Sk][D], V [B][Hkv][Sk][Dv], O [B][H][Sq][Dv]
//   through the strides in the push constants (BSHD views work unchanged);
//   LSE fp32 [B][H][Sq]. Varlen: sequence b spans rows cu_seqlens[b]..[b+1]
//   of a packed tensor and the batch stride is unused.
// One workgroup computes BR packed rows of one KV head: row r is query
// position r / GQA of query head hkv * GQA + r % GQA, so the GQA heads that
// share K and V read each K/V tile once. FlashAttention-2 online softmax over
// tiles of BC keys; tiles wholly outside the mask are never read.
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}
{% if INT8_DOT then %}
#extension GL_EXT_integer_dot_product : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_Q) readonly buffer QBuf { STORE_T q_buf[]; };
{% if KV_INT8 then %}
#extension GL_EXT_shader_8bit_storage : require
// int8 K/V cache; a value is q * scale[page][head][channel] (decode_append_int8.comp writes both).
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { int8_t k_q[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { int8_t v_q[]; };
layout(set = 0, binding = BINDING_K_SCALE) readonly buffer KScale { float k_scales[]; };
layout(set = 0, binding = BINDING_V_SCALE) readonly buffer VScale { float v_scales[]; };
{% else %}
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { STORE_T k_buf[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { STORE_T v_buf[]; };
{% end %}
layout(set = 0, binding = BINDING_O) writeonly buffer OBuf { STORE_T o_buf[]; };
layout(set = 0, binding = BINDING_LSE) writeonly buffer LseBuf { float lse_buf[]; };
{% if DECODE then %}
layout(set = 0, binding = BINDING_SEQ_LENS) readonly buffer SeqLens { uint seq_lens[]; };
layout(set = 0, binding = BINDING_BLOCK_TABLE) readonly buffer BlockTable { uint block_table[]; };
{% if PAGED then %}
// Paged cache [pages][PAGE][Hkv][D]: key j of sequence b is slot page * PAGE + j % PAGE.
#define KV_ROW(j) (block_table[b * p.bt_stride + (j) / {{PAGE}}u] * {{PAGE}}u + (j) % {{PAGE}}u)
{% else %}
#define KV_ROW(j) (j)
{% end %}
{% else %}
layout(set = 0, binding = BINDING_CU_SEQLENS_Q) readonly buffer CuSeqlensQ { uint cu_seqlens_q[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_K) readonly buffer CuSeqlensK { uint cu_seqlens_k[]; };
#define KV_ROW(j) (j)
{% end %}

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
const float LOG2E = 1.4426950408889634;
#define NEG_INF uintBitsToFloat(0xff800000u)

{% if SINKS then %}
{% include "common_sinks.glsl" %}

{% end %}
shared float s_q[BR * QS];
{% if KV_INT8 then %}
// Decode over an int8 KV cache (KV_INT8): Q K^T in packed 4x8-bit integer dot
// products. Tiles are aligned to BC <= PAGE keys, so a tile lies in one page;
// Q times that page's K scales (q'_c = q_c * kscale[page][hkv][c]) is
// quantized to int8 with one fp32 scale s per row, q' = s (q8 + r8 / 254) with
// r8 the rounding residual in int8 too, and a score is
// (dot(q8, k8) + dot(r8, k8) / 254) * s: two int32 dot products, as exact as
// the fp32 product of Q with the dequantized K (a lone q8 loses up to 10x more
// where a few wide K channels set s; docs/kernels.md). V is dequantized to fp32
// as it is loaded.
const uint D4 = (D + 3u) / 4u;   // packed int8 words per row
shared uint s_k[BC * KS];        // the K tile, int8 as stored, packed words
shared uint s_q8[BR * KS];       // Q times the tile's page's K scales, int8 packed words
shared uint s_r8[BR * KS];       // its rounding residual times 254, int8 packed words
shared float s_qscale[BR];       // its scale per row, times the softmax scale
shared uint s_amax[BR];          // max |q'| per row as float bits (non-negative floats order as uints)
shared float s_ks[D];            // the page's K scales
{% else %}
shared float s_k[BC * KS];
{% end %}
shared float s_v[BC * VS];
shared float s_s[BR * BC];
shared float s_m[BR];      // running max of the scaled scores
shared float s_l[BR];      // running sum
shared float s_a[BR];      // this tile's rescale of O

{% if HAS_SOFTCAP then %}
{% include "common_tanh.glsl" %}
{% end %}
{% if KV_INT8 then %}
{% include "common_int8_dot.glsl" %}

// Four int8 values packed in a word; channels past D are 0.
uint pack4(ivec4 x)
{
    return (uint(x.x) & 0xffu) | ((uint(x.y) & 0xffu) << 8) | ((uint(x.z) & 0xffu) << 16) | (uint(x.w) << 24);
}
{% end %}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;

    uint sq = p.seq_q, sk = p.seq_k;
    uint q_base = b * p.q_stride_b, k_base = b * p.k_stride_b, v_base = b * p.v_stride_b, o_base = b * p.o_stride_b;
    uint lse_base = b * p.lse_stride_b;
{% if DECODE then %}
    // Decode: grid x = row tiles x splits of the KV length; this sequence's length.
    const uint split = gl_WorkGroupID.x / p.row_tiles;
    const uint tile = gl_WorkGroupID.x % p.row_tiles;
    sk = seq_lens[b];
{% if PAGED then %}
    k_base = 0u;
    v_base = 0u;
{% end %}
{% else %}
    const uint tile = gl_WorkGroupID.x;
{% include "common_varlen.glsl" %}
{% end %}
    const uint rows = sq * GQA;
    const uint row0 = tile * BR;
    if (row0 >= rows)
        return;                      // uniform: the whole workgroup leaves
    k_base += hkv * p.k_stride_h;
    v_base += hkv * p.v_stride_h;

    // Q tile, unscaled: scores are scaled once, after the dot product, as the
    // reference does; the running max stays in natural units so that
    // LSE = m + log(l) needs no conversion back from base 2.
    // Rows past the end are never read, so they are not loaded either.
    const uint valid_rows = min(BR, rows - row0);
    for (uint e = tid; e < valid_rows * D; e += WG) {
        uint r = e / D, d = e % D, row = row0 + r;
        uint h = hkv * GQA + row % GQA;
        s_q[r * QS + d] = LOAD(q_buf[q_base + h * p.q_stride_h + (row / GQA) * p.q_stride_s + d]);
    }
    for (uint r = tid; r < BR; r += WG) {
        s_m[r] = NEG_INF;
        s_l[r] = 0.0;
    }

    // Keys this tile can see: bottom-right aligned, i' = i + sk - sq.
    const int shift = int(sk) - int(sq);
    const int first_q = int(row0 / GQA) + shift;
    const int last_q = int((min(row0 + BR, rows) - 1u) / GQA) + shift;
    int kv_lo = 0, kv_hi = int(sk);
    if (WIN_LEFT >= 0)
        kv_lo = max(kv_lo, first_q - WIN_LEFT);
    if (WIN_RIGHT >= 0)
        kv_hi = min(kv_hi, last_q + WIN_RIGHT + 1);
{% if DECODE then %}
    kv_lo = max(kv_lo, int(split * p.split_len));
    kv_hi = min(kv_hi, int((split + 1u) * p.split_len));
{% end %}
{% if KV_INT8 then %}
    // From the start of the tile holding the first key (split_len is a multiple
    // of BC): each tile lies in one page. The mask drops the keys before kv_lo.
    kv_lo = kv_lo / int(BC) * int(BC);
    uint q_page = 0xffffffffu;       // the page whose K scales s_q8 holds
{% end %}

    float acc[{{OPT}}];
    for (uint o = 0u; o < {{OPT}}u; o++)
        acc[o] = 0.0;
    barrier();

    for (int j0 = kv_lo; j0 < kv_hi; j0 += int(BC)) {
        // Keys past kv_hi are never read: only the tile's valid columns are loaded.
        const uint cols = uint(min(int(BC), kv_hi - j0));
{% if KV_INT8 then %}
        const uint page = KV_ROW(uint(j0)) / {{PAGE}}u;
        const bool new_page = page != q_page;   // uniform: the same for the whole workgroup
        q_page = page;
        for (uint e = tid; e < cols * D4; e += WG) {
            uint c = e / D4, w = e % D4, at = k_base + KV_ROW(uint(j0 + int(c))) * p.k_stride_s + 4u * w;
            ivec4 x = ivec4(0);
            for (uint i = 0u; i < 4u && 4u * w + i < D; i++)
                x[i] = int(k_q[at + i]);
            s_k[c * KS + w] = pack4(x);
        }
        if (new_page) {
            for (uint d = tid; d < D; d += WG)
                s_ks[d] = k_scales[(page * p.kv_heads + hkv) * D + d];
            for (uint r = tid; r < BR; r += WG)
                s_amax[r] = 0u;
        }
        for (uint e = tid; e < cols * DV; e += WG) {
            uint c = e / DV, d = e % DV, slot = KV_ROW(uint(j0 + int(c)));
            s_v[c * VS + d] = float(int(v_q[v_base + slot * p.v_stride_s + d])) * v_scales[((slot / {{PAGE}}u) * p.kv_heads + hkv) * DV + d];
        }
{% else %}
        for (uint e = tid; e < cols * D; e += WG) {
            uint c = e / D, d = e % D;
            s_k[c * KS + d] = LOAD(k_buf[k_base + KV_ROW(uint(j0 + int(c))) * p.k_stride_s + d]);
        }
        for (uint e = tid; e < cols * DV; e += WG) {
            uint c = e / DV, d = e % DV;
            s_v[c * VS + d] = LOAD(v_buf[v_base + KV_ROW(uint(j0 + int(c))) * p.v_stride_s + d]);
        }
{% end %}
        barrier();
{% if KV_INT8 then %}
        if (new_page) {
            // q' = Q times the page's K scales; its max |q'| per row.
            for (uint e = tid; e < valid_rows * D; e += WG) {
                uint r = e / D, d = e % D;
                atomicMax(s_amax[r], floatBitsToUint(abs(s_q[r * QS + d] * s_ks[d])));
            }
            barrier();
            // q' in int8 with one scale per row, s = amax / 127, and its residual:
            // q' / s = q8 + r8 / 254, both in -127..127.
            for (uint e = tid; e < valid_rows * D4; e += WG) {
                uint r = e / D4, w = e % D4;
                float amax = uintBitsToFloat(s_amax[r]);
                float inv = amax > 0.0 ? 127.0 / amax : 0.0;
                ivec4 x = ivec4(0), y = ivec4(0);
                for (uint i = 0u; i < 4u && 4u * w + i < D; i++) {
                    float v = s_q[r * QS + 4u * w + i] * s_ks[4u * w + i] * inv;
                    x[i] = clamp(int(round(v)), -127, 127);
                    y[i] = clamp(int(round((v - float(x[i])) * 254.0)), -127, 127);
                }
                s_q8[r * KS + w] = pack4(x);
                s_r8[r * KS + w] = pack4(y);
            }
            for (uint r = tid; r < valid_rows; r += WG)
                s_qscale[r] = uintBitsToFloat(s_amax[r]) / 127.0 * p.scale;
            barrier();
        }
{% end %}

        // S = Q K^T for this tile, masked; masked and padding entries cost no dot product.
        for (uint t = 0u; t < {{SPT}}u; t++) {
            uint e = tid + t * WG;
            if (e < BR * BC) {
                uint r = e / BC, c = e % BC;
                uint row = row0 + r;
                int j = j0 + int(c);
                int qi = int(row / GQA) + shift;
                bool ok = row < rows && c < cols;
                if (WIN_LEFT >= 0)
                    ok = ok && j >= qi - WIN_LEFT;
                if (WIN_RIGHT >= 0)
                    ok = ok && j <= qi + WIN_RIGHT;
                float x = NEG_INF;
                if (ok) {
{% if KV_INT8 then %}
                    int dot = 0, rdot = 0;
                    for (uint w = 0u; w < D4; w++) {
                        uint kw = s_k[c * KS + w];
                        dot += dot4(s_q8[r * KS + w], kw);
                        rdot += dot4(s_r8[r * KS + w], kw);
                    }
                    x = (float(dot) + float(rdot) * (1.0 / 254.0)) * s_qscale[r];
{% else %}
                    x = 0.0;
                    for (uint d = 0u; d < D; d++)
                        x += s_q[r * QS + d] * s_k[c * KS + d];
                    x *= p.scale;
{% end %}
{% if HAS_SOFTCAP then %}
                    x = {{SOFTCAP}} * accurate_tanh(x / {{SOFTCAP}});
{% end %}
                }
                s_s[e] = x;
            }
        }
        barrier();

        // Online softmax: one invocation per row (rows beyond WG loop).
        for (uint r = tid; r < valid_rows; r += WG) {
            float m_old = s_m[r];
            float m_new = m_old;
            for (uint c = 0u; c < cols; c++)
                m_new = max(m_new, s_s[r * BC + c]);
            float sum = 0.0;
            for (uint c = 0u; c < cols; c++) {
                float x = s_s[r * BC + c];
                float pr = x == NEG_INF ? 0.0 : exp2((x - m_new) * LOG2E);
                s_s[r * BC + c] = pr;
                sum += pr;
            }
            float alpha = m_old == NEG_INF ? (m_new == NEG_INF ? 1.0 : 0.0) : exp2((m_old - m_new) * LOG2E);
            s_a[r] = alpha;
            s_m[r] = m_new;
            s_l[r] = s_l[r] * alpha + sum;
        }
        barrier();

        // O = O * alpha + P V
        for (uint o = 0u; o < {{OPT}}u; o++) {
            uint e = tid + o * WG;
            if (e < BR * DV && row0 + e / DV < rows) {
                uint r = e / DV, d = e % DV;
                float x = acc[o] * s_a[r];
                for (uint c = 0u; c < cols; c++)
                    x += s_s[r * BC + c] * s_v[c * VS + d];
                acc[o] = x;
            }
        }
        barrier();
    }

{% if DECODE then %}
    if (p.splits > 1u) {
        // One split of several: its normalized O and its LSE go to the workspace
        // (bound as the LSE buffer); the reduce kernel merges the splits.
        for (uint o = 0u; o < {{OPT}}u; o++) {
            uint e = tid + o * WG;
            uint r = e / DV, d = e % DV, row = row0 + r;
            if (e < BR * DV && row < rows) {
                float l = s_l[r];
                uint h = hkv * GQA + row % GQA;
                uint part = ((b * p.heads + h) * sq + row / GQA) * p.splits + split;
                lse_buf[part * DV + d] = l > 0.0 ? acc[o] / l : 0.0;
            }
        }
        for (uint r = tid; r < valid_rows; r += WG) {
            uint row = row0 + r;
            float l = s_l[r];
            uint h = hkv * GQA + row % GQA;
            uint part = ((b * p.heads + h) * sq + row / GQA) * p.splits + split;
            lse_buf[p.ws_lse + part] = l > 0.0 ? s_m[r] + log(l) : NEG_INF;
        }
        return;
    }
{% end %}
{% if SINKS then %}
    // Sinks: each row's head logit joins the denominator; s_a becomes O's factor.
    for (uint r = tid; r < valid_rows; r += WG) {
        float m = s_m[r], l = s_l[r];
        s_a[r] = sink_fold(hkv * GQA + (row0 + r) % GQA, m, l);
        s_m[r] = m;
        s_l[r] = l;
    }
    barrier();
    for (uint o = 0u; o < {{OPT}}u; o++) {
        uint r = (tid + o * WG) / DV;
        if (r < valid_rows)
            acc[o] *= s_a[r];
    }
{% end %}
    for (uint o = 0u; o < {{OPT}}u; o++) {
        uint e = tid + o * WG;
        uint r = e / DV, d = e % DV, row = row0 + r;
        if (e < BR * DV && row < rows) {
            float l = s_l[r];
            uint h = hkv * GQA + row % GQA;
            o_buf[o_base + h * p.o_stride_h + (row / GQA) * p.o_stride_s + d] = TO_STORE(l > 0.0 ? acc[o] / l : 0.0);
        }
    }
    if ((p.flags & WRITE_LSE) != 0u) {
        for (uint r = tid; r < valid_rows; r += WG) {
            uint row = row0 + r;
            float l = s_l[r];
            uint h = hkv * GQA + row % GQA;
            lse_buf[lse_base + h * p.lse_stride_h + row / GQA] = l > 0.0 ? s_m[r] + log(l) : NEG_INF;
        }
    }

}
