/* SPDX-License-Identifier: MIT */
/*
 * cpu_kernel.h - the native CPU backend's attention kernel: FlashAttention-2
 * on SIMD registers, written once with GCC/Clang vector types and compiled
 * per instruction set by the file that includes it, which defines
 *     AULE_CPU_W         f32 lanes of one vector (16 AVX-512, 8 AVX2, 4 SSE2/NEON)
 *     AULE_CPU_RB        row vectors one micro-kernel holds (4 with 32 registers, 2 with 16)
 *     AULE_CPU_ISA       the aule__cpu_isa variable to define
 *     AULE_CPU_ISA_NAME  its name
 * and compiles it with that ISA's flags and -ffp-contract=fast (a*b+c is one FMA).
 * A kernel auegen generated for one spec (a CPU profile, docs/cpu.md) also
 * defines AULE_CPU_SPEC and the spec's values as constants:
 *     AULE_CPU_SPEC_D, _DV        head dims
 *     AULE_CPU_SPEC_DTYPE         auegen_dtype of the storage
 *     AULE_CPU_SPEC_GQA           query heads per KV head
 *     AULE_CPU_SPEC_WINDOW_LEFT, _WINDOW_RIGHT   -1: unbounded (causal: right 0)
 *     AULE_CPU_SPEC_SOFTCAP       0.0f: none
 *     AULE_CPU_SPEC_SINKS, _KV_INT8, _PAGE_SIZE
 * so the same code is compiled with the loops over D of known length and the
 * branches of other specs removed; without it (the generic kernel) they are
 * read from the call (aule__cpu_attn).
 *
 * One task = one row tile of one (sequence, KV head, KV split): TR = 4 * W query
 * rows, position-major over the KV head's GQA group (row r is query position
 * r / gqa of head kvh * gqa + r % gqa), so every K/V tile is read once for the
 * whole group. Layouts inside a task, all fp32 in the thread's scratch:
 *     Qt [D][TR]    Q transposed (scores are scaled after the dot product, as the reference does)
 *     Kf [TK][D]    one K tile, converted once from f16/bf16/int8
 *     Vf [TK][DVP]  one V tile (DVP = Dv rounded up to 4, zero columns)
 *     St [TK][TR]   scores, then P, transposed: lanes run over query rows
 *     Ot [DVP][TR]  the output accumulator, transposed
 * Lanes run over query rows, so the online softmax (running max, rescale,
 * exp2, row sums) is plain vertical vector code and K/V need no transpose:
 * S^T += K[j][d] (broadcast) * Qt[d][:], O^T += V[j][c] (broadcast) * P^T[j][:].
 * Keys are visited only where some row of the tile sees them (masks skip
 * whole tiles); a tile that every row sees in full is not masked per element.
 * The backward kernels (cpu_kernel_backward.h) are included at the end and
 * reuse these micro-kernels.
 */
#include "cpu_internal.h"
#include "aule_reference.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__AVX__) || defined(__F16C__)
#include <immintrin.h>
#endif

/* The spec's values: constants in a generated kernel, the call's otherwise. */
#ifdef AULE_CPU_SPEC
#define K_D(a) AULE_CPU_SPEC_D
#define K_DV(a) AULE_CPU_SPEC_DV
#define K_DTYPE(a) AULE_CPU_SPEC_DTYPE
#define K_GQA(a) AULE_CPU_SPEC_GQA
#define K_WL(a) AULE_CPU_SPEC_WINDOW_LEFT
#define K_WR(a) AULE_CPU_SPEC_WINDOW_RIGHT
#define K_SOFTCAP(a) AULE_CPU_SPEC_SOFTCAP
#define K_SINKS(a) (AULE_CPU_SPEC_SINKS ? (a)->sinks : (const float *)0)
#define K_KV_INT8(a) AULE_CPU_SPEC_KV_INT8
#define K_PAGE(a) AULE_CPU_SPEC_PAGE_SIZE
#else
#define K_D(a) ((a)->d)
#define K_DV(a) ((a)->dv)
#define K_DTYPE(a) ((a)->dtype)
#define K_GQA(a) ((a)->gqa)
#define K_WL(a) ((a)->window_left)
#define K_WR(a) ((a)->window_right)
#define K_SOFTCAP(a) ((a)->softcap)
#define K_SINKS(a) ((a)->sinks)
#define K_KV_INT8(a) ((a)->kv_int8)
#define K_PAGE(a) ((a)->page_size)
#endif

#define W AULE_CPU_W
#define RB AULE_CPU_RB
#define TR (4 * W)        /* query rows per tile */
#define TK 64             /* keys per tile */
#define KB 4              /* keys per QK micro-kernel step */
#define CB 4              /* output columns per PV micro-kernel step */
#define LOG2E 1.4426950408889634f
#define INLINE static inline __attribute__((always_inline))

typedef float vf __attribute__((vector_size(W * 4)));
typedef int32_t vi __attribute__((vector_size(W * 4)));

/* A broadcast (not (vf){0} + x: that is a scalar add of +0.0, which the compiler must keep
 * for x = -0.0, then a register broadcast, both on the FMA ports). */
