#version 450
// aule backward, the sinks' gradient: for query head h,
//   d(sink_h) = -sum over its rows of exp(sink_h - LSE) * DX
// (the sink's probability times DX = sum_j P dP, which bwd_dq computes in fp32;
// D = rowsum(dO * O) would carry O's storage rounding into every term of this
// sum). The sink has no value, so its own dP is 0. One workgroup per head; each invocation sums a fixed stride of
// rows, then a tree in shared memory: the order, so the result, is fixed.
// LSE and DX fp32 [B][H][Sq]; sinks and their gradient fp32 [H].

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

layout(set = 0, binding = BINDING_LSE) readonly buffer LseBuf { float lse_buf[]; };
layout(set = 0, binding = BINDING_DX) readonly buffer DxBuf { float dx_buf[]; };
layout(set = 0, binding = BINDING_SINKS) readonly buffer Sinks { float sinks[]; };
layout(set = 0, binding = BINDING_DSINKS) writeonly buffer Dsinks { float dsinks[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_Q) readonly buffer CuSeqlensQ { uint cu_seqlens_q[]; };

const uint WG = {{WG}};
shared float s_sum[WG];

void main()
{
    const uint tid = gl_LocalInvocationID.x, h = gl_WorkGroupID.x;
    const uint rows = (p.flags & VARLEN) != 0u ? cu_seqlens_q[p.sequences] : p.seq_q;
    const float sink = sinks[h];
    float x = 0.0;
    for (uint b = 0u; b < p.batch; b++)
        for (uint i = tid; i < rows; i += WG)
            x += exp(sink - lse_buf[b * p.lse_stride_b + h * p.lse_stride_h + i])
                 * dx_buf[p.dx_offset + b * p.d_stride_b + h * p.d_stride_h + i];
    s_sum[tid] = x;
    barrier();
    for (uint n = WG / 2u; n > 0u; n /= 2u) {
        if (tid < n)
            s_sum[tid] += s_sum[tid + n];
        barrier();
    }
    if (tid == 0u)
        dsinks[h] = -s_sum[0];
}
