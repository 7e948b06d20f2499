#version 450
// aule INT8 forward attention (int8 = true), scalar variant: S = Q K^T on int8
// values in packed 4x8-bit integer dot products, dequantized with one multiply
// by q_scale * k_scale per tile; P V in fp32 from V in the storage dtype.
//
// Layouts: Q8, Q_SCALE, Q_CORR, K8, K_SCALE as include/auegen_abi.h states them
// (int8_quant.comp writes them; Q8 carries scale * log2(e), so scores come out
// in log2 units); V [B][Hkv][Sk][Dv], O [B][H][Sq][Dv] strided, storage dtype;
// LSE fp32 [B][H][Sq]. One workgroup computes BR packed rows of one KV head (the
// quantizer's Q tile, so one Q scale), over the key tiles the mask lets it see,
// aligned to BC keys (the quantizer's K tiles, so one K scale per tile).
// Smoothing took (Q . mean) from each row's scores: the softmax does not see it,
// and the LSE adds it back (Q_CORR).
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}
{% if INT8_DOT then %}
#extension GL_EXT_integer_dot_product : require
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
const uint D4 = {{DPAD}} / 4;
const uint FS = {{INT8_FLOAT_SLOTS}};   // outlier channels in fp32 after the int8 words
const uint RW = D4 + FS;
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
const float LN2 = 0.6931471805599453;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared uint s_q[BR * QS];    // packed int8 words
shared uint s_k[BC * KS];
shared float s_v[BC * VS];
shared float s_s[BR * BC];
shared float s_m[BR];        // running max, log2 units
shared float s_l[BR];        // running sum
shared float s_a[BR];        // this tile's rescale of O
shared uint s_grp[D4];       // each word's channel group (int8_quant.comp): 1 holds outlier channels

{% include "common_int8_dot.glsl" %}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
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
    const uint q0 = p.q8_off + (bh * q_tiles * BR + row0) * RW;
    for (uint e = tid; e < valid_rows * RW; e += WG)
        s_q[(e / RW) * QS + e % RW] = q8[q0 + e];
    for (uint r = tid; r < BR; r += WG) {
        s_m[r] = NEG_INF;
        s_l[r] = 0.0;
    }
    const vec2 qs = vec2(q_scale[p.q_scale_off + (bh * q_tiles + tile) * 2u],
                         q_scale[p.q_scale_off + (bh * q_tiles + tile) * 2u + 1u]);
    const uint grp0 = p.k_mean_off + bh * 3u * D + 2u * D;
    for (uint w = tid; w < D4; w += WG) {
        uint g = 0u;
        for (uint s = 4u * w; s < min(4u * w + 4u, D); s++)
            g = k_mean[grp0 + s] < 0.0 ? 1u : g;     // an outlier's slot (-1 - channel)
        s_grp[w] = g;
    }

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
    barrier();

    for (int j0 = kv_lo; j0 < kv_hi; j0 += int(BC)) {
        const uint cols = uint(min(int(BC), kv_hi - j0));
        const uint k0 = p.k8_off + (bh * k_tiles * BC + uint(j0)) * RW;
        for (uint e = tid; e < cols * RW; e += WG)
            s_k[(e / RW) * KS + e % RW] = k8[k0 + e];
        for (uint e = tid; e < cols * DV; e += WG) {
            uint c = e / DV, d = e % DV;
            s_v[c * VS + d] = LOAD(v_buf[v_base + uint(j0 + int(c)) * p.v_stride_s + d]);
        }
        const uint ks0 = p.k_scale_off + (bh * k_tiles + uint(j0) / BC) * 2u;
        const vec2 qk_scale = qs * vec2(k_scale[ks0], k_scale[ks0 + 1u]);
        barrier();

        // S = Q K^T in int32, dequantized; masked and padding entries cost no dot product.
        for (uint t = 0u; t < {{SPT}}u; t++) {
            uint e = tid + t * WG;
            if (e < BR * BC) {
                uint r = e / BC, c = e % BC;
                uint row = row0 + r;
                int j = j0 + int(c);
                int qi = int(row / GQA) + shift;
                bool ok = r < valid_rows && c < cols;
                if (WIN_LEFT >= 0)
                    ok = ok && j >= qi - WIN_LEFT;
                if (WIN_RIGHT >= 0)
                    ok = ok && j <= qi + WIN_RIGHT;
                float x = NEG_INF;
                if (ok) {
                    ivec2 dot = ivec2(0);
                    for (uint w = 0u; w < D4; w++)
                        dot[s_grp[w]] += dot4(s_q[r * QS + w], s_k[c * KS + w]);
                    x = float(dot.x) * qk_scale.x + float(dot.y) * qk_scale.y;
                    for (uint w = D4; w < RW; w++)      // the outlier channels, in fp32
                        x += uintBitsToFloat(s_q[r * QS + w]) * uintBitsToFloat(s_k[c * KS + w]);
                }
                s_s[e] = x;
            }
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
