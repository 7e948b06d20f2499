#version 450
// aule backward, the preprocess: D = rowsum(dO * O) for every query row, in
// fp32, as FlashAttention-2's backward needs it (dS = P * (dP - D)).
// O and dO [B][H][Sq][Dv] (strided, storage dtype); D fp32 [B][H][Sq].
// One invocation per row.
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_O) readonly buffer OBuf { STORE_T o_buf[]; };
layout(set = 0, binding = BINDING_DO) readonly buffer DoBuf { STORE_T do_buf[]; };
layout(set = 0, binding = BINDING_D) writeonly buffer DBuf { float d_buf[]; };
{% if ATOMIC_DQ then %}
// atomic_dq: the fp32 dQ accumulator bwd_dkdv adds into, D's rows x D, zeroed here.
layout(set = 0, binding = BINDING_DQ_ACC) writeonly buffer DqAccBuf { float dq_acc[]; };
const uint D = {{D}};
{% end %}

const uint DV = {{DV}};

void main()
{
    const uint r = gl_GlobalInvocationID.x;
    if (r >= p.batch * p.heads * p.seq_q)
        return;
    const uint i = r % p.seq_q, h = (r / p.seq_q) % p.heads, b = r / (p.seq_q * p.heads);
    const uint ob = b * p.o_stride_b + h * p.o_stride_h + i * p.o_stride_s;
    const uint db = b * p.do_stride_b + h * p.do_stride_h + i * p.do_stride_s;
    float x = 0.0;
    for (uint d = 0u; d < DV; d++)
        x += LOAD(o_buf[ob + d]) * LOAD(do_buf[db + d]);
    d_buf[b * p.d_stride_b + h * p.d_stride_h + i] = x;
{% if ATOMIC_DQ then %}
    const uint acc = p.acc_offset + (b * p.d_stride_b + h * p.d_stride_h + i) * D;
    for (uint d = 0u; d < D; d++)
        dq_acc[acc + d] = 0.0;
{% end %}
}