INLINE vf splat(float x)
{
#if AULE_CPU_W == 16 && defined(__AVX512F__)
    return (vf)_mm512_set1_ps(x);
#elif AULE_CPU_W == 8 && defined(__AVX__)
    return (vf)_mm256_set1_ps(x);
#else
    vf v;
    for (int i = 0; i < W; i++)
        v[i] = x;
    return v;
#endif
}
INLINE vf vload(const float *p) { return *(const vf *)p; }
INLINE void vstore(float *p, vf x) { *(vf *)p = x; }
INLINE vf vselect(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
INLINE vf vmax(vf a, vf b) { return vselect(a > b, a, b); }

/* 2^x, relative error about 1e-7; exactly 0 below -126 (and for -inf). */
INLINE vf vexp2(vf x)
{
    const vf lo = splat(-126.0f), magic = splat(12582912.0f);   /* 1.5 * 2^23: round to integer */
    vi under = x < lo;
    x = vselect(under, lo, x);
    vf t = x + magic;
    vf n = t - magic;
    vf f = x - n;                                              /* [-0.5, 0.5] */
    /* Taylor series of 2^f = e^(f ln 2) to degree 7 (remainder below 1e-8 here). */
    vf p = splat(1.5252733804059840e-05f);
    p = p * f + 1.5403530393381608e-04f;
    p = p * f + 1.3333558146428443e-03f;
    p = p * f + 9.6181291076284772e-03f;
    p = p * f + 5.5504108664821580e-02f;
    p = p * f + 2.4022650695910071e-01f;
    p = p * f + 6.9314718055994531e-01f;
    p = p * f + 1.0f;
    vi e = ((vi)t - (vi)magic) << 23;
    return vselect(under, splat(0.0f), (vf)((vi)p + e));
}

/* tanh with a small relative error near 0, as the Vulkan kernels' accurate_tanh
 * (templates/common_tanh.glsl): a softcap multiplies any absolute error by the cap.
 * An odd Taylor polynomial below |x| = 0.3, else (1 - e) / (1 + e) with e = exp(-2|x|). */
INLINE vf vtanh(vf x)
{
    const vi sign = (vi)splat(-0.0f);
    vf a = (vf)((vi)x & ~sign), x2 = x * x;
    vf p = splat(-1382.0f / 155925.0f);
    p = p * x2 + 62.0f / 2835.0f;
    p = p * x2 - 17.0f / 315.0f;
    p = p * x2 + 2.0f / 15.0f;
    p = p * x2 - 1.0f / 3.0f;
    p = x + x * x2 * p;
    vf e = vexp2(a * (-2.0f * LOG2E));
    vf big = (vf)(((vi)((1.0f - e) / (1.0f + e))) | ((vi)x & sign));
    return vselect(a < splat(0.3f), p, big);
}

/* --- storage conversions ----------------------------------------------------------- */

static void to_f32(int dtype, const void *src, float *dst, int n)
{
    if (dtype == AUEGEN_DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof *dst);
    } else if (dtype == AUEGEN_DTYPE_BF16) {
        const uint16_t *s = src;
        for (int i = 0; i < n; i++) {
            uint32_t x = (uint32_t)s[i] << 16;
            memcpy(&dst[i], &x, sizeof x);
        }
    } else {
        const uint16_t *s = src;
        int i = 0;
#if defined(__AVX512F__)
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + i))));
#endif
#if defined(__F16C__)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
        for (; i < n; i++)
            dst[i] = _cvtsh_ss(s[i]);
#else
        for (; i < n; i++)
            dst[i] = aule_f16_to_f32(s[i]);
#endif
    }
}

static void int8_to_f32(const int8_t *src, const float *scale, float *dst, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (float)src[i] * scale[i];
}

