#version 450
// aule decode, the cache append for an int8 KV cache with scales per page, KV
// head and channel: value = q * scale[page][head][channel], q in -127..127
// (per channel, so the outlier channels of LLM keys and values do not crush
// the rest of a page). One workgroup per (page touched, KV head, sequence).
// A scale only grows: when new tokens need a larger one, the tokens already in
// the page are requantized to it.
// New K/V [B][Hkv][n][D|Dv] in the storage dtype; the cache [pages][PAGE][Hkv][D].
#extension GL_EXT_shader_8bit_storage : require
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_K_NEW) readonly buffer KNew { STORE_T k_new[]; };
layout(set = 0, binding = BINDING_K) buffer KBuf { int8_t k_q[]; };
layout(set = 0, binding = BINDING_V) buffer VBuf { int8_t v_q[]; };
layout(set = 0, binding = BINDING_V_NEW) readonly buffer VNew { STORE_T v_new[]; };
layout(set = 0, binding = BINDING_POSITIONS) readonly buffer Positions { uint positions[]; };
layout(set = 0, binding = BINDING_BLOCK_TABLE) readonly buffer BlockTable { uint block_table[]; };
layout(set = 0, binding = BINDING_K_SCALE) buffer KScale { float k_scales[]; };
layout(set = 0, binding = BINDING_V_SCALE) buffer VScale { float v_scales[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint PAGE = {{PAGE}};

int quantize(float x, float inv) { return clamp(int(round(x * inv)), -127, 127); }

void main()
{
    const uint tid = gl_LocalInvocationID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z, n = p.tokens;
    const uint pos0 = positions[b];
    const uint pidx = pos0 / PAGE + gl_WorkGroupID.x;
    const uint start = pidx * PAGE;
    const uint lo = max(pos0, start), hi = min(pos0 + n, start + PAGE);
    if (lo >= hi)
        return;                                   // uniform: this page gets no new token
    const uint page = block_table[b * p.bt_stride + pidx];
    const bool filled = lo > start;               // the page already holds this sequence's tokens

    // Each invocation owns channels: a channel's scale, its requantization and its new values.
    for (uint c = tid; c < D + DV; c += {{WG}}u) {
        const bool is_v = c >= D;
        const uint d = is_v ? c - D : c, dim = is_v ? DV : D;
        const uint si = (page * p.kv_heads + h) * dim + d;
        float m = 0.0;
        for (uint j = lo; j < hi; j++) {
            uint t = j - pos0;
            float x = is_v ? LOAD(v_new[b * p.vnew_stride_b + h * p.vnew_stride_h + t * p.vnew_stride_s + d])
                           : LOAD(k_new[b * p.knew_stride_b + h * p.knew_stride_h + t * p.knew_stride_s + d]);
            m = max(m, abs(x));
        }
        const float old_scale = filled ? (is_v ? v_scales[si] : k_scales[si]) : 0.0;
        const float new_scale = max(old_scale, m / 127.0);
        const float inv = new_scale > 0.0 ? 1.0 / new_scale : 0.0;
        const uint ss = is_v ? p.v_stride_s : p.k_stride_s, sh = is_v ? p.v_stride_h : p.k_stride_h;
        if (filled && new_scale > old_scale) {    // tokens already in the page, to the larger scale
            for (uint j = start; j < lo; j++) {
                uint at = (page * PAGE + j - start) * ss + h * sh + d;
                if (is_v)
                    v_q[at] = int8_t(quantize(float(int(v_q[at])) * old_scale, inv));
                else
                    k_q[at] = int8_t(quantize(float(int(k_q[at])) * old_scale, inv));
            }
        }
        for (uint j = lo; j < hi; j++) {
            uint t = j - pos0, at = (page * PAGE + j - start) * ss + h * sh + d;
            if (is_v)
                v_q[at] = int8_t(quantize(LOAD(v_new[b * p.vnew_stride_b + h * p.vnew_stride_h + t * p.vnew_stride_s + d]), inv));
            else
                k_q[at] = int8_t(quantize(LOAD(k_new[b * p.knew_stride_b + h * p.knew_stride_h + t * p.knew_stride_s + d]), inv));
        }
        if (is_v)
            v_scales[si] = new_scale;
        else
            k_scales[si] = new_scale;
    }
}
