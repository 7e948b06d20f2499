// The cooperative-matrix backward kernels' shared part (f16 storage, fp32
// accumulators): buffers, tiles, 16x16x16 matrix types and the recomputation
// of P and dS for one 16x16 block of scores. Layouts as the scalar kernels'
// (common_backward.glsl): Q/dO [B][H][Sq][D|Dv], K/V [B][Hkv][Sk][D|Dv]
// (strided); LSE and D fp32 [B][H][Sq]; query rows packed as in the forward.
//
// Each subgroup owns 16 rows of the workgroup's fixed operand (keys in dK/dV,
// query rows in dQ) and walks the other operand's tile in 16-row blocks: it
// computes the 16x16 blocks of S and dP on matrices, stores them to its own
// scratch, turns them into P and dS (f16, as a framework's same-precision
// backward rounds them) element by element, and feeds those back as A
// matrices. Nothing crosses subgroups inside a tile, so only the tile loads
// need the whole workgroup.
layout(set = 0, binding = BINDING_Q) readonly buffer QBuf { float16_t q_buf[]; };
layout(set = 0, binding = BINDING_K) readonly buffer KBuf { float16_t k_buf[]; };
layout(set = 0, binding = BINDING_V) readonly buffer VBuf { float16_t v_buf[]; };
layout(set = 0, binding = BINDING_DO) readonly buffer DoBuf { float16_t do_buf[]; };
layout(set = 0, binding = BINDING_LSE) readonly buffer LseBuf { float lse_buf[]; };
layout(set = 0, binding = BINDING_D) readonly buffer DBuf { float d_buf[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_Q) readonly buffer CuSeqlensQ { uint cu_seqlens_q[]; };
layout(set = 0, binding = BINDING_CU_SEQLENS_K) readonly buffer CuSeqlensK { uint cu_seqlens_k[]; };

const uint D = {{D}};
const uint DV = {{DV}};
const uint DPAD = {{DPAD}};
const uint DVPAD = {{DVPAD}};
const uint GQA = {{GQA}};
const uint NSG = {{NSG}};
const uint SG = {{SG}};
const uint WG = {{WG}};
const uint BR = {{BR}};
const uint BC = {{BC}};
const uint QS = {{QS}};           // f16 row stride of the Q tile
const uint KS = {{KS}};           // ... of the K tile
const uint VS = {{VS}};           // ... of the V and dO tiles
const uint TS = 20u;              // fp32 row stride of a 16x16 scratch block
const uint HS = 24u;              // f16 row stride of a 16x16 scratch block
const int WIN_LEFT = {{WIN_LEFT}};
const int WIN_RIGHT = {{WIN_RIGHT}};
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float sc_f[NSG * 2u * 16u * TS];      // per subgroup: the S and dP blocks
shared float16_t sc_h[NSG * 2u * 16u * HS];  // per subgroup: the P and dS blocks

{% include "common_coopmat_elem.glsl" %}
{% if EMULATE then %}
{% include "coopmat_emulation.glsl" %}
{% else %}
#define ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COL_MAJOR gl_CooperativeMatrixLayoutColumnMajor
#define ACC_ZERO ACC(0.0)
{% end %}

{% if HAS_SOFTCAP then %}
{% include "common_tanh.glsl" %}
{% end %}

void sg_sync()
{
    subgroupMemoryBarrierShared();
    subgroupBarrier();
}

// One 16x16 block of A B^T over `dims` (a multiple of 16): A rows at a_off of
// a (row stride as), B rows at b_off of b (row stride bs), both f16 tiles.
#define BLOCK_ABT(acc, a, a_off, as, b, b_off, bs, dims) \
    acc = ACC_ZERO; \
    for (uint kk = 0u; kk < (dims); kk += 16u) { \
        MAT_A ma; \
        MAT_B mb; \
        coopMatLoad(ma, a, (a_off) + kk, as, ROW_MAJOR); \
        coopMatLoad(mb, b, (b_off) + kk, bs, COL_MAJOR); \
        acc = coopMatMulAdd(ma, mb, acc); \
    }

// P and dS of one score from its unscaled q.k (s) and dO.v (dp), for query
// position i (bottom-right aligned) and key j of a row whose LSE and D are
// given; 0 where the row or key is out of range or masked. Softcap: dS times
// the tanh's derivative. pdp = P * dP (the sinks' gradient).
void grad_of(float s, float dp, bool in_range, int i, int j, float lse, float dd, out float pr, out float ds,
             out float pdp)
{
    pr = 0.0;
    ds = 0.0;
    pdp = 0.0;
    if (!in_range || lse == NEG_INF || (WIN_LEFT >= 0 && j < i - WIN_LEFT) || (WIN_RIGHT >= 0 && j > i + WIN_RIGHT))
        return;
    float x = s * p.scale;
{% if HAS_SOFTCAP then %}
    const float t = accurate_tanh(x / {{SOFTCAP}});
    x = {{SOFTCAP}} * t;
{% end %}
    pr = exp(x - lse);
    pdp = pr * dp;
    ds = pr * (dp - dd);
{% if HAS_SOFTCAP then %}
    ds *= 1.0 - t * t;
{% end %}
}

// Rows row0.. of Q (stride QS) and dO (stride VS), zero-padded to DPAD/DVPAD
// and past the end, into q_tile / do_tile; their LSE and D into lse_t / d_t.
#define LOAD_ROWS(q_tile, do_tile, lse_t, d_t, nrows, row0, rows, hkv, q_base, do_base, lse_base, d_base) \
    for (uint e = gl_LocalInvocationID.x; e < (nrows) * DPAD; e += WG) { \
        uint r = e / DPAD, d = e % DPAD, row = (row0) + r; \
        uint h = (hkv) * GQA + row % GQA; \
        q_tile[r * QS + d] = row < (rows) && d < D \
            ? q_buf[(q_base) + h * p.q_stride_h + (row / GQA) * p.q_stride_s + d] : float16_t(0.0); \
    } \
    for (uint e = gl_LocalInvocationID.x; e < (nrows) * DVPAD; e += WG) { \
        uint r = e / DVPAD, d = e % DVPAD, row = (row0) + r; \
        uint h = (hkv) * GQA + row % GQA; \
        do_tile[r * VS + d] = row < (rows) && d < DV \
            ? do_buf[(do_base) + h * p.do_stride_h + (row / GQA) * p.do_stride_s + d] : float16_t(0.0); \
    } \
    for (uint r = gl_LocalInvocationID.x; r < (nrows); r += WG) { \
        uint row = (row0) + r, h = (hkv) * GQA + row % GQA; \
        lse_t[r] = row < (rows) ? lse_buf[(lse_base) + h * p.lse_stride_h + row / GQA] : NEG_INF; \
        d_t[r] = row < (rows) ? d_buf[(d_base) + h * p.d_stride_h + row / GQA] : 0.0; \
    }

// Keys col0.. of K (stride KS) and V (stride VS), zero-padded, into k_tile / v_tile.
#define LOAD_COLS(k_tile, v_tile, ncols, col0, sk, k_base, v_base) \
    for (uint e = gl_LocalInvocationID.x; e < (ncols) * DPAD; e += WG) { \
        uint c = e / DPAD, d = e % DPAD, j = (col0) + c; \
        k_tile[c * KS + d] = j < (sk) && d < D ? k_buf[(k_base) + j * p.k_stride_s + d] : float16_t(0.0); \
    } \
    for (uint e = gl_LocalInvocationID.x; e < (ncols) * DVPAD; e += WG) { \
        uint c = e / DVPAD, d = e % DVPAD, j = (col0) + c; \
        v_tile[c * VS + d] = j < (sk) && d < DV ? v_buf[(v_base) + j * p.v_stride_s + d] : float16_t(0.0); \
    }

// Writes accumulator m (16 rows from row r0 of a [rows][width] gradient, columns
// c0..c0+15) through the subgroup's fp32 scratch: out[base(row) + column] = x * mul.
#define STORE_GRAD(m, r0, c0, nrows, width, mul, out_buf, base_of) \
    coopMatStore(m, sc_f, sc_fb, TS, ROW_MAJOR); \
    sg_sync(); \
    for (uint e = lane; e < 256u; e += SG) { \
        uint r = e / 16u, c = (c0) + e % 16u, row = (r0) + r; \
        if (row < (nrows) && c < (width)) \
            out_buf[base_of(row) + c] = TO_ELEM(sc_f[sc_fb + r * TS + e % 16u] * (mul)); \
    } \
    sg_sync();