static void store_value(int dtype, void *base, int64_t at, float x)
{
    if (dtype == AUEGEN_DTYPE_F32)
        ((float *)base)[at] = x;
    else if (dtype == AUEGEN_DTYPE_BF16)
        ((uint16_t *)base)[at] = aule_f32_to_bf16(x);
    else
#if defined(__F16C__)
        ((uint16_t *)base)[at] = (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
#else
        ((uint16_t *)base)[at] = aule_f32_to_f16(x);
#endif
}

static size_t dtype_bytes(int dtype) { return dtype == AUEGEN_DTYPE_F32 ? 4 : 2; }

/* --- micro-kernels --------------------------------------------------------------------- */

/* St[kk][r] = sum_x Qt[x][r] * Kf[kk][x] for KB keys and nrv row vectors. */
INLINE void qk_block(const float *restrict qt, const float *restrict kf, int d, float *restrict st, int nrv)
{
    vf acc[KB][RB];
#pragma GCC unroll 4
    for (int kk = 0; kk < KB; kk++)
#pragma GCC unroll 4
        for (int r = 0; r < nrv; r++)
            acc[kk][r] = splat(0.0f);
    for (int x = 0; x < d; x++) {
        vf q[RB];
#pragma GCC unroll 4
        for (int r = 0; r < nrv; r++)
            q[r] = vload(qt + (size_t)x * TR + r * W);
#pragma GCC unroll 4
        for (int kk = 0; kk < KB; kk++) {
            vf k = splat(kf[(size_t)kk * d + x]);
#pragma GCC unroll 4
            for (int r = 0; r < nrv; r++)
                acc[kk][r] += q[r] * k;
        }
    }
#pragma GCC unroll 4
    for (int kk = 0; kk < KB; kk++)
#pragma GCC unroll 4
        for (int r = 0; r < nrv; r++)
            vstore(st + (size_t)kk * TR + r * W, acc[kk][r]);
}

/* Ot[c][r] = Ot[c][r] * alpha[r] + sum_j Vf[j][c] * Pt[j][r] for CB columns and nrv row vectors. */
INLINE void pv_block(const float *restrict pt, const float *restrict vfp, int ldv, int nk, float *restrict ot,
                     const float *restrict alpha, int nrv)
{
    vf acc[CB][RB];
#pragma GCC unroll 4
    for (int c = 0; c < CB; c++)
#pragma GCC unroll 4
        for (int r = 0; r < nrv; r++)
            acc[c][r] = vload(ot + (size_t)c * TR + r * W) * vload(alpha + r * W);
    for (int j = 0; j < nk; j++) {
        vf p[RB];
#pragma GCC unroll 4
        for (int r = 0; r < nrv; r++)
            p[r] = vload(pt + (size_t)j * TR + r * W);
#pragma GCC unroll 4
        for (int c = 0; c < CB; c++) {
            vf v = splat(vfp[(size_t)j * ldv + c]);
#pragma GCC unroll 4
            for (int r = 0; r < nrv; r++)
                acc[c][r] += p[r] * v;
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < CB; c++)
#pragma GCC unroll 4
        for (int r = 0; r < nrv; r++)
            vstore(ot + (size_t)c * TR + r * W, acc[c][r]);
}

/* The micro-kernels over all row vectors, RB at a time, with constant counts. */
static void qk_tile(const float *qt, const float *kf, int d, int nkp, float *st, int nrv)
{
    for (int jb = 0; jb < nkp; jb += KB) {
        for (int r0 = 0; r0 < nrv; r0 += RB) {
            const float *q = qt + r0 * W;
            const float *k = kf + (size_t)jb * d;
            float *s = st + (size_t)jb * TR + r0 * W;
            switch (nrv - r0 < RB ? nrv - r0 : RB) {
            case 1: qk_block(q, k, d, s, 1); break;
#if RB >= 2
            case 2: qk_block(q, k, d, s, 2); break;
#endif
#if RB >= 3
            case 3: qk_block(q, k, d, s, 3); break;
#endif
#if RB >= 4
            case 4: qk_block(q, k, d, s, 4); break;
#endif
            }
        }
    }
}

static void pv_tile(const float *pt, const float *vfp, int dvp, int nk, float *ot, const float *alpha, int nrv)
{
    for (int c0 = 0; c0 < dvp; c0 += CB) {
        for (int r0 = 0; r0 < nrv; r0 += RB) {
            const float *p = pt + r0 * W;
            float *o = ot + (size_t)c0 * TR + r0 * W;
            const float *al = alpha + r0 * W;
            switch (nrv - r0 < RB ? nrv - r0 : RB) {
            case 1: pv_block(p, vfp + c0, dvp, nk, o, al, 1); break;
#if RB >= 2
            case 2: pv_block(p, vfp + c0, dvp, nk, o, al, 2); break;
#endif
#if RB >= 3
            case 3: pv_block(p, vfp + c0, dvp, nk, o, al, 3); break;
#endif
#if RB >= 4
            case 4: pv_block(p, vfp + c0, dvp, nk, o, al, 4); break;
#endif
            }
        }
    }
}


/* --- few rows (decode): lanes over the head dimension ----------------------------------
 * With fewer query rows than half a vector (decode: one token of a GQA group),
 * lanes over rows would idle, so this path runs lanes over D instead: Q rows
 * and each K/V row as vectors, a dot product reduced across lanes per (row, key),
 * the softmax along the keys, and O += P V with O's rows in registers.
 *     Qr [FR][DP]   Kf [TK][DP]   Vf [TK][DVW]   Sr [FR][TK]   Or [FR][DVW]
 * DP is D rounded up to a vector, DVW Dv rounded up to FCV vectors (zero padding). */
#define FR (W / 2)           /* at most this many rows take the path */
#define FCV RB               /* O vectors per PV step */

INLINE float vsum(vf v)
{
#if AULE_CPU_W == 16 && defined(__AVX512F__)
    return _mm512_reduce_add_ps((__m512)v);
#else
    float s = 0.0f;
    for (int i = 0; i < W; i++)
        s += v[i];
    return s;
#endif
}

INLINE float vhmax(vf v)
{
#if AULE_CPU_W == 16 && defined(__AVX512F__)
    return _mm512_reduce_max_ps((__m512)v);
#else
    float s = v[0];
    for (int i = 1; i < W; i++)
        s = v[i] > s ? v[i] : s;
    return s;
#endif
}

/* Or[r][c..] = Or[r][c..] * alpha[r] + sum_j Sr[r][j] * Vf[j][c..] for nr rows and FCV vectors. */
INLINE void pv_few_block(const float *restrict sr, const float *restrict vfp, int ldv, int nk, float *restrict orow,
                         const float *restrict alpha, int nr)
{
    vf acc[4][FCV];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int cv = 0; cv < FCV; cv++)
            acc[r][cv] = vload(orow + (size_t)r * ldv + cv * W) * alpha[r];
    for (int j = 0; j < nk; j++) {
        vf v[FCV];
#pragma GCC unroll 4
        for (int cv = 0; cv < FCV; cv++)
            v[cv] = vload(vfp + (size_t)j * ldv + cv * W);
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            vf p = splat(sr[(size_t)r * TK + j]);
#pragma GCC unroll 4
            for (int cv = 0; cv < FCV; cv++)
                acc[r][cv] += p * v[cv];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int cv = 0; cv < FCV; cv++)
            vstore(orow + (size_t)r * ldv + cv * W, acc[r][cv]);
}

static void pv_few(const float *sr, const float *vfp, int dvw, int nk, float *orows, const float *alpha, int nrows)
{
    for (int r0 = 0; r0 < nrows; r0 += 4)
        for (int c0 = 0; c0 < dvw; c0 += FCV * W) {
            const float *s = sr + (size_t)r0 * TK;
            float *o = orows + (size_t)r0 * dvw + c0;
            switch (nrows - r0 < 4 ? nrows - r0 : 4) {
            case 1: pv_few_block(s, vfp + c0, dvw, nk, o, alpha + r0, 1); break;
            case 2: pv_few_block(s, vfp + c0, dvw, nk, o, alpha + r0, 2); break;
            case 3: pv_few_block(s, vfp + c0, dvw, nk, o, alpha + r0, 3); break;
            default: pv_few_block(s, vfp + c0, dvw, nk, o, alpha + r0, 4); break;
            }
        }
}

/* Scores of nrows Q rows against nk keys: Sr[r][j] = scale * dot (raw dot when capped). */
static void qk_few(const float *qr, const float *kf, int dp, int nk, float *sr, int nrows)
{
    for (int j = 0; j < nk; j++) {
        const float *k = kf + (size_t)j * dp;
        for (int r = 0; r < nrows; r++) {
            const float *q = qr + (size_t)r * dp;
            vf acc0 = splat(0.0f), acc1 = splat(0.0f);
            int x = 0;
            for (; x + 2 * W <= dp; x += 2 * W) {
                acc0 += vload(q + x) * vload(k + x);
                acc1 += vload(q + x + W) * vload(k + x + W);
            }
            if (x < dp)
                acc0 += vload(q + x) * vload(k + x);
            sr[(size_t)r * TK + j] = vsum(acc0 + acc1);
        }
    }
}

/* --- few rows straight from the cache ---------------------------------------------------
 * The decode path proper (f32/f16/bf16 caches with D and Dv whole vectors): K and V
 * rows are read where they lie and converted on load (vcvtph2ps, a shift for bf16),
 * never copied. Q rows go in groups of 4 (zero rows pad a group), and FK = W / 4 keys
 * at a time, so one step holds W = 4 x FK dot-product accumulators; a transpose-add
 * tree reduces all W at once (lane r * FK + kk = the dot product of row r and key kk)
 * instead of one horizontal sum per (row, key). */
#define FK (W / 4)
#define PF_ROWS 16             /* software prefetch distance in K rows */
#define FRP (FR < 4 ? 4 : FR)  /* Q rows the few-rows layout holds: FR rounded up to a group */

typedef float vfu __attribute__((vector_size(W * 4), aligned(4)));
typedef uint16_t vh __attribute__((vector_size(W * 2), aligned(2)));

/* W elements of a row of storage type dt (a constant where this is inlined) as fp32. */
INLINE vf load_row(int dt, const char *p)
{
    if (dt == AUEGEN_DTYPE_F32)
        return (vf) * (const vfu *)p;
    if (dt == AUEGEN_DTYPE_BF16)
        return (vf)(__builtin_convertvector(*(const vh *)p, vi) << 16);
#if AULE_CPU_W == 16 && defined(__AVX512F__)
    return (vf)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#elif AULE_CPU_W == 8 && defined(__F16C__)
    return (vf)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#else
    vf x;
    const uint16_t *h = (const uint16_t *)p;
    for (int i = 0; i < W; i++)
        x[i] = aule_f16_to_f32(h[i]);
    return x;
#endif
}

/* Lane i of the result = the sum of v[i]'s lanes. */
INLINE vf vsum_w(const vf *v)
{
#if AULE_CPU_W == 16 && defined(__AVX512F__)
    __m512 t1[8], t2[4], t3[2];
    for (int i = 0; i < 8; i++)           /* per 128-bit block: [a0+a2, b0+b2, a1+a3, b1+b3] */
        t1[i] = _mm512_add_ps(_mm512_unpacklo_ps((__m512)v[2 * i], (__m512)v[2 * i + 1]),
                              _mm512_unpackhi_ps((__m512)v[2 * i], (__m512)v[2 * i + 1]));
    for (int i = 0; i < 4; i++) {         /* per block: the partial sums of 4 vectors */
        __m512d a = _mm512_castps_pd(t1[2 * i]), b = _mm512_castps_pd(t1[2 * i + 1]);
        t2[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    for (int i = 0; i < 2; i++)           /* blocks: [v0-3 (0+1), v0-3 (2+3), v4-7 (0+1), v4-7 (2+3)] */
        t3[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t2[2 * i], t2[2 * i + 1], 0x88),
                              _mm512_shuffle_f32x4(t2[2 * i], t2[2 * i + 1], 0xDD));
    return (vf)_mm512_add_ps(_mm512_shuffle_f32x4(t3[0], t3[1], 0x88), _mm512_shuffle_f32x4(t3[0], t3[1], 0xDD));
#elif AULE_CPU_W == 8 && defined(__AVX__)
    __m256 t1[4], t2[2];
    for (int i = 0; i < 4; i++)
        t1[i] = _mm256_add_ps(_mm256_unpacklo_ps((__m256)v[2 * i], (__m256)v[2 * i + 1]),
                              _mm256_unpackhi_ps((__m256)v[2 * i], (__m256)v[2 * i + 1]));
    for (int i = 0; i < 2; i++) {
        __m256 a = t1[2 * i], b = t1[2 * i + 1];
        t2[i] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b))),
                              _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b))));
    }
    return (vf)_mm256_add_ps(_mm256_permute2f128_ps(t2[0], t2[1], 0x20), _mm256_permute2f128_ps(t2[0], t2[1], 0x31));
