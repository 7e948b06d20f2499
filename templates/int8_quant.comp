#version 450
// aule INT8 quantizer (int8 = true): Q and K to int8 with one fp32 scale per
// tile of the forward's plan, K smoothed first: its mean over the tokens of each
// KV head subtracted, and each channel divided by a factor f that Q's channel is
// multiplied by (q . k = (q f) . ((k - mean) / f) + q . mean), f = sqrt(a / a_max)
// with a the channel's max |K - mean|: a channel 16x wider than the rest leaves
// K 4x wider and Q 4x wider instead of K 16x (SmoothQuant's balance). A channel
// whose range is over 4x the mean range is an outlier: the outlier channels are
// moved to the first packed words (the same permutation for Q and K leaves every
// q . k unchanged) and those words get scales of their own (group 1), so the
// ordinary channels keep a scale their own size; the first FS outlier channels
// are not quantized at all: they travel as fp32 in the row's last FS words
// (LLM.int8's split), their int8 bytes 0.
//
// In: Q [B][H][Sq][D], K [B][Hkv][Sk][D] in the storage dtype, strided.
// Out (layouts in include/auegen_abi.h, each from its *_off element):
//   K_MEAN  fp32 [B][Hkv][3][D]          stage MEAN: the mean, f, and per packed slot s the channel it
//                                        holds: c, or -1 - c for an outlier (identity without SMOOTH)
//   K8      words [B][Hkv][Sk_pad][RW]   int8 round((K - mean) / f / k_scale), then FS fp32 words
//   K_SCALE fp32 [B][Hkv][Sk_pad / BC][2] max |(K - mean) / f| / 127 over the tile, per group
//   Q8      words [B][Hkv][rows_pad][RW] int8 round(Q * f * scale * log2(e) / q_scale), then FS fp32,
//                                        packed rows as the forward reads them
//   Q_SCALE fp32 [B][Hkv][rows_pad / BR][2]
//   Q_CORR  fp32 [B][Hkv][rows_pad]      (Q * scale * log2(e)) . mean, unquantized:
//                                        what smoothing took from each row's scores
// Grid: stage MEAN 1 x Hkv x B; else (K tiles with QUANT_K) + (Q tiles unless NO_Q)
// x Hkv x B, one workgroup per tile.
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_Q) readonly buffer QBuf { STORE_T q_buf[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { STORE_T k_buf[]; };
layout(set = 0, binding = BINDING_Q8) writeonly buffer Q8Buf { uint q8[]; };
layout(set = 0, binding = BINDING_Q_SCALE) writeonly buffer QScale { float q_scale[]; };
layout(set = 0, binding = BINDING_Q_CORR) writeonly buffer QCorr { float q_corr[]; };
layout(set = 0, binding = BINDING_K8) writeonly buffer K8Buf { uint k8[]; };
layout(set = 0, binding = BINDING_K_SCALE) writeonly buffer KScale { float k_scale[]; };
layout(set = 0, binding = BINDING_K_MEAN) buffer KMean { float k_mean[]; };

const uint D = {{D}};
const uint D4 = {{DPAD}} / 4;
const uint FS = {{INT8_FLOAT_SLOTS}};   // outlier slots carried in fp32
const uint RW = D4 + FS;                // words per packed row
const uint GQA = {{GQA}};
const uint BR = {{BR}};
const uint BC = {{BC}};
const uint WG = {{WG}};
const float LOG2E = 1.4426950408889634;

shared uint s_amax[2];   // the tile's max |x| per group as float bits (non-negative floats order as uints)
shared float s_arange;   // stage MEAN: the mean channel range
shared float s_flag[D];  // stage MEAN: 1 for an outlier channel

// Four values already scaled to -127..127, rounded and packed (channel 4w + i in byte i).
uint pack4(vec4 x)
{
    ivec4 v = clamp(ivec4(round(x)), ivec4(-127), ivec4(127)) & ivec4(0xff);
    return uint(v.x) | (uint(v.y) << 8) | (uint(v.z) << 16) | (uint(v.w) << 24);
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;
    const uint sq = p.seq_q, sk = p.seq_k, rows = sq * GQA;
    const uint q_tiles = (rows + BR - 1u) / BR, k_tiles = (sk + BC - 1u) / BC;
    const uint bh = b * p.kv_heads + hkv;
    const uint k_base = b * p.k_stride_b + hkv * p.k_stride_h;
    const uint mean0 = p.k_mean_off + bh * 3u * D, fac0 = mean0 + D, grp0 = fac0 + D;
#define WORD_GROUP(w) uint(min(min(k_mean[grp0 + min(4u * (w), D - 1u)], k_mean[grp0 + min(4u * (w) + 1u, D - 1u)]), \
                               min(k_mean[grp0 + min(4u * (w) + 2u, D - 1u)], k_mean[grp0 + min(4u * (w) + 3u, D - 1u)])) < 0.0)
#define SLOT_CHANNEL(s) uint(k_mean[grp0 + (s)] < 0.0 ? -1.0 - k_mean[grp0 + (s)] : k_mean[grp0 + (s)])
#define FLOAT_SLOT(s) ((s) < FS && k_mean[grp0 + (s)] < 0.0)

    if ((p.flags & MEAN) != 0u) {
        const bool smoothed = (p.flags & SMOOTH) != 0u && sk > 0u;
        if (tid == 0u)
            s_amax[0] = 0u;
        barrier();
        for (uint d = tid; d < D; d += WG) {
            float sum = 0.0, lo = 0.0, hi = 0.0;
            for (uint j = 0u; j < sk && smoothed; j++) {
                float x = LOAD(k_buf[k_base + j * p.k_stride_s + d]);
                sum += x;
                lo = j == 0u ? x : min(lo, x);
                hi = j == 0u ? x : max(hi, x);
            }
            float mean = smoothed ? sum / float(sk) : 0.0;
            float a = max(hi - mean, mean - lo);
            k_mean[mean0 + d] = mean;
            k_mean[fac0 + d] = a;          // the channel's range, until the factor replaces it
            atomicMax(s_amax[0], floatBitsToUint(a));
        }
        barrier();
        if (tid == 0u) {
            float sum = 0.0;
            for (uint d = 0u; d < D; d++)
                sum += k_mean[fac0 + d];
            s_arange = sum / float(D);
        }
        barrier();
        const float a_max = uintBitsToFloat(s_amax[0]);
        for (uint d = tid; d < D; d += WG) {
            const float a = k_mean[fac0 + d];
            s_flag[d] = smoothed && a > 4.0 * s_arange ? 1.0 : 0.0;
            k_mean[fac0 + d] = smoothed && a_max > 0.0 ? sqrt(max(a, 1e-4 * a_max) / a_max) : 1.0;
        }
        barrier();
        if (tid == 0u) {                   // outliers first, each part in channel order
            uint s = 0u;
            for (uint d = 0u; d < D; d++)
                if (s_flag[d] > 0.5)
                    k_mean[grp0 + s++] = -1.0 - float(d);
            for (uint d = 0u; d < D; d++)
                if (s_flag[d] <= 0.5)
                    k_mean[grp0 + s++] = float(d);
        }
        return;
    }

    uint tile = gl_WorkGroupID.x;
    const bool is_k = (p.flags & QUANT_K) != 0u && tile < k_tiles;
    if ((p.flags & QUANT_K) != 0u && !is_k)
        tile -= k_tiles;
    if (!is_k && ((p.flags & NO_Q) != 0u || tile >= q_tiles))
        return;
    if (tid == 0u)
        s_amax[0] = s_amax[1] = 0u;
    barrier();

    if (is_k) {
        const uint j0 = tile * BC, n = min(BC, sk - j0);
        float amax[2] = float[2](0.0, 0.0);
        for (uint e = tid; e < n * D; e += WG) {
            uint r = e / D, s = e % D, g = WORD_GROUP(s / 4u), d = SLOT_CHANNEL(s);
            if (!FLOAT_SLOT(s))
                amax[g] = max(amax[g], abs(LOAD(k_buf[k_base + (j0 + r) * p.k_stride_s + d]) - k_mean[mean0 + d])
                                           / k_mean[fac0 + d]);
        }
        atomicMax(s_amax[0], floatBitsToUint(amax[0]));
        atomicMax(s_amax[1], floatBitsToUint(amax[1]));
        barrier();
        const vec2 a = vec2(uintBitsToFloat(s_amax[0]), uintBitsToFloat(s_amax[1]));
        const vec2 inv = vec2(a.x > 0.0 ? 127.0 / a.x : 0.0, a.y > 0.0 ? 127.0 / a.y : 0.0);
        const uint out0 = p.k8_off + (bh * k_tiles * BC + j0) * RW;
#define K_SMOOTHED(r, d) ((LOAD(k_buf[k_base + (j0 + (r)) * p.k_stride_s + (d)]) - k_mean[mean0 + (d)]) / k_mean[fac0 + (d)])
        for (uint e = tid; e < BC * RW; e += WG) {
            uint r = e / RW, w = e % RW;
            if (w >= D4) {               // a float slot: the outlier channel itself, or 0
                uint fs = w - D4;
                k8[out0 + e] = floatBitsToUint(r < n && fs < D && FLOAT_SLOT(fs) ? K_SMOOTHED(r, SLOT_CHANNEL(fs)) : 0.0);
                continue;
            }
            const float s = inv[WORD_GROUP(w)];
            vec4 x = vec4(0.0);
            for (uint i = 0u; i < 4u && r < n; i++)
                if (4u * w + i < D && !FLOAT_SLOT(4u * w + i))
                    x[i] = K_SMOOTHED(r, SLOT_CHANNEL(4u * w + i)) * s;
            k8[out0 + e] = pack4(x);
        }
        if (tid < 2u)
            k_scale[p.k_scale_off + (bh * k_tiles + tile) * 2u + tid] = a[tid] / 127.0;
        return;
    }

    // Q: packed row r is query r / GQA of head hkv * GQA + r % GQA.
    const uint r0 = tile * BR, n = min(BR, rows - r0);
    const float qmul = p.scale * LOG2E;
    const uint q_base = b * p.q_stride_b;
#define Q_AT(r, d) (LOAD(q_buf[q_base + (hkv * GQA + (r0 + (r)) % GQA) * p.q_stride_h + ((r0 + (r)) / GQA) * p.q_stride_s + (d)]) * qmul)
    float amax[2] = float[2](0.0, 0.0);
    for (uint e = tid; e < n * D; e += WG) {
        uint g = WORD_GROUP((e % D) / 4u), d = SLOT_CHANNEL(e % D);
        if (!FLOAT_SLOT(e % D))
            amax[g] = max(amax[g], abs(Q_AT(e / D, d) * k_mean[fac0 + d]));
    }
    atomicMax(s_amax[0], floatBitsToUint(amax[0]));
    atomicMax(s_amax[1], floatBitsToUint(amax[1]));
    barrier();
    const vec2 a = vec2(uintBitsToFloat(s_amax[0]), uintBitsToFloat(s_amax[1]));
    const vec2 inv = vec2(a.x > 0.0 ? 127.0 / a.x : 0.0, a.y > 0.0 ? 127.0 / a.y : 0.0);
    const uint out0 = p.q8_off + (bh * q_tiles * BR + r0) * RW;
    for (uint e = tid; e < BR * RW; e += WG) {
        uint r = e / RW, w = e % RW;
        if (w >= D4) {
            uint fs = w - D4;
            q8[out0 + e] = floatBitsToUint(r < n && fs < D && FLOAT_SLOT(fs)
                                               ? Q_AT(r, SLOT_CHANNEL(fs)) * k_mean[fac0 + SLOT_CHANNEL(fs)] : 0.0);
            continue;
        }
        const float s = inv[WORD_GROUP(w)];
        vec4 x = vec4(0.0);
        for (uint i = 0u; i < 4u && r < n; i++) {
            if (4u * w + i < D && !FLOAT_SLOT(4u * w + i)) {
                uint d = SLOT_CHANNEL(4u * w + i);
                x[i] = Q_AT(r, d) * k_mean[fac0 + d] * s;
            }
        }
        q8[out0 + e] = pack4(x);
    }
    for (uint r = tid; r < BR; r += WG) {
        float c = 0.0;
        for (uint d = 0u; d < D && r < n; d++)
            c += Q_AT(r, d) * k_mean[mean0 + d];
        q_corr[p.q_corr_off + bh * q_tiles * BR + r0 + r] = c;
    }
    if (tid < 2u)
        q_scale[p.q_scale_off + (bh * q_tiles + tile) * 2u + tid] = a[tid] / 127.0;
}
