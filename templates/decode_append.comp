#version 450
// aule decode, the cache append: writes n new tokens' K and V of every
// sequence into its KV cache at positions[b] .. positions[b] + n - 1.
// New K/V [B][Hkv][n][D|Dv] (strided); the cache paged ([pages][PAGE][Hkv][D],
// through the block table) or contiguous ([B][Hkv][S_max][D]). One invocation
// per element; storage is copied as is (no conversion).
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = 64, local_size_y = 1, local_size_z = 1) in;

layout(push_constant) uniform Push {
    uint batch, heads, kv_heads, seq_q, seq_k;
    uint q_sb, q_sh, q_ss;          // new K
    uint k_sb, k_sh, k_ss;          // K cache
    uint v_sb, v_sh, v_ss;          // V cache
    uint o_sb, o_sh, o_ss;          // new V
    uint lse_sb, lse_sh;
    float scale;
    uint flags;
    uint bt_stride, splits, split_len, row_tiles, ws_lse;
} p;

{% if DTYPE == "f32" then %}
#define STORE_T float
{% elseif DTYPE == "f16" then %}
#define STORE_T float16_t
{% else %}
#define STORE_T uint16_t
{% end %}

layout(set = 0, binding = 0) readonly buffer KNew { STORE_T k_new[]; };
layout(set = 0, binding = 1) buffer KCache { STORE_T k_cache[]; };
layout(set = 0, binding = 2) buffer VCache { STORE_T v_cache[]; };
layout(set = 0, binding = 3) readonly buffer VNew { STORE_T v_new[]; };
layout(set = 0, binding = 5) readonly buffer Positions { uint positions[]; };
layout(set = 0, binding = 6) readonly buffer Blocks { uint block_table[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint DMAX = D > DV ? D : DV;

void main()
{
    const uint e = gl_GlobalInvocationID.x;
    const uint n = p.seq_q;
    if (e >= p.batch * p.kv_heads * n * DMAX)
        return;
    const uint d = e % DMAX, t = (e / DMAX) % n, h = (e / (DMAX * n)) % p.kv_heads, b = e / (DMAX * n * p.kv_heads);
    const uint j = positions[b] + t;
{% if PAGED then %}
    const uint slot = block_table[b * p.bt_stride + j / {{PAGE}}u] * {{PAGE}}u + j % {{PAGE}}u;
    const uint kdst = slot * p.k_ss + h * p.k_sh, vdst = slot * p.v_ss + h * p.v_sh;
{% else %}
    const uint kdst = b * p.k_sb + h * p.k_sh + j * p.k_ss, vdst = b * p.v_sb + h * p.v_sh + j * p.v_ss;
{% end %}
    if (d < D)
        k_cache[kdst + d] = k_new[b * p.q_sb + h * p.q_sh + t * p.q_ss + d];
    if (d < DV)
        v_cache[vdst + d] = v_new[b * p.o_sb + h * p.o_sh + t * p.o_ss + d];
}