#else
    vf s;
    for (int i = 0; i < W; i++)
        s[i] = vsum(v[i]);
    return s;
#endif
}

/* Sr[r][j] = dot(Qr[r], K row j) for nk keys (krow: TK row pointers, zero rows past nk),
 * rows in groups of 4. Prefetched meanwhile, through the row pointers (so a paged cache's
 * pages in block-table order): K rows PF_ROWS ahead and this tile's V rows into L1, and the
 * K and V rows of the next tile (knext, vnext: nnext rows) into L2. */
INLINE void qk_direct(int dt, const float *restrict qr, int dp, const char *const *krow, int nk, float *restrict sr,
                      int nrows, const char *const *vrow, int dv, const char *const *knext,
                      const char *const *vnext, int nnext)
{
    const size_t es = dtype_bytes(dt);
    for (int r0 = 0; r0 < nrows; r0 += 4)
        for (int j = 0; j < nk; j += FK) {
            for (int kk = 0; kk < FK && r0 == 0; kk++) {
                int ahead = j + kk + PF_ROWS;
                const char *kp = ahead < nk ? krow[ahead] : ahead - TK >= 0 && ahead - TK < nnext ? knext[ahead - TK] : NULL;
                for (size_t x = 0; kp && x < (size_t)dp * es; x += 64)
                    __builtin_prefetch(kp + x);
                for (size_t x = 0; x < (size_t)dv * es; x += 64)
                    __builtin_prefetch(vrow[j + kk] + x);
                if (j + kk < nnext) {
                    for (size_t x = 0; x < (size_t)dp * es; x += 64)
                        __builtin_prefetch(knext[j + kk] + x, 0, 2);
                    for (size_t x = 0; x < (size_t)dv * es; x += 64)
                        __builtin_prefetch(vnext[j + kk] + x, 0, 2);
                }
            }
            vf acc[W];
#pragma GCC unroll 16
            for (int i = 0; i < W; i++)
                acc[i] = splat(0.0f);
            for (int x = 0; x < dp; x += W) {
                vf k[FK];
#pragma GCC unroll 4
                for (int kk = 0; kk < FK; kk++)
                    k[kk] = load_row(dt, krow[j + kk] + (size_t)x * es);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    vf q = vload(qr + (size_t)(r0 + r) * dp + x);
#pragma GCC unroll 4
                    for (int kk = 0; kk < FK; kk++)
                        acc[r * FK + kk] += q * k[kk];
                }
            }
            vf s = vsum_w(acc);
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                memcpy(sr + (size_t)(r0 + r) * TK + j, (const float *)&s + r * FK, FK * sizeof(float));
        }
}

