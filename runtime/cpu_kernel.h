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
 */
#include "cpu_internal.h"
#include "aule_reference.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
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

INLINE vf splat(float x) { return (vf){0} + x; }
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

/* --- one task ---------------------------------------------------------------------------- */

static int dv_padded(const aule__cpu_attn *a) { return (a->dv + CB - 1) / CB * CB; }

static size_t scratch_bytes(const aule__cpu_attn *a)
{
    size_t d = (size_t)a->d, dvp = (size_t)dv_padded(a);
    size_t floats = d * TR + (size_t)TK * d + (size_t)TK * dvp + (size_t)TK * TR + dvp * TR + 8 * TR + 6 * 16;
    return floats * sizeof(float) + 64;
}

static float *carve(float **at, size_t n)
{
    float *p = *at;
    *at += (n + 15) / 16 * 16;     /* keep 64-byte alignment */
    return p;
}

/* Keys j0 .. j0 + nk - 1 of sequence b (batch index bt of the tensors), KV head kvh, as fp32 rows of ld floats (zero-padded to TK rows). */
static void load_keys(const aule__cpu_attn *a, bool is_v, int b, int bt, int kvh, int64_t koff, int64_t j0, int nk,
                      float *dst, int ld)
{
    int dim = is_v ? a->dv : a->d;
    const char *base = is_v ? a->v : a->k;
    int64_t sb = is_v ? a->v_sb : a->k_sb, sh = is_v ? a->v_sh : a->k_sh, ss = is_v ? a->v_ss : a->k_ss;
    size_t es = a->kv_int8 ? 1 : dtype_bytes(a->dtype);
    for (int jj = 0; jj < nk; jj++) {
        int64_t j = j0 + jj;
        float *row = dst + (size_t)jj * ld;
        int64_t at;
        int64_t page = 0;
        if (a->page_size > 0) {
            page = a->table[(int64_t)b * a->bt_stride + j / a->page_size];
            at = (page * a->page_size + j % a->page_size) * ss + kvh * sh;
        } else {
            at = (int64_t)bt * sb + kvh * sh + (koff + j) * ss;
        }
        if (a->kv_int8) {
            const float *scale = (is_v ? a->v_scale : a->k_scale) + ((size_t)page * a->kv_heads + kvh) * dim;
            int8_to_f32((const int8_t *)base + at, scale, row, dim);
        } else {
            to_f32(a->dtype, base + (size_t)at * es, row, dim);
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
    const int gqa = a->gqa, d = a->d, dv = a->dv, dvp = dv_padded(a);
    int64_t rows = sq * gqa, r0 = (int64_t)rt * a->tile_rows;
    if (r0 >= rows)
        return;
    int nrows = rows - r0 < a->tile_rows ? (int)(rows - r0) : a->tile_rows;
    int nrv = (nrows + W - 1) / W;

    float *mem = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *qt = carve(&mem, (size_t)d * TR), *kf = carve(&mem, (size_t)TK * d), *vfp = carve(&mem, (size_t)TK * dvp);
    float *st = carve(&mem, (size_t)TK * TR), *ot = carve(&mem, (size_t)dvp * TR);
    float *m = carve(&mem, TR), *l = carve(&mem, TR), *alpha = carve(&mem, TR);
    int32_t *lo_r = (int32_t *)carve(&mem, TR), *hi_r = (int32_t *)carve(&mem, TR);

    /* Q, transposed and pre-scaled; the keys each row sees. */
    const bool cap = a->softcap > 0.0f;
    size_t qes = dtype_bytes(a->dtype);
    float qrow[AUEGEN_MAX_HEAD_DIM];
    int64_t lo_any = INT64_MAX, hi_any = -1;
    for (int r = 0; r < TR; r++) {
        lo_r[r] = 1;
        hi_r[r] = 0;
        if (r >= nrows) {
            for (int x = 0; x < d; x++)
                qt[(size_t)x * TR + r] = 0.0f;
            continue;
        }
        int64_t g = r0 + r, i = g / gqa, h = (int64_t)kvh * gqa + g % gqa;
        const char *src = (const char *)a->q + (size_t)(bt * a->q_sb + h * a->q_sh + (qoff + i) * a->q_ss) * qes;
        to_f32(a->dtype, src, qrow, d);
        for (int x = 0; x < d; x++)
            qt[(size_t)x * TR + r] = qrow[x];
        int64_t ip = i + sk - sq, lo = 0, hi = sk - 1;
        if (a->window_left >= 0 && ip - a->window_left > lo)
            lo = ip - a->window_left;
        if (a->window_right >= 0 && ip + a->window_right < hi)
            hi = ip + a->window_right;
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
    memset(ot, 0, (size_t)dvp * TR * sizeof *ot);

    for (int64_t j0 = lo_any; j0 <= hi_any; j0 += TK) {
        int nk = hi_any - j0 + 1 < TK ? (int)(hi_any - j0 + 1) : TK;
        int nkp = (nk + KB - 1) / KB * KB;
        load_keys(a, false, b, bt, kvh, koff, j0, nk, kf, d);
        qk_tile(qt, kf, d, nkp, st, nrv);
        if (cap) {
            for (int jj = 0; jj < nkp; jj++)
                for (int r = 0; r < nrv * W; r++) {
                    float *s = &st[(size_t)jj * TR + r];
                    *s = a->softcap * tanhf(*s * a->scale / a->softcap);
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
                wo[c] = ot[(size_t)c * TR + r] * mult;
            a->ws[a->ws_lse + row * a->splits + split] = lr > 0.0f ? mr + logf(lr) : -INFINITY;
            continue;
        }
        if (a->sinks) {                             /* the sink joins the denominator */
            float s2 = a->sinks[h];
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
            store_value(a->dtype, a->o, at + c, ot[(size_t)c * TR + r] * mult);
        if (a->lse)
            a->lse[bt * a->lse_sb + h * a->lse_sh + qoff + i] = lse;
    }
}

const aule__cpu_isa AULE_CPU_ISA = {
    .name = AULE_CPU_ISA_NAME,
    .lanes = W,
    .tile_rows = TR,
    .tile_keys = TK,
    .attend = attend,
    .scratch_bytes = scratch_bytes,
};
