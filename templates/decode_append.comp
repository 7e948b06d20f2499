#version 450
// aule decode, the cache append: writes n new tokens' K and V of every
// sequence into its KV cache at positions[b] .. positions[b] + n - 1.
// New K/V [B][Hkv][n][D|Dv] (strided); the cache paged ([pages][PAGE][Hkv][D],
// through the block table) or contiguous ([B][Hkv][S_max][D]). One invocation
// per element; storage is copied as is (no conversion).
{% if STORAGE16 then %}
#extension GL_EXT_shader_16bit_storage : require
{% end %}

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

{% include "common_dtype.glsl" %}

layout(set = 0, binding = BINDING_K_NEW) readonly buffer KNew { STORE_T k_new[]; };
layout(set = 0, binding = BINDING_K) buffer KBuf { STORE_T k_cache[]; };
layout(set = 0, binding = BINDING_V) buffer VBuf { STORE_T v_cache[]; };
layout(set = 0, binding = BINDING_V_NEW) readonly buffer VNew { STORE_T v_new[]; };
layout(set = 0, binding = BINDING_POSITIONS) readonly buffer Positions { uint positions[]; };
layout(set = 0, binding = BINDING_BLOCK_TABLE) readonly buffer BlockTable { uint block_table[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint DMAX = D > DV ? D : DV;

void main()
{
    const uint e = gl_GlobalInvocationID.x;
    const uint n = p.tokens;
    if (e >= p.batch * p.kv_heads * n * DMAX)
        return;
    const uint d = e % DMAX, t = (e / DMAX) % n, h = (e / (DMAX * n)) % p.kv_heads, b = e / (DMAX * n * p.kv_heads);
    const uint j = positions[b] + t;
{% if PAGED then %}
    const uint slot = block_table[b * p.bt_stride + j / {{PAGE}}u] * {{PAGE}}u + j % {{PAGE}}u;
    const uint kdst = slot * p.k_stride_s + h * p.k_stride_h, vdst = slot * p.v_stride_s + h * p.v_stride_h;
{% else %}
    const uint kdst = b * p.k_stride_b + h * p.k_stride_h + j * p.k_stride_s, vdst = b * p.v_stride_b + h * p.v_stride_h + j * p.v_stride_s;
{% end %}
    if (d < D)
        k_cache[kdst + d] = k_new[b * p.knew_stride_b + h * p.knew_stride_h + t * p.knew_stride_s + d];
    if (d < DV)
        v_cache[vdst + d] = v_new[b * p.vnew_stride_b + h * p.vnew_stride_h + t * p.vnew_stride_s + d];
}