/* Or[r][c0 + ..] = Or[r][..] * alpha[r] + sum_j Sr[r][j] * V row j, for 4 rows and nv vectors from column c0. */
INLINE void pv_direct_block(int dt, const float *restrict sr, const char *const *vrow, int c0, int nk,
                            float *restrict orow, int ldo, const float *restrict alpha, int nv)
{
    const size_t es = dtype_bytes(dt);
    vf acc[4][FCV];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int cv = 0; cv < nv; cv++)
            acc[r][cv] = vload(orow + (size_t)r * ldo + c0 + cv * W) * alpha[r];
    for (int j = 0; j < nk; j++) {
        vf v[FCV];
#pragma GCC unroll 4
        for (int cv = 0; cv < nv; cv++)
            v[cv] = load_row(dt, vrow[j] + (size_t)(c0 + cv * W) * es);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            vf p = splat(sr[(size_t)r * TK + j]);
#pragma GCC unroll 4
            for (int cv = 0; cv < nv; cv++)
                acc[r][cv] += p * v[cv];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int cv = 0; cv < nv; cv++)
            vstore(orow + (size_t)r * ldo + c0 + cv * W, acc[r][cv]);
}

INLINE void pv_direct(int dt, const float *sr, const char *const *vrow, int dv, int nk, float *orows, int ldo,
                      const float *alpha, int nrows)
{
    for (int r0 = 0; r0 < nrows; r0 += 4)
        for (int c0 = 0; c0 < dv; c0 += FCV * W) {
            const float *s = sr + (size_t)r0 * TK;
            float *o = orows + (size_t)r0 * ldo;
            int nv = (dv - c0) / W < FCV ? (dv - c0) / W : FCV;
            switch (nv) {
            case 1: pv_direct_block(dt, s, vrow, c0, nk, o, ldo, alpha + r0, 1); break;
#if FCV >= 2
            case 2: pv_direct_block(dt, s, vrow, c0, nk, o, ldo, alpha + r0, 2); break;
#endif
#if FCV >= 3
            case 3: pv_direct_block(dt, s, vrow, c0, nk, o, ldo, alpha + r0, 3); break;
#endif
            default: pv_direct_block(dt, s, vrow, c0, nk, o, ldo, alpha + r0, FCV); break;
            }
        }
}

/* The storage types instantiated, so dt is a constant inside. */
static void qk_direct_any(int dt, const float *qr, int dp, const char *const *krow, int nk, float *sr, int nrows,
                          const char *const *vrow, int dv, const char *const *knext,
                          const char *const *vnext, int nnext)
{
    if (dt == AUEGEN_DTYPE_F16)
        qk_direct(AUEGEN_DTYPE_F16, qr, dp, krow, nk, sr, nrows, vrow, dv, knext, vnext, nnext);
    else if (dt == AUEGEN_DTYPE_BF16)
        qk_direct(AUEGEN_DTYPE_BF16, qr, dp, krow, nk, sr, nrows, vrow, dv, knext, vnext, nnext);
    else
        qk_direct(AUEGEN_DTYPE_F32, qr, dp, krow, nk, sr, nrows, vrow, dv, knext, vnext, nnext);
}

static void pv_direct_any(int dt, const float *sr, const char *const *vrow, int dv, int nk, float *orows, int ldo,
                          const float *alpha, int nrows)
{
    if (dt == AUEGEN_DTYPE_F16)
        pv_direct(AUEGEN_DTYPE_F16, sr, vrow, dv, nk, orows, ldo, alpha, nrows);
    else if (dt == AUEGEN_DTYPE_BF16)
        pv_direct(AUEGEN_DTYPE_BF16, sr, vrow, dv, nk, orows, ldo, alpha, nrows);
    else
        pv_direct(AUEGEN_DTYPE_F32, sr, vrow, dv, nk, orows, ldo, alpha, nrows);
}

/* --- one task ---------------------------------------------------------------------------- */

static int dv_padded(const aule__cpu_attn *a)
{
    (void)a;                       /* a constant in a generated kernel */
    return (K_DV(a) + CB - 1) / CB * CB;
}

static size_t scratch_bytes(const aule__cpu_attn *a)
{
    size_t d = (size_t)K_D(a), dvp = (size_t)dv_padded(a);
    size_t floats = d * TR + (size_t)TK * d + (size_t)TK * dvp + (size_t)TK * TR + dvp * TR + 8 * TR + 6 * 16;
    /* The few-rows layout: D and Dv rounded up to whole vectors (FCV of them for Dv). */
    size_t dp = (d + W - 1) / W * W, dvw = ((size_t)K_DV(a) + FCV * W - 1) / (FCV * W) * (FCV * W);
    size_t few = (size_t)FRP * dp + (size_t)TK * dp + (size_t)TK * dvw + (size_t)FRP * TK + (size_t)FRP * dvw + 8 * TR
        + 6 * 16                   /* the per-row statistics (m, l, alpha, lo, hi) come first in both layouts */
        + 4 * (TK + W) * sizeof(void *) / sizeof(float) + 64;      /* K and V row pointers, this tile's and the next's */
    floats = floats > few ? floats : few;
    return floats * sizeof(float) + 64;
}

static float *carve(float **at, size_t n)
{
    float *p = *at;
    *at += (n + 15) / 16 * 16;     /* keep 64-byte alignment */
    return p;
}

