#version 450
// aule forward attention, cooperative-matrix variant with the softmax in
// registers (VK_KHR_cooperative_matrix, 16x16x16 f16 or bf16 -> f32).
//
// Layouts as in forward_scalar.comp: Q [B][H][Sq][D], K/V [B][Hkv][Sk][D|Dv],
// O [B][H][Sq][Dv] through push-constant strides; LSE fp32 [B][H][Sq].
//
// Used where the plan knows how the device spreads a 16x16 matrix over a
// subgroup (the target's lane layout, probed on the device; auegen.h): lane l
// holds element i at row LANE_ROW_STEP * (l / LANE_CLUSTER) + ROW_OFF[i] and
// column LANE_COL_STEP * (l % LANE_CLUSTER) + COL_OFF[i], for accumulators.
// So each lane owns a few rows ("slots") of every S and O tile, the row max
// and sum are clustered reductions over the LANE_CLUSTER lanes that share a
// row, and O is rescaled in registers. P becomes A matrices element by element
// where the device lays A matrices out as accumulators (P_IN_REGISTERS, probed);
// elsewhere it goes through shared memory (KHR cannot convert an accumulator
// into an A matrix). Q stays in registers as named
// A matrices, O as named accumulators (an array of cooperative matrices
// spills), and every element loop is unrolled here, by the template.
// Scores are kept in log2 units (scaled by scale * log2(e)), so each
// probability is one exp2 of a difference.
{% if EMULATE then %}
#extension GL_EXT_control_flow_attributes : require
{% else %}
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
{% end %}
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_clustered : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_16bit_storage : require

layout(local_size_x = {{WG}}, local_size_y = 1, local_size_z = 1) in;

{% out(ABI) %}

