#version 450
// aule decode, the merge of split-K partials: for each query row, the splits'
// normalized O and LSE (fp32, in the workspace) combine by log-sum-exp:
//   L = log(sum_s exp(lse_s)),  O = sum_s exp(lse_s - L) * O_s
// Workspace: O_s at [((b * H + h) * Sq + i) * splits + s] * Dv, LSE_s at ws_lse + the same row index.
// Writes O [B][H][Sq][Dv] (strided, storage dtype) and, when asked, LSE [B][H][Sq] (bound at binding 0).
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_LSE) writeonly buffer LseBuf { float lse_out[]; };
layout(set = 0, binding = BINDING_O) writeonly buffer OBuf { STORE_T o_buf[]; };
layout(set = 0, binding = BINDING_WORKSPACE) readonly buffer Workspace { float ws[]; };

const uint DV = {{DV}};
#define NEG_INF uintBitsToFloat(0xff800000u)
{% if SINKS then %}
layout(set = 0, binding = BINDING_SINKS) readonly buffer Sinks { float sinks[]; };
{% end %}

void main()
{
    const uint r = gl_GlobalInvocationID.x;
    if (r >= p.batch * p.heads * p.seq_q)
        return;
    const uint i = r % p.seq_q, h = (r / p.seq_q) % p.heads, b = r / (p.seq_q * p.heads);
    const uint first = r * p.splits;
    float m = NEG_INF;
    for (uint s = 0u; s < p.splits; s++)
        m = max(m, ws[p.ws_lse + first + s]);
{% if SINKS then %}
    const float sink = sinks[h];    // the splits leave the sink out: it joins here, once
    m = max(m, sink);
{% end %}
    const uint dst = b * p.o_stride_b + h * p.o_stride_h + i * p.o_stride_s;
    if (m == NEG_INF) {              // no split saw a key: O = 0, LSE = -inf
        for (uint d = 0u; d < DV; d++)
            o_buf[dst + d] = TO_STORE(0.0);
        if ((p.flags & WRITE_LSE) != 0u)
            lse_out[b * p.lse_stride_b + h * p.lse_stride_h + i] = NEG_INF;
        return;
    }
{% if SINKS then %}
    float total = exp(sink - m);
{% else %}
    float total = 0.0;
{% end %}
    for (uint s = 0u; s < p.splits; s++)
        total += exp(ws[p.ws_lse + first + s] - m);
    const float inv = 1.0 / total;
    for (uint d = 0u; d < DV; d++) {
        float x = 0.0;
        for (uint s = 0u; s < p.splits; s++)
            x += exp(ws[p.ws_lse + first + s] - m) * ws[(first + s) * DV + d];
        o_buf[dst + d] = TO_STORE(x * inv);
    }
    if ((p.flags & WRITE_LSE) != 0u)
        lse_out[b * p.lse_stride_b + h * p.lse_stride_h + i] = m + log(total);
}