/* The element offset of key j's row of sequence b (batch index bt), KV head kvh, in K or V; *page its cache page. */
INLINE int64_t kv_at(const aule__cpu_attn *a, bool is_v, int b, int bt, int kvh, int64_t koff, int64_t j, int64_t *page)
{
    int64_t sb = is_v ? a->v_sb : a->k_sb, sh = is_v ? a->v_sh : a->k_sh, ss = is_v ? a->v_ss : a->k_ss;
    const int ps = K_PAGE(a) > 0 ? K_PAGE(a) : 1;   /* (never a constant division by zero) */
    if (K_PAGE(a) > 0) {
        *page = a->table[(int64_t)b * a->bt_stride + j / ps];
        return (*page * ps + j % ps) * ss + kvh * sh;
    }
    *page = 0;
    return (int64_t)bt * sb + kvh * sh + (koff + j) * ss;
}

/* Row pointers of keys j0 .. j0 + nk - 1 (f32/f16/bf16 storage), then zero rows up to TK + W. */
static void key_rows(const aule__cpu_attn *a, bool is_v, int b, int bt, int kvh, int64_t koff, int64_t j0, int nk,
                     const char **rows)
{
    static const float zero_row[AUEGEN_MAX_HEAD_DIM];
    const char *base = is_v ? a->v : a->k;
    size_t es = dtype_bytes(K_DTYPE(a));
    for (int jj = 0; jj < nk; jj++) {
        int64_t page;
        rows[jj] = base + (size_t)kv_at(a, is_v, b, bt, kvh, koff, j0 + jj, &page) * es;
    }
    for (int jj = nk; jj < TK + W; jj++)
        rows[jj] = (const char *)zero_row;
}

/* Keys j0 .. j0 + nk - 1 of sequence b (batch index bt of the tensors), KV head kvh, as fp32 rows of ld floats (zero-padded to TK rows). */
static void load_keys(const aule__cpu_attn *a, bool is_v, int b, int bt, int kvh, int64_t koff, int64_t j0, int nk,
                      float *dst, int ld)
{
    int dim = is_v ? K_DV(a) : K_D(a);
    const char *base = is_v ? a->v : a->k;
    size_t es = K_KV_INT8(a) ? 1 : dtype_bytes(K_DTYPE(a));
    for (int jj = 0; jj < nk; jj++) {
        int64_t page = 0, at = kv_at(a, is_v, b, bt, kvh, koff, j0 + jj, &page);
        float *row = dst + (size_t)jj * ld;
        if (K_KV_INT8(a)) {
            const float *scale = (is_v ? a->v_scale : a->k_scale) + ((size_t)page * a->kv_heads + kvh) * dim;
            int8_to_f32((const int8_t *)base + at, scale, row, dim);
        } else {
            to_f32(K_DTYPE(a), base + (size_t)at * es, row, dim);
        }
        for (int c = dim; c < ld; c++)
            row[c] = 0.0f;
    }
    if (nk < TK)
        memset(dst + (size_t)nk * ld, 0, (size_t)(TK - nk) * ld * sizeof *dst);
}

