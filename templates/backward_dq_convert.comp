#version 450
// aule backward, the atomic-dQ variant's last step (atomic_dq = true): dQ =
// scale * the fp32 accumulator that bwd_dot zeroed and bwd_dkdv added dS K
// into, converted to the storage dtype. One invocation per query row, over
// bwd_dot's rows (batch, heads, seq_q and the D strides as bwd_dot has them).
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_DQ) writeonly buffer DqBuf { STORE_T dq_buf[]; };
layout(set = 0, binding = BINDING_DQ_ACC) readonly buffer DqAccBuf { float dq_acc[]; };

const uint D = {{D}};

void main()
{
    const uint r = gl_GlobalInvocationID.x;
    if (r >= p.batch * p.heads * p.seq_q)
        return;
    const uint i = r % p.seq_q, h = (r / p.seq_q) % p.heads, b = r / (p.seq_q * p.heads);
    const uint acc = p.acc_offset + (b * p.d_stride_b + h * p.d_stride_h + i) * D;
    const uint o = b * p.dq_stride_b + h * p.dq_stride_h + i * p.dq_stride_s;
    for (uint d = 0u; d < D; d++)
        dq_buf[o + d] = TO_STORE(dq_acc[acc + d] * p.scale);
}
