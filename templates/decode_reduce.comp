#version 450
// aule decode, the merge of split-K partials: for each query row, the splits'
// normalized O and LSE (fp32, in the workspace) combine by log-sum-exp:
//   L = log(sum_s exp(lse_s)),  O = sum_s exp(lse_s - L) * O_s
// Workspace: O_s at [((b * H + h) * Sq + i) * splits + s] * Dv, LSE_s at ws_lse + the same row index.
// Writes O [B][H][Sq][Dv] (strided, storage dtype) and, when asked, LSE [B][H][Sq] (bound at binding 0).
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(push_constant) uniform Push {
    uint batch, heads, kv_heads, seq_q, seq_k;
    uint q_sb, q_sh, q_ss;
    uint k_sb, k_sh, k_ss;
    uint v_sb, v_sh, v_ss;
    uint o_sb, o_sh, o_ss;
    uint lse_sb, lse_sh;
    float scale;
    uint flags;
    uint bt_stride, splits, split_len, row_tiles, ws_lse;
} p;

{% if DTYPE == "f32" then %}
#define STORE_T float
#define TO_STORE(x) (x)
{% elseif DTYPE == "f16" then %}
#define STORE_T float16_t
#define TO_STORE(x) float16_t(x)
{% else %}
#define STORE_T uint16_t
#define TO_STORE(x) to_bf16(x)
uint16_t to_bf16(float x)
{
    uint u = floatBitsToUint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return uint16_t(0x7fc0u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}
{% end %}

layout(set = 0, binding = 0) writeonly buffer LseOut { float lse_out[]; };
layout(set = 0, binding = 3) writeonly buffer OBuf { STORE_T o_buf[]; };
layout(set = 0, binding = 4) readonly buffer Work { float ws[]; };

const uint DV = {{DV}};
const uint WRITE_LSE = 1u;
#define NEG_INF uintBitsToFloat(0xff800000u)

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
    const uint dst = b * p.o_sb + h * p.o_sh + i * p.o_ss;
    if (m == NEG_INF) {              // no split saw a key: O = 0, LSE = -inf
        for (uint d = 0u; d < DV; d++)
            o_buf[dst + d] = TO_STORE(0.0);
        if ((p.flags & WRITE_LSE) != 0u)
            lse_out[b * p.lse_sb + h * p.lse_sh + i] = NEG_INF;
        return;
    }
    float total = 0.0;
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
        lse_out[b * p.lse_sb + h * p.lse_sh + i] = m + log(total);
}