static void attend(const aule__cpu_attn *a, int64_t task, void *scratch)
{
    int64_t t = task;
    int kvh = (int)(t % a->kv_heads);
    t /= a->kv_heads;
    int b = (int)(t % a->batch);
    t /= a->batch;
    int split = (int)(t % a->splits);
    t /= a->splits;
    int rt = a->row_tiles - 1 - (int)t;            /* the heaviest (last) row tiles first */

    /* The sequence: lengths and where its rows start. */
    int64_t sq, sk, qoff = 0, koff = 0;
    int bt = b;                                    /* batch index into the tensors */
    if (a->cu_q) {
        qoff = a->cu_q[b];
        sq = a->cu_q[b + 1] - qoff;
        koff = a->cu_k[b];
        sk = a->cu_k[b + 1] - koff;
        bt = 0;
    } else {
        sq = a->seq_q;
        sk = a->seq_lens ? a->seq_lens[b] : a->seq_k;
    }
    const int gqa = K_GQA(a), d = K_D(a), dv = K_DV(a), dvp = dv_padded(a);
    int64_t rows = sq * gqa, r0 = (int64_t)rt * a->tile_rows;
    if (r0 >= rows)
        return;
    int nrows = rows - r0 < a->tile_rows ? (int)(rows - r0) : a->tile_rows;
    int nrv = (nrows + W - 1) / W;

    float *mem = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *m = carve(&mem, TR), *l = carve(&mem, TR), *alpha = carve(&mem, TR);
    int32_t *lo_r = (int32_t *)carve(&mem, TR), *hi_r = (int32_t *)carve(&mem, TR);
    const bool few = nrows <= FR;
    const int dp = (d + W - 1) / W * W, dvw = (dv + FCV * W - 1) / (FCV * W) * (FCV * W);
    float *qt, *kf, *vfp, *st, *ot;
    /* Straight from the cache: f32/f16/bf16 storage with D and Dv whole vectors. */
    const bool direct = few && !K_KV_INT8(a) && d % W == 0 && dv % W == 0;
    const char **krow = NULL, **vrow = NULL, **knext = NULL, **vnext = NULL;
    /* Decode prefetches through the row pointers (qk_direct), so paged caches the same way: K rows PF_ROWS ahead
     * and each tile's V rows into L1, the next tile's K and V rows (knext, vnext) into L2. */
    if (few) {
        qt = carve(&mem, (size_t)FRP * dp);
        kf = carve(&mem, (size_t)TK * dp);
        vfp = carve(&mem, (size_t)TK * dvw);
        st = carve(&mem, (size_t)FRP * TK);
        ot = carve(&mem, (size_t)FRP * dvw);
        krow = (const char **)carve(&mem, (TK + W) * sizeof(void *) / sizeof(float));
        vrow = (const char **)carve(&mem, (TK + W) * sizeof(void *) / sizeof(float));
        knext = (const char **)carve(&mem, (TK + W) * sizeof(void *) / sizeof(float));
        vnext = (const char **)carve(&mem, (TK + W) * sizeof(void *) / sizeof(float));
    } else {
        qt = carve(&mem, (size_t)d * TR);
        kf = carve(&mem, (size_t)TK * d);
        vfp = carve(&mem, (size_t)TK * dvp);
        st = carve(&mem, (size_t)TK * TR);
        ot = carve(&mem, (size_t)dvp * TR);
    }

    /* Q, transposed and pre-scaled; the keys each row sees. */
    const bool cap = K_SOFTCAP(a) > 0.0f;
    size_t qes = dtype_bytes(K_DTYPE(a));
    float qrow[AUEGEN_MAX_HEAD_DIM];
    int64_t lo_any = INT64_MAX, hi_any = -1;
    for (int r = 0; r < TR; r++) {
        lo_r[r] = 1;
        hi_r[r] = 0;
        if (r >= nrows) {
            for (int x = 0; x < d && !few; x++)
                qt[(size_t)x * TR + r] = 0.0f;
            for (int x = 0; x < dp && few && r < FRP; x++)
                qt[(size_t)r * dp + x] = 0.0f;
            continue;
        }
        int64_t g = r0 + r, i = g / gqa, h = (int64_t)kvh * gqa + g % gqa;
        const char *src = (const char *)a->q + (size_t)(bt * a->q_sb + h * a->q_sh + (qoff + i) * a->q_ss) * qes;
        if (few) {
            to_f32(K_DTYPE(a), src, qt + (size_t)r * dp, d);
            for (int x = d; x < dp; x++)
                qt[(size_t)r * dp + x] = 0.0f;
        } else {
            to_f32(K_DTYPE(a), src, qrow, d);
            for (int x = 0; x < d; x++)
                qt[(size_t)x * TR + r] = qrow[x];
        }
        int64_t ip = i + sk - sq, lo = 0, hi = sk - 1;
        if (K_WL(a) >= 0 && ip - K_WL(a) > lo)
            lo = ip - K_WL(a);
        if (K_WR(a) >= 0 && ip + K_WR(a) < hi)
            hi = ip + K_WR(a);
        if (a->splits > 1) {                        /* this split's keys only */
            int64_t s0 = split * a->split_len, s1 = s0 + a->split_len - 1;
            lo = lo > s0 ? lo : s0;
            hi = hi < s1 ? hi : s1;
        }
        if (lo > hi) {
            lo = 1;
            hi = 0;
        }
        lo_r[r] = (int32_t)lo;
        hi_r[r] = (int32_t)hi;
        if (lo <= hi) {
            lo_any = lo < lo_any ? lo : lo_any;
            hi_any = hi > hi_any ? hi : hi_any;
        }
    }
    /* Keys every row sees: [lo_all, hi_all] (the largest lo, the smallest hi). */
    int64_t lo_all = -1, hi_all = INT64_MAX;
    for (int r = 0; r < nrows; r++) {
        if (lo_r[r] > hi_r[r]) {
            hi_all = -1;
            break;
        }
        lo_all = lo_r[r] > lo_all ? lo_r[r] : lo_all;
        hi_all = hi_r[r] < hi_all ? hi_r[r] : hi_all;
    }
    for (int r = 0; r < TR; r += W) {
        vstore(m + r, splat(-INFINITY));
        vstore(l + r, splat(0.0f));
    }
    memset(ot, 0, (few ? (size_t)FRP * dvw : (size_t)dvp * TR) * sizeof *ot);

    for (int64_t j0 = lo_any; few && j0 <= hi_any; j0 += TK) {
        int nk = hi_any - j0 + 1 < TK ? (int)(hi_any - j0 + 1) : TK;
        int nkp = (nk + W - 1) / W * W;
        if (direct) {
            if (j0 == lo_any) {
                key_rows(a, false, b, bt, kvh, koff, j0, nk, krow);
                key_rows(a, true, b, bt, kvh, koff, j0, nk, vrow);
            } else {                                /* the previous step's next tile */
                const char **swap = krow;
                krow = knext, knext = swap;
                swap = vrow, vrow = vnext, vnext = swap;
            }
            int nnext = hi_any - (j0 + TK) + 1 < TK ? (int)(hi_any - (j0 + TK) + 1) : TK;
            if (nnext > 0) {
                key_rows(a, false, b, bt, kvh, koff, j0 + TK, nnext, knext);
                key_rows(a, true, b, bt, kvh, koff, j0 + TK, nnext, vnext);
            }
            qk_direct_any(K_DTYPE(a), qt, dp, krow, nk, st, nrows, vrow, dv, knext, vnext, nnext);
        } else {
            load_keys(a, false, b, bt, kvh, koff, j0, nk, kf, dp);
            qk_few(qt, kf, dp, nk, st, nrows);
        }
        for (int r = 0; r < nrows; r++) {
            float *sr = st + (size_t)r * TK;
            vf mt = splat(-INFINITY);
            vi lo = (vi){0} + lo_r[r], hi = (vi){0} + hi_r[r];
            for (int jj = 0; jj < nkp; jj += W) {
                vf x = vload(sr + jj);
                if (cap) {
                    x = K_SOFTCAP(a) * vtanh(x * (a->scale / K_SOFTCAP(a)));
                } else {
                    x *= a->scale;
                }
                vi j = (vi){0} + (int32_t)(j0 + jj);
                for (int i = 0; i < W; i++)
                    j[i] += i;
                vi ok = (j >= lo) & (j <= hi) & (j < (int32_t)(j0 + nk));
                x = vselect(ok, x, splat(-INFINITY));
                vstore(sr + jj, x);
                mt = vmax(mt, x);
            }
            float mo = m[r], mtile = vhmax(mt), mn = mo > mtile ? mo : mtile;
            float mu = mn == -INFINITY ? 0.0f : mn;
            float al = mo == -INFINITY ? 0.0f : exp2f((mo - mu) * LOG2E);
            vf sum = splat(0.0f), muv = splat(mu);
            for (int jj = 0; jj < nkp; jj += W) {
                vf p = vexp2((vload(sr + jj) - muv) * LOG2E);
                vstore(sr + jj, p);
                sum += p;
            }
            l[r] = l[r] * al + vsum(sum);
            m[r] = mn;
            alpha[r] = al;
        }
        if (direct) {
            for (int r = nrows; r < (nrows + 3) / 4 * 4; r++) {   /* the padding rows of the last group: P = 0 */
                memset(st + (size_t)r * TK, 0, TK * sizeof *st);
                alpha[r] = 0.0f;
            }
            pv_direct_any(K_DTYPE(a), st, vrow, dv, nk, ot, dvw, alpha, nrows);
        } else {
            load_keys(a, true, b, bt, kvh, koff, j0, nk, vfp, dvw);
            pv_few(st, vfp, dvw, nk, ot, alpha, nrows);
        }
    }

    for (int64_t j0 = lo_any; !few && j0 <= hi_any; j0 += TK) {
        int nk = hi_any - j0 + 1 < TK ? (int)(hi_any - j0 + 1) : TK;
        int nkp = (nk + KB - 1) / KB * KB;
        load_keys(a, false, b, bt, kvh, koff, j0, nk, kf, d);
        qk_tile(qt, kf, d, nkp, st, nrv);
        if (cap) {
            vf sc = splat(a->scale / K_SOFTCAP(a));
            for (int jj = 0; jj < nkp; jj++)
                for (int rv = 0; rv < nrv; rv++) {
                    float *s = st + (size_t)jj * TR + rv * W;
                    vstore(s, K_SOFTCAP(a) * vtanh(vload(s) * sc));
                }
        }
        if (!cap) {
            vf sc = splat(a->scale);
            for (int jj = 0; jj < nkp; jj++)
                for (int rv = 0; rv < nrv; rv++) {
                    float *s = st + (size_t)jj * TR + rv * W;
                    vstore(s, vload(s) * sc);
                }
        }
        bool full = j0 >= lo_all && j0 + nkp - 1 <= hi_all;
        if (!full) {
            for (int jj = 0; jj < nkp; jj++) {
                vi jv = (vi){0} + (int32_t)(j0 + jj);
                for (int rv = 0; rv < nrv; rv++) {
                    vi ok = (jv >= *(const vi *)(lo_r + rv * W)) & (jv <= *(const vi *)(hi_r + rv * W));
                    float *s = st + (size_t)jj * TR + rv * W;
                    vstore(s, vselect(ok, vload(s), splat(-INFINITY)));
                }
            }
        }
        /* Online softmax, vertical over the row lanes. */
        for (int rv = 0; rv < nrv; rv++) {
            vf mt = splat(-INFINITY);
            for (int jj = 0; jj < nkp; jj++)
                mt = vmax(mt, vload(st + (size_t)jj * TR + rv * W));
            vf mo = vload(m + rv * W), mn = vmax(mo, mt);
            vf mu = vselect(mn == splat(-INFINITY), splat(0.0f), mn);
            vf al = vexp2((mo - mu) * LOG2E), sum = splat(0.0f);
            for (int jj = 0; jj < nkp; jj++) {
                float *s = st + (size_t)jj * TR + rv * W;
                vf p = vexp2((vload(s) - mu) * LOG2E);
                vstore(s, p);
                sum += p;
            }
            vstore(l + rv * W, vload(l + rv * W) * al + sum);
            vstore(m + rv * W, mn);
            vstore(alpha + rv * W, al);
        }
        load_keys(a, true, b, bt, kvh, koff, j0, nk, vfp, dvp);
        pv_tile(st, vfp, dvp, nk, ot, alpha, nrv);
    }

    /* Outputs: O = Ot / l (0 for a row that sees nothing), LSE in natural log. */
    for (int r = 0; r < nrows; r++) {
        int64_t g = r0 + r, i = g / gqa, h = (int64_t)kvh * gqa + g % gqa;
        float mr = m[r], lr = l[r], mult, lse;
        if (a->splits > 1) {
            int64_t row = ((int64_t)b * a->heads + h) * sq + i;
            float *wo = a->ws + ((size_t)row * a->splits + split) * dv;
            mult = lr > 0.0f ? 1.0f / lr : 0.0f;
            for (int c = 0; c < dv; c++)
                wo[c] = (few ? ot[(size_t)r * dvw + c] : ot[(size_t)c * TR + r]) * mult;
            a->ws[a->ws_lse + row * a->splits + split] = lr > 0.0f ? mr + logf(lr) : -INFINITY;
            continue;
        }
        if (K_SINKS(a)) {                           /* the sink joins the denominator */
            float s2 = K_SINKS(a)[h];
            float mm = mr > s2 ? mr : s2;
            float keep = lr > 0.0f ? expf(mr - mm) : 0.0f;
            float total = lr * keep + expf(s2 - mm);
            mult = keep / total;
            lse = mm + logf(total);
        } else {
            mult = lr > 0.0f ? 1.0f / lr : 0.0f;
            lse = lr > 0.0f ? mr + logf(lr) : -INFINITY;
        }
        int64_t at = bt * a->o_sb + h * a->o_sh + (qoff + i) * a->o_ss;
        for (int c = 0; c < dv; c++)
            store_value(K_DTYPE(a), a->o, at + c, (few ? ot[(size_t)r * dvw + c] : ot[(size_t)c * TR + r]) * mult);
        if (a->lse)
            a->lse[bt * a->lse_sb + h * a->lse_sh + qoff + i] = lse;
    }
}

#ifndef AULE_CPU_SPEC
/* The backward runs on the generic kernels only: generated files specialize the forward. */
#include "cpu_kernel_backward.h"
#endif

const aule__cpu_isa AULE_CPU_ISA = {
    .name = AULE_CPU_ISA_NAME,
    .lanes = W,
    .tile_rows = TR,
    .tile_keys = TK,
    .attend = attend,
    .scratch_bytes = scratch_bytes,
#ifndef AULE_CPU_SPEC
    .bwd_dkdv = bwd_dkdv,
    .bwd_dq = bwd_dq,
    .bwd_scratch_bytes = bwd_scratch_bytes,
#endif
};
