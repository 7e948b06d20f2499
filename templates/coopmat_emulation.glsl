// Cooperative matrices emulated in plain GLSL, so that the kernels above run
// on a device without VK_KHR_cooperative_matrix (CI's lavapipe) and the tests
// check their logic: tiling, masks, the softmax, the lane layout. Not a fast
// path. Every matrix is 16x16; lane l of a subgroup holds CM_E elements, and
// element i sits at row {{LANE_ROW_STEP}} * (l / {{LANE_CLUSTER}}) + CM_ROW[i], column
// {{LANE_COL_STEP}} * (l % {{LANE_CLUSTER}}) + CM_COL[i] (the plan's lane layout, auegen.h), for
// A, B and accumulators alike. A multiply-add goes through a per-subgroup
// scratch pair of tiles in shared memory. Elements are f16 or bf16 bits in
// float16_t (common_coopmat_elem.glsl: TO_ELEM, ELEM_F). Loops stay loops ([[dont_unroll]]):
// unrolled at every call site they make the CPU driver's compile take minutes.
const uint CM_E = {{LANE_ELEMS}}u;
{% local rows, cols = "", "" %}
{% for i = 1, LANE_ELEMS do rows = rows .. (i > 1 and ", " or "") .. ROW_OFF[i] .. "u"; cols = cols .. (i > 1 and ", " or "") .. COL_OFF[i] .. "u" end %}
const uint CM_ROW[CM_E] = uint[]({{rows}});
const uint CM_COL[CM_E] = uint[]({{cols}});

uint cm_row(uint i) { return {{LANE_ROW_STEP}}u * (gl_SubgroupInvocationID / {{LANE_CLUSTER}}u) + CM_ROW[i]; }
uint cm_col(uint i) { return {{LANE_COL_STEP}}u * (gl_SubgroupInvocationID % {{LANE_CLUSTER}}u) + CM_COL[i]; }

#define ACC float[CM_E]
#define ACC16 float16_t[CM_E]
#define MAT_A float16_t[CM_E]
#define MAT_B float16_t[CM_E]
#define ROW_MAJOR 0u
#define COL_MAJOR 1u

float[CM_E] cm_zero()
{
    float m[CM_E];
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++)
        m[i] = 0.0;
    return m;
}

float16_t[CM_E] cm_to16(float c[CM_E])
{
    float16_t m[CM_E];
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++)
        m[i] = TO_ELEM(c[i]);
    return m;
}

#define ACC_ZERO cm_zero()
#define TO_ACC16(c) cm_to16(c)

// Element (r, c) of a row-major matrix at off + r * stride + c; column-major: off + c * stride + r.
#define CM_AT(off, stride, lay, i) \
    ((off) + ((lay) == ROW_MAJOR ? cm_row(i) * (stride) + cm_col(i) : cm_col(i) * (stride) + cm_row(i)))
#define coopMatLoad(m, arr, off, stride, lay) \
    [[dont_unroll]] for (uint cm_i = 0u; cm_i < CM_E; cm_i++) \
        m[cm_i] = arr[CM_AT(off, stride, lay, cm_i)]
#define coopMatStore(m, arr, off, stride, lay) \
    [[dont_unroll]] for (uint cm_i = 0u; cm_i < CM_E; cm_i++) \
        arr[CM_AT(off, stride, lay, cm_i)] = m[cm_i]

shared float16_t cm_scratch[NSG * 512u];

float[CM_E] cm_mul_add(float16_t a[CM_E], float16_t b[CM_E], float c[CM_E])
{
    const uint base = gl_SubgroupID * 512u;
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++) {
        cm_scratch[base + cm_row(i) * 16u + cm_col(i)] = a[i];
        cm_scratch[base + 256u + cm_row(i) * 16u + cm_col(i)] = b[i];
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++) {
        float acc = c[i];
        [[dont_unroll]] for (uint k = 0u; k < 16u; k++)
            acc = fma(ELEM_F(cm_scratch[base + cm_row(i) * 16u + k]), ELEM_F(cm_scratch[base + 256u + k * 16u + cm_col(i)]),
                      acc);
        c[i] = acc;
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    return c;
}

#define coopMatMulAdd(a, b, c) cm_mul_add(a, b, c)

// int8 matrices (s8 x s8 -> s32, 16x16x16: the INT8 kernel's), the values held
// as ints and read from packed int8 words: element (r, c) of a row-major matrix
// is byte c % 4 of word off + r * stride + c / 4, of a column-major one byte
// r % 4 of word off + c * stride + r / 4 (offset and stride in words, as a
// KHR load from a uint array counts them). int8 values are exact in f16, so
// the multiply-add shares the f16 scratch tiles and sums in int32.
#define ACC_S32 int[CM_E]
#define MAT_A8 int[CM_E]
#define MAT_B8 int[CM_E]

int[CM_E] cm_zero_s32()
{
    int m[CM_E];
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++)
        m[i] = 0;
    return m;
}

#define ACC_S32_ZERO cm_zero_s32()
#define CM_BYTE8(off, stride, lay, i) \
    (4u * (off) + ((lay) == ROW_MAJOR ? 4u * cm_row(i) * (stride) + cm_col(i) : 4u * cm_col(i) * (stride) + cm_row(i)))
#define coopMatLoadS8(m, arr, off, stride, lay) \
    [[dont_unroll]] for (uint cm_i = 0u; cm_i < CM_E; cm_i++) { \
        uint cm_b = CM_BYTE8(off, stride, lay, cm_i); \
        m[cm_i] = bitfieldExtract(int(arr[cm_b / 4u]), int(8u * (cm_b % 4u)), 8); \
    }

int[CM_E] cm_mul_add(int a[CM_E], int b[CM_E], int c[CM_E])
{
    const uint base = gl_SubgroupID * 512u;
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++) {
        cm_scratch[base + cm_row(i) * 16u + cm_col(i)] = float16_t(a[i]);
        cm_scratch[base + 256u + cm_row(i) * 16u + cm_col(i)] = float16_t(b[i]);
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    [[dont_unroll]] for (uint i = 0u; i < CM_E; i++) {
        int acc = c[i];
        [[dont_unroll]] for (uint k = 0u; k < 16u; k++)
            acc += int(cm_scratch[base + cm_row(i) * 16u + k]) * int(cm_scratch[base + 256u + k * 16u + cm_col(i)]);
        c[i] = acc;
    }
    subgroupMemoryBarrierShared();
    subgroupBarrier();
    return c;
}