layout(set = 0, binding = BINDING_Q) readonly buffer QBuf { float16_t q_buf[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { float16_t k_buf[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KBuf4 { uvec4 k_buf4[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { float16_t v_buf[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf4 { uvec4 v_buf4[]; };
layout(set = 0, binding = BINDING_O) writeonly buffer OBuf { float16_t o_buf[]; };
layout(set = 0, binding = BINDING_LSE) writeonly buffer LseBuf { float lse_buf[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_Q) readonly buffer CuSeqlensQ { uint cu_seqlens_q[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_K) readonly buffer CuSeqlensK { uint cu_seqlens_k[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint DPAD = {{DPAD}};
const uint DVPAD = {{DVPAD}};
const uint GQA = {{GQA}};
const uint NSG = {{NSG}};
const uint WG = {{WG}};
const uint BR = {{BR}};
const uint BC = {{BC}};
const uint KVS = {{KS}};          // f16 row stride of the K/V tiles (padded: no 128-byte multiple)
const uint PS = BC + 8u;          // f16 row stride of a subgroup's P tile
const uint RB = {{RB}};           // 16-row blocks per subgroup (each K/V matrix load feeds RB products)
const uint SGR = 16u * RB;        // query rows per subgroup
const int WIN_LEFT = {{WIN_LEFT}};
const int WIN_RIGHT = {{WIN_RIGHT}};
const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;
#define NEG_INF uintBitsToFloat(0xff800000u)
{% if SINKS then %}

{% include "common_sinks.glsl" %}
{% end %}

shared float16_t s_kv[2u * BC * KVS];   // K rows 0..BC-1, V rows BC..2BC-1; Q before the loop
{% if Q_SHARED then %}
const uint QSTR = {{QS}};         // f16 row stride of the Q tile (padded like KVS)
shared float16_t s_q[BR * QSTR];  // head dims over 128: Q stays here, not in registers
{% end %}
{% if not P_IN_REGISTERS then %}
shared float16_t s_p[NSG * SGR * PS];
{% end %}

{% include "common_coopmat_elem.glsl" %}
{% -- bf16 matrices start defined: SPV_KHR_bfloat16 has no OpUndef of a bf16 type.
   local AINIT = (BF16_MATRICES and not EMULATE) and " = MAT_A(float16_t(0.0))" or "" %}
{% if EMULATE then %}
{% include "coopmat_emulation.glsl" %}
{% else %}
#define ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define ACC16 coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COL_MAJOR gl_CooperativeMatrixLayoutColumnMajor
#define ACC_ZERO ACC(0.0)
#define TO_ACC16(c) ACC16(c)
{% end %}
{%
-- The plan's lane slots: slot[i] (0-based) of element i (1-based), and each
-- slot's row offset within the lane's cluster rows (slot_row, 1-based).
local E, C, R = LANE_ELEMS, LANE_CLUSTER, LANE_SLOTS
local slot, slot_row = SLOT, SLOT_ROW
local function cmax(x) return C > 1 and ("subgroupClusteredMax(" .. x .. ", " .. C .. "u)") or x end
local function cadd(x) return C > 1 and ("subgroupClusteredAdd(" .. x .. ", " .. C .. "u)") or x end
%}
{% if HAS_SOFTCAP then %}
{% include "common_tanh.glsl" %}
{% end %}

const uint KV8 = DPAD / 8u;        // 16-byte vectors per K row
const uint VV8 = DVPAD / 8u;       // ... per V row
const uint KPT = {{KPT}};          // K vectors each invocation prefetches per tile
const uint VPT = {{VPT}};

// The next tile's K and V, fetched into registers while this tile computes
// (16-byte aligned rows only; zero past the tile's columns and past D).
void fetch(uint k_src, uint v_src, int j0, uint cols, out uvec4 kr[KPT], out uvec4 vr[VPT])
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint t = 0u; t < KPT; t++) {
        uint e = tid + t * WG, c = e / KV8, d8 = (e % KV8) * 8u;
        kr[t] = uvec4(0u);
        if (e < BC * KV8 && c < cols && d8 < D)
            kr[t] = k_buf4[(k_src + uint(j0 + int(c)) * p.k_stride_s + d8) / 8u];
    }
    for (uint t = 0u; t < VPT; t++) {
        uint e = tid + t * WG, c = e / VV8, d8 = (e % VV8) * 8u;
        vr[t] = uvec4(0u);
        if (e < BC * VV8 && c < cols && d8 < DV)
            vr[t] = v_buf4[(v_src + uint(j0 + int(c)) * p.v_stride_s + d8) / 8u];
    }
}

void put8(uint o, uvec4 w)
{
    f16vec2 h0 = unpackFloat2x16(w.x), h1 = unpackFloat2x16(w.y);
    f16vec2 h2 = unpackFloat2x16(w.z), h3 = unpackFloat2x16(w.w);
    s_kv[o] = h0.x; s_kv[o + 1u] = h0.y; s_kv[o + 2u] = h1.x; s_kv[o + 3u] = h1.y;
    s_kv[o + 4u] = h2.x; s_kv[o + 5u] = h2.y; s_kv[o + 6u] = h3.x; s_kv[o + 7u] = h3.y;
}

void stash(uvec4 kr[KPT], uvec4 vr[VPT])
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint t = 0u; t < KPT; t++) {
        uint e = tid + t * WG;
        if (e < BC * KV8)
            put8((e / KV8) * KVS + (e % KV8) * 8u, kr[t]);
    }
    for (uint t = 0u; t < VPT; t++) {
        uint e = tid + t * WG;
        if (e < BC * VV8)
            put8((BC + e / VV8) * KVS + (e % VV8) * 8u, vr[t]);
    }
}

// Any other layout: element by element, straight into shared memory.
void load_scalar(uint k_src, uint v_src, int j0, uint cols)
{
    const uint tid = gl_LocalInvocationID.x;
    for (uint e = tid; e < BC * DPAD; e += WG) {
        uint c = e / DPAD, d = e % DPAD;
        s_kv[c * KVS + d] = c < cols && d < D ? k_buf[k_src + uint(j0 + int(c)) * p.k_stride_s + d] : float16_t(0.0);
    }
    for (uint e = tid; e < BC * DVPAD; e += WG) {
        uint c = e / DVPAD, d = e % DVPAD;
        s_kv[(BC + c) * KVS + d] = c < cols && d < DV ? v_buf[v_src + uint(j0 + int(c)) * p.v_stride_s + d]
                                                      : float16_t(0.0);
    }
}

void main()
{
    const uint tid = gl_LocalInvocationID.x;
    const uint sg = gl_SubgroupID;
    const uint lane = gl_SubgroupInvocationID;
    const uint hkv = gl_WorkGroupID.y;
    const uint b = gl_WorkGroupID.z;

    uint sq = p.seq_q, sk = p.seq_k;
    uint q_base = b * p.q_stride_b, k_base = b * p.k_stride_b, v_base = b * p.v_stride_b, o_base = b * p.o_stride_b;
    uint lse_base = b * p.lse_stride_b;
{% include "common_varlen.glsl" %}
    const uint rows = sq * GQA;
    const uint row0 = gl_WorkGroupID.x * BR;
    if (row0 >= rows)
        return;
    k_base += hkv * p.k_stride_h;
    v_base += hkv * p.v_stride_h;
    const bool aligned = (p.flags & ALIGNED16) != 0u;

{% if Q_SHARED then %}
    // Q, unscaled f16, zero past the rows and D, into shared memory for the whole loop.
    for (uint e = tid; e < BR * DPAD; e += WG) {
        uint r = e / DPAD, d = e % DPAD, row = row0 + r;
        float16_t x = float16_t(0.0);
        if (row < rows && d < D) {
            uint h = hkv * GQA + row % GQA;
            x = q_buf[q_base + h * p.q_stride_h + (row / GQA) * p.q_stride_s + d];
        }
        s_q[r * QSTR + d] = x;
    }
{% else %}
    // Q, unscaled f16, zero past the rows and D; into registers, 2*BC rows at a time.
{% for r = 0, RB - 1 do %}
{% for i = 0, DPAD // 16 - 1 do %}
    MAT_A qa{{r}}_{{i}}{{AINIT}};
{% end %}
{% end %}
    for (uint r0 = 0u; r0 < BR; r0 += 2u * BC) {
        for (uint e = tid; e < min(2u * BC, BR - r0) * DPAD; e += WG) {
            uint r = e / DPAD, d = e % DPAD, row = row0 + r0 + r;
            float16_t x = float16_t(0.0);
            if (row < rows && d < D) {
                uint h = hkv * GQA + row % GQA;
                x = q_buf[q_base + h * p.q_stride_h + (row / GQA) * p.q_stride_s + d];
            }
            s_kv[r * KVS + d] = x;
        }
        barrier();
{% for r = 0, RB - 1 do %}
        if (sg * SGR + {{r * 16}}u >= r0 && sg * SGR + {{r * 16}}u < r0 + 2u * BC) {
{% for i = 0, DPAD // 16 - 1 do %}
            coopMatLoad(qa{{r}}_{{i}}, s_kv, (sg * SGR + {{r * 16}}u - r0) * KVS + {{i}}u * 16u, KVS, ROW_MAJOR);
{% end %}
        }
{% end %}
        barrier();
    }
{% end %}
{% for r = 0, RB - 1 do %}
{% for n = 0, DVPAD // 16 - 1 do %}
    ACC o{{r}}_{{n}} = ACC_ZERO;
{% end %}
{% end %}

    // This lane's rows (slots) of each of the subgroup's row blocks, and their query positions.
    const int shift = int(sk) - int(sq);
    const uint lane_row = row0 + sg * SGR + {{LANE_ROW_STEP}}u * (lane / {{C}}u);
    const uint col_lane = {{LANE_COL_STEP}}u * (lane % {{C}}u);
{% if BF16_MATRICES and not P_IN_REGISTERS then %}
    const uint tile_row = {{LANE_ROW_STEP}}u * (lane / {{C}}u);   // this lane's first row in a 16x16 tile
{% end %}
{% for r = 0, RB - 1 do %}
{% for j = 0, R - 1 do %}
    const uint qrow{{r}}_{{j}} = lane_row + {{r * 16 + slot_row[j + 1]}}u;
    const int qpos{{r}}_{{j}} = int(qrow{{r}}_{{j}} / GQA) + shift;
    float m{{r}}_{{j}} = NEG_INF, l{{r}}_{{j}} = 0.0;
{% end %}
{% end %}
{% if HAS_SOFTCAP then %}
    const float cap_in = p.scale / {{SOFTCAP}}, cap_out = {{SOFTCAP}} * LOG2E;
{% else %}
    const float qk_scale = p.scale * LOG2E;
{% end %}

    const int first_q = int(row0 / GQA) + shift;
    const int last_q = int((min(row0 + BR, rows) - 1u) / GQA) + shift;
    int kv_lo = 0, kv_hi = int(sk);
    if (WIN_LEFT >= 0)
        kv_lo = max(kv_lo, first_q - WIN_LEFT);
    if (WIN_RIGHT >= 0)
        kv_hi = min(kv_hi, last_q + WIN_RIGHT + 1);

{% if not Q_SHARED then %}
    uvec4 kr[KPT], vr[VPT];
    if (aligned && kv_lo < kv_hi)
        fetch(k_base, v_base, kv_lo, uint(min(int(BC), kv_hi - kv_lo)), kr, vr);
{% end %}
    for (int j0 = kv_lo; j0 < kv_hi; j0 += int(BC)) {
        const uint cols = uint(min(int(BC), kv_hi - j0));
{% if Q_SHARED then %}
        // No prefetch here: O alone takes half the registers at these head dims.
        if (aligned) {
            uvec4 kr[KPT], vr[VPT];
            fetch(k_base, v_base, j0, cols, kr, vr);
            stash(kr, vr);
        } else {
            load_scalar(k_base, v_base, j0, cols);
        }
        barrier();
{% else %}
        if (aligned)
            stash(kr, vr);
        else
            load_scalar(k_base, v_base, j0, cols);
        barrier();
        // The next tile's loads are in flight while this one computes.
        if (aligned && j0 + int(BC) < kv_hi)
            fetch(k_base, v_base, j0 + int(BC), uint(min(int(BC), kv_hi - j0 - int(BC))), kr, vr);
{% end %}

        // S = Q K^T, in log2 units; each K matrix serves every row block.
{% for r = 0, RB - 1 do %}
{% for c = 0, BC // 16 - 1 do %}
        ACC s{{r}}_{{c}} = ACC_ZERO;
{% end %}
{% end %}
{% if Q_SHARED then %}
{% for i = 0, DPAD // 16 - 1 do %}
        {
{% for r = 0, RB - 1 do %}
            MAT_A qa{{r}};
            coopMatLoad(qa{{r}}, s_q, (sg * SGR + {{r * 16}}u) * QSTR + {{i}}u * 16u, QSTR, ROW_MAJOR);
{% end %}
{% for c = 0, BC // 16 - 1 do %}
            {
                MAT_B kb;
                coopMatLoad(kb, s_kv, {{c}}u * 16u * KVS + {{i}}u * 16u, KVS, COL_MAJOR);
{% for r = 0, RB - 1 do %}
                s{{r}}_{{c}} = coopMatMulAdd(qa{{r}}, kb, s{{r}}_{{c}});
{% end %}
            }
{% end %}
        }
{% end %}
{% else %}
{% for c = 0, BC // 16 - 1 do %}
{% for i = 0, DPAD // 16 - 1 do %}
        {
            MAT_B kb;
            coopMatLoad(kb, s_kv, {{c}}u * 16u * KVS + {{i}}u * 16u, KVS, COL_MAJOR);
{% for r = 0, RB - 1 do %}
            s{{r}}_{{c}} = coopMatMulAdd(qa{{r}}_{{i}}, kb, s{{r}}_{{c}});
{% end %}
        }
{% end %}
{% end %}
{% end %}
{% for r = 0, RB - 1 do %}
{% for c = 0, BC // 16 - 1 do %}
{% for i = 0, E - 1 do %}
{% if HAS_SOFTCAP then %}
        s{{r}}_{{c}}[{{i}}] = cap_out * accurate_tanh(s{{r}}_{{c}}[{{i}}] * cap_in);
{% else %}
        s{{r}}_{{c}}[{{i}}] *= qk_scale;
{% end %}
{% end %}
{% end %}
{% end %}

        // Masks, only on tiles that need one (uniform: no divergence around the matrices).
        bool edge = cols < BC;
        if (WIN_RIGHT >= 0)
            edge = edge || j0 + int(BC) - 1 > first_q + WIN_RIGHT;
        if (WIN_LEFT >= 0)
            edge = edge || j0 < last_q - WIN_LEFT;
        if (edge) {
{% for r = 0, RB - 1 do %}
{% for c = 0, BC // 16 - 1 do %}
{% for i = 0, E - 1 do %}
            {
                int j = j0 + int({{c * 16 + COL_OFF[i + 1]}}u + col_lane);
                bool ok = j < kv_hi;
                if (WIN_LEFT >= 0)
                    ok = ok && j >= qpos{{r}}_{{slot[i + 1]}} - WIN_LEFT;
                if (WIN_RIGHT >= 0)
                    ok = ok && j <= qpos{{r}}_{{slot[i + 1]}} + WIN_RIGHT;
                s{{r}}_{{c}}[{{i}}] = ok ? s{{r}}_{{c}}[{{i}}] : NEG_INF;
            }
{% end %}
{% end %}
{% end %}
        }

        // Online softmax in registers: row max and sum over the lanes of a cluster.
{% for r = 0, RB - 1 do %}
{% for j = 0, R - 1 do %}
        float mx{{r}}_{{j}} = NEG_INF;
{% end %}
{% for c = 0, BC // 16 - 1 do %}
{% for i = 0, E - 1 do %}
        mx{{r}}_{{slot[i + 1]}} = max(mx{{r}}_{{slot[i + 1]}}, s{{r}}_{{c}}[{{i}}]);
{% end %}
{% end %}
{% for j = 0, R - 1 do %}
        const float mn{{r}}_{{j}} = max(m{{r}}_{{j}}, {{cmax("mx" .. r .. "_" .. j)}});
        // A row that has seen no key keeps m = -inf: subtract 0 instead, so exp2 gives 0, not NaN.
        const float base{{r}}_{{j}} = mn{{r}}_{{j}} == NEG_INF ? 0.0 : mn{{r}}_{{j}};
        const float alpha{{r}}_{{j}} = exp2(m{{r}}_{{j}} - base{{r}}_{{j}});
        float sum{{r}}_{{j}} = 0.0;
{% end %}
{% for c = 0, BC // 16 - 1 do %}
{% for i = 0, E - 1 do %}
        s{{r}}_{{c}}[{{i}}] = exp2(s{{r}}_{{c}}[{{i}}] - base{{r}}_{{slot[i + 1]}});
        sum{{r}}_{{slot[i + 1]}} += s{{r}}_{{c}}[{{i}}];
{% end %}
{% if P_IN_REGISTERS then %}
        // A matrices sit in the lanes as accumulators do: P is built in place.
        MAT_A pa{{r}}_{{c}}{{AINIT}};
{% for i = 0, E - 1 do %}
        pa{{r}}_{{c}}[{{i}}] = TO_ELEM(s{{r}}_{{c}}[{{i}}]);
{% end %}
{% elseif BF16_MATRICES then %}
        // No bf16 accumulator to convert through: each lane writes its elements.
{% for i = 0, E - 1 do %}
        s_p[(sg * SGR + {{r * 16 + ROW_OFF[i + 1]}}u + tile_row) * PS + {{c * 16 + COL_OFF[i + 1]}}u + col_lane] = TO_ELEM(s{{r}}_{{c}}[{{i}}]);
{% end %}
{% else %}
        {
            ACC16 ph = TO_ACC16(s{{r}}_{{c}});
            coopMatStore(ph, s_p, (sg * SGR + {{r * 16}}u) * PS + {{c}}u * 16u, PS, ROW_MAJOR);
        }
{% end %}
{% end %}
{% for j = 0, R - 1 do %}
        l{{r}}_{{j}} = l{{r}}_{{j}} * alpha{{r}}_{{j}} + {{cadd("sum" .. r .. "_" .. j)}};
        m{{r}}_{{j}} = mn{{r}}_{{j}};
{% end %}
{% for n = 0, DVPAD // 16 - 1 do %}
{% for i = 0, E - 1 do %}
        o{{r}}_{{n}}[{{i}}] *= alpha{{r}}_{{slot[i + 1]}};
{% end %}
{% end %}
{% end %}
{% if not P_IN_REGISTERS then %}
        subgroupMemoryBarrierShared();
        subgroupBarrier();
{% for r = 0, RB - 1 do %}
{% for k = 0, BC // 16 - 1 do %}
        MAT_A pa{{r}}_{{k}};
        coopMatLoad(pa{{r}}_{{k}}, s_p, (sg * SGR + {{r * 16}}u) * PS + {{k}}u * 16u, PS, ROW_MAJOR);
{% end %}
{% end %}
{% end %}
        // O += P V; each V matrix serves every row block.
{% for n = 0, DVPAD // 16 - 1 do %}
{% for k = 0, BC // 16 - 1 do %}
        {
            MAT_B vb;
            coopMatLoad(vb, s_kv, (BC + {{k}}u * 16u) * KVS + {{n}}u * 16u, KVS, ROW_MAJOR);
{% for r = 0, RB - 1 do %}
            o{{r}}_{{n}} = coopMatMulAdd(pa{{r}}_{{k}}, vb, o{{r}}_{{n}});
{% end %}
        }
{% end %}
{% end %}
        barrier();
    }

    // O / l straight from the registers; LSE in natural units.
{% for r = 0, RB - 1 do %}
{% for j = 0, R - 1 do %}
{% if SINKS then %}
    // Sinks: the head's logit joins the denominator (log2 units here).
    const uint h{{r}}_{{j}} = hkv * GQA + qrow{{r}}_{{j}} % GQA;
    const float sa{{r}}_{{j}} = sink_fold2(h{{r}}_{{j}}, m{{r}}_{{j}}, l{{r}}_{{j}});
    const float inv{{r}}_{{j}} = l{{r}}_{{j}} > 0.0 ? sa{{r}}_{{j}} / l{{r}}_{{j}} : 0.0;
{% else %}
    const float inv{{r}}_{{j}} = l{{r}}_{{j}} > 0.0 ? 1.0 / l{{r}}_{{j}} : 0.0;
    const uint h{{r}}_{{j}} = hkv * GQA + qrow{{r}}_{{j}} % GQA;
{% end %}
    const uint ob{{r}}_{{j}} = o_base + h{{r}}_{{j}} * p.o_stride_h + (qrow{{r}}_{{j}} / GQA) * p.o_stride_s;
{% end %}
{% for n = 0, DVPAD // 16 - 1 do %}
{% for i = 0, E - 1 do %}
    if (qrow{{r}}_{{slot[i + 1]}} < rows && {{n * 16 + COL_OFF[i + 1]}}u + col_lane < DV)
        o_buf[ob{{r}}_{{slot[i + 1]}} + {{n * 16 + COL_OFF[i + 1]}}u + col_lane] = TO_ELEM(o{{r}}_{{n}}[{{i}}] * inv{{r}}_{{slot[i + 1]}});
{% end %}
{% end %}
{% end %}
    if ((p.flags & WRITE_LSE) != 0u && lane % {{C}}u == 0u) {
{% for r = 0, RB - 1 do %}
{% for j = 0, R - 1 do %}
        if (qrow{{r}}_{{j}} < rows)
            lse_buf[lse_base + h{{r}}_{{j}} * p.lse_stride_h + qrow{{r}}_{{j}} / GQA] = l{{r}}_{{j}} > 0.0 ? m{{r}}_{{j}} * LN2 + log(l{{r}}_{{j}}) : NEG_INF;
{% end %}
{% end %}
    }
}
