/* SPDX-License-Identifier: MIT */
/*
 * reference.c - plain attention on the CPU, in float64 (the reference) and in
 * float32 (the naive same-precision baseline), the f16/bf16 conversions and
 * the error measures of the correctness rule. Layouts and semantics are
 * described in include/aule_reference.h.
 *
 * Both forwards go row by row: for query row i only the contiguous run of
 * visible keys [lo, hi] is scored, into one scratch row of Sk scores, so memory
 * is O(Sk + Dv) whatever Sq is. Scores are summed in head-dim order, four keys
 * at a time for speed; each key's sum is the plain sequential one. The
 * (sequence, head) pairs are shared out to threads; every row is computed the
 * same way whichever thread runs it, so results do not depend on the count.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* sysconf */
#endif

#include "aule_reference.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- problem geometry ----------------------------------------------------------- */

static int head_dim_v(const aule_ref_problem *p) { return p->head_dim_v ? p->head_dim_v : p->head_dim; }

static bool is_varlen(const aule_ref_problem *p) { return p->cu_seqlens_q != NULL; }

/* a * b into *out; false on overflow of size_t. */
static bool mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}

static bool cu_seqlens_ok(const int32_t *cu, int batch)
{
    if (cu[0] < 0)
        return false;
    for (int b = 0; b < batch; b++)
        if (cu[b + 1] < cu[b])
            return false;
    return true;
}

int aule_ref_problem_counts(const aule_ref_problem *p, aule_ref_counts *out)
{
    if (!p || p->batch < 0 || p->heads < 1 || p->kv_heads < 1 || p->heads % p->kv_heads != 0 ||
        p->head_dim < 1 || p->head_dim_v < 0)
        return -1;
    if ((p->cu_seqlens_q == NULL) != (p->cu_seqlens_k == NULL))
        return -1;
    size_t rows_q, rows_k;   /* rows of one head, over the whole batch */
    if (is_varlen(p)) {
        if (!cu_seqlens_ok(p->cu_seqlens_q, p->batch) || !cu_seqlens_ok(p->cu_seqlens_k, p->batch))
            return -1;
        rows_q = (size_t)p->cu_seqlens_q[p->batch];
        rows_k = (size_t)p->cu_seqlens_k[p->batch];
    } else {
        if (p->seq_q < 0 || p->seq_k < 0)
            return -1;
        if (!mul_size((size_t)p->batch, (size_t)p->seq_q, &rows_q) ||
            !mul_size((size_t)p->batch, (size_t)p->seq_k, &rows_k))
            return -1;
    }
    aule_ref_counts c;
    size_t hq, hk;
    if (!mul_size(rows_q, (size_t)p->heads, &hq) || !mul_size(rows_k, (size_t)p->kv_heads, &hk) ||
        !mul_size(hq, (size_t)p->head_dim, &c.q) || !mul_size(hk, (size_t)p->head_dim, &c.k) ||
        !mul_size(hk, (size_t)head_dim_v(p), &c.v) || !mul_size(hq, (size_t)head_dim_v(p), &c.o))
        return -1;
    c.lse = hq;
    if (out)
        *out = c;
    return 0;
}

/* Where sequence b lives: row r of head h is row0 + h * head_rows + r. */
typedef struct seq_view {
    int64_t sq, sk;
    size_t q_row0, k_row0;
    size_t q_head_rows, k_head_rows;
} seq_view;

static seq_view sequence(const aule_ref_problem *p, int b)
{
    seq_view s;
    if (is_varlen(p)) {
        const int32_t *cq = p->cu_seqlens_q, *ck = p->cu_seqlens_k;
        s.sq = cq[b + 1] - cq[b];
        s.sk = ck[b + 1] - ck[b];
        s.q_row0 = (size_t)cq[b];
        s.k_row0 = (size_t)ck[b];
        s.q_head_rows = (size_t)cq[p->batch];
        s.k_head_rows = (size_t)ck[p->batch];
    } else {
        s.sq = p->seq_q;
        s.sk = p->seq_k;
        s.q_row0 = (size_t)b * (size_t)p->heads * (size_t)p->seq_q;
        s.k_row0 = (size_t)b * (size_t)p->kv_heads * (size_t)p->seq_k;
        s.q_head_rows = (size_t)p->seq_q;
        s.k_head_rows = (size_t)p->seq_k;
    }
    return s;
}

static int64_t longest_key_run(const aule_ref_problem *p)
{
    int64_t most = 0;
    for (int b = 0; b < p->batch; b++) {
        int64_t sk = sequence(p, b).sk;
        most = sk > most ? sk : most;
    }
    return most;
}

/* The keys query row i sees: lo..hi. False when it sees none. */
static bool visible_keys(const aule_ref_problem *p, int64_t i, const seq_view *s, int64_t *lo, int64_t *hi)
{
    int64_t ip = i + s->sk - s->sq;   /* bottom-right alignment */
    *lo = 0;
    *hi = s->sk - 1;
    if (p->window_left >= 0 && ip - p->window_left > *lo)
        *lo = ip - p->window_left;
    if (p->window_right >= 0 && ip + p->window_right < *hi)
        *hi = ip + p->window_right;
    return *lo <= *hi;
}

/* --- float64 ------------------------------------------------------------------------ */

/* s[j] = dot(q, k_j) for n keys of d elements, each summed in order 0..d-1
 * (four keys at a time); one definition per element type. */
#define DEFINE_DOTS(name, T)                                                                          \
    static void name(const T *restrict q, const T *restrict k, size_t d, int64_t n, T *restrict s)    \
    {                                                                                                 \
        int64_t j = 0;                                                                                \
        for (; j + 4 <= n; j += 4) {                                                                  \
            const T *k0 = k + (size_t)j * d, *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;                \
            T a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                         \
            for (size_t c = 0; c < d; c++) {                                                          \
                T x = q[c];                                                                           \
                a0 += x * k0[c];                                                                      \
                a1 += x * k1[c];                                                                      \
                a2 += x * k2[c];                                                                      \
                a3 += x * k3[c];                                                                      \
            }                                                                                         \
            s[j] = a0, s[j + 1] = a1, s[j + 2] = a2, s[j + 3] = a3;                                   \
        }                                                                                             \
        for (; j < n; j++) {                                                                          \
            const T *kj = k + (size_t)j * d;                                                          \
            T a = 0;                                                                                  \
            for (size_t c = 0; c < d; c++)                                                            \
                a += q[c] * kj[c];                                                                    \
            s[j] = a;                                                                                 \
        }                                                                                             \
    }

DEFINE_DOTS(dots_f64, double)
DEFINE_DOTS(dots_f32, float)

/* One query row against keys k/v[0..n-1] (already the visible run). */
static void row_f64(const aule_ref_problem *p, const double *q, const double *k, const double *v, int64_t n,
                    double sink, double *restrict s, double *restrict o, double *lse)
{
    size_t d = (size_t)p->head_dim, dv = (size_t)head_dim_v(p);
    dots_f64(q, k, d, n, s);
    double m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double x = p->scale * s[j];
        if (p->softcap > 0)
            x = p->softcap * tanh(x / p->softcap);
        s[j] = x;
        m = x > m ? x : m;
    }
    m = sink > m ? sink : m;
    memset(o, 0, dv * sizeof *o);
    if (m == -INFINITY) {   /* every score -inf: nothing to attend to */
        *lse = -INFINITY;
        return;
    }
    double sum = sink == -INFINITY ? 0.0 : exp(sink - m);
    for (int64_t j = 0; j < n; j++) {
        double e = exp(s[j] - m);
        const double *restrict vj = v + (size_t)j * dv;
        sum += e;
        for (size_t c = 0; c < dv; c++)
            o[c] += e * vj[c];
    }
    for (size_t c = 0; c < dv; c++)
        o[c] /= sum;
    *lse = m + log(sum);
}

/* Every query row of head h of sequence b; s is this worker's scratch row. */
static void unit_f64(const aule_ref_problem *p, const double *q, const double *k, const double *v, double *o,
                     double *lse, int b, int h, double *s)
{
    size_t d = (size_t)p->head_dim, dv = (size_t)head_dim_v(p);
    seq_view sv = sequence(p, b);
    size_t kv_row = sv.k_row0 + (size_t)(h / (p->heads / p->kv_heads)) * sv.k_head_rows;
    for (int64_t i = 0; i < sv.sq; i++) {
        size_t row = sv.q_row0 + (size_t)h * sv.q_head_rows + (size_t)i;
        double sink = p->sinks ? (double)p->sinks[h] : -INFINITY;
        double row_lse = sink;      /* no visible key: only the sink (or nothing) */
        int64_t lo, hi;
        if (visible_keys(p, i, &sv, &lo, &hi))
            row_f64(p, q + row * d, k + (kv_row + (size_t)lo) * d, v + (kv_row + (size_t)lo) * dv, hi - lo + 1, sink,
                    s, o + row * dv, &row_lse);
        else
            memset(o + row * dv, 0, dv * sizeof *o);
        if (lse)
            lse[row] = row_lse;
    }
}

/* --- float32: the naive baseline ------------------------------------------------------ */

/* As row_f64, but the way a framework's eager code does it: P normalized first. */
static void row_f32(const aule_ref_problem *p, const float *q, const float *k, const float *v, int64_t n,
                    float sink, float *restrict s, float *restrict o, float *lse)
{
    size_t d = (size_t)p->head_dim, dv = (size_t)head_dim_v(p);
    float scale = (float)p->scale, cap = (float)p->softcap;
    dots_f32(q, k, d, n, s);
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        float x = scale * s[j];
        if (cap > 0)
            x = cap * tanhf(x / cap);
        s[j] = x;
        m = x > m ? x : m;
    }
    m = sink > m ? sink : m;
    memset(o, 0, dv * sizeof *o);
    if (m == -INFINITY) {
        *lse = -INFINITY;
        return;
    }
    float sum = sink == -INFINITY ? 0.0f : expf(sink - m);
    for (int64_t j = 0; j < n; j++) {
        s[j] = expf(s[j] - m);
        sum += s[j];
    }
    for (int64_t j = 0; j < n; j++) {
        float pj = s[j] / sum;
        if (p->p_dtype)
            pj = aule_round_to_dtype(pj, p->p_dtype);
        const float *restrict vj = v + (size_t)j * dv;
        for (size_t c = 0; c < dv; c++)
            o[c] += pj * vj[c];
    }
    *lse = m + logf(sum);
}

static void unit_f32(const aule_ref_problem *p, const float *q, const float *k, const float *v, float *o,
                     float *lse, int b, int h, float *s)
{
    size_t d = (size_t)p->head_dim, dv = (size_t)head_dim_v(p);
    seq_view sv = sequence(p, b);
    size_t kv_row = sv.k_row0 + (size_t)(h / (p->heads / p->kv_heads)) * sv.k_head_rows;
    for (int64_t i = 0; i < sv.sq; i++) {
        size_t row = sv.q_row0 + (size_t)h * sv.q_head_rows + (size_t)i;
        float sink = p->sinks ? p->sinks[h] : -INFINITY;
        float row_lse = sink;
        int64_t lo, hi;
        if (visible_keys(p, i, &sv, &lo, &hi))
            row_f32(p, q + row * d, k + (kv_row + (size_t)lo) * d, v + (kv_row + (size_t)lo) * dv, hi - lo + 1, sink,
                    s, o + row * dv, &row_lse);
        else
            memset(o + row * dv, 0, dv * sizeof *o);
        if (lse)
            lse[row] = row_lse;
    }
}

/* --- the driver: (sequence, head) units spread over threads ------------------------------ */

enum { MAX_THREADS = 64 };
#define SERIAL_WORK 4e6   /* multiply-adds below which threads cost more than they save */

typedef struct forward_job {
    const aule_ref_problem *p;
    bool f32;
    const void *q, *k, *v;
    void *o, *lse;
    char *scratch;            /* one row of scores per worker */
    size_t scratch_bytes;
    int units;                /* B * H */
    atomic_int next;
} forward_job;

typedef struct worker {
    forward_job *job;
    int index;
} worker;

static void *work(void *arg)
{
    const worker *w = arg;
    forward_job *j = w->job;
    void *s = j->scratch + (size_t)w->index * j->scratch_bytes;
    for (int u; (u = atomic_fetch_add(&j->next, 1)) < j->units;) {
        int b = u / j->p->heads, h = u % j->p->heads;
        if (j->f32)
            unit_f32(j->p, j->q, j->k, j->v, j->o, j->lse, b, h, s);
        else
            unit_f64(j->p, j->q, j->k, j->v, j->o, j->lse, b, h, s);
    }
    return NULL;
}

static int thread_count(const aule_ref_problem *p, int units)
{
    int n = p->threads;
    if (n <= 0) {
        long cpus = 1;
#ifdef _SC_NPROCESSORS_ONLN
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
#endif
        n = cpus > MAX_THREADS ? MAX_THREADS : cpus > 0 ? (int)cpus : 1;
        double madds = 0;
        for (int b = 0; b < p->batch; b++) {
            seq_view sv = sequence(p, b);
            madds += (double)p->heads * (double)sv.sq * (double)sv.sk * (p->head_dim + head_dim_v(p));
        }
        if (madds < SERIAL_WORK)
            n = 1;
    }
    n = n > MAX_THREADS ? MAX_THREADS : n;
    n = n > units ? units : n;
    return n < 1 ? 1 : n;
}

static int forward(forward_job *j)
{
    const aule_ref_problem *p = j->p;
    if (!j->q || !j->k || !j->v || !j->o || aule_ref_problem_counts(p, NULL) != 0)
        return -1;
    if ((int64_t)p->batch * p->heads > INT32_MAX)
        return -1;
    j->units = p->batch * p->heads;
    int n = thread_count(p, j->units);
    j->scratch_bytes = ((size_t)longest_key_run(p) + 1) * (j->f32 ? sizeof(float) : sizeof(double));
    j->scratch = malloc((size_t)n * j->scratch_bytes);
    if (!j->scratch)
        return -1;
    atomic_init(&j->next, 0);
    worker workers[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    int started = 1;   /* worker 0 is this thread; a thread that fails to start leaves its share to the rest */
    for (; started < n; started++) {
        workers[started] = (worker){j, started};
        if (pthread_create(&threads[started], NULL, work, &workers[started]) != 0)
            break;
    }
    workers[0] = (worker){j, 0};
    work(&workers[0]);
    for (int t = 1; t < started; t++)
        pthread_join(threads[t], NULL);
    free(j->scratch);
    return 0;
}

int aule_reference_forward_f64(const aule_ref_problem *p, const double *q, const double *k, const double *v,
                               double *o, double *lse)
{
    forward_job j = {.p = p, .f32 = false, .q = q, .k = k, .v = v, .o = o, .lse = lse};
    return forward(&j);
}

int aule_reference_forward_f32(const aule_ref_problem *p, const float *q, const float *k, const float *v,
                               float *o, float *lse)
{
    forward_job j = {.p = p, .f32 = true, .q = q, .k = k, .v = v, .o = o, .lse = lse};
    return forward(&j);
}

/* --- storage dtypes ----------------------------------------------------------------- */

static uint32_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* keep >> shift, rounded to nearest even on the bits shifted out (1 <= shift <= 31). */
static uint32_t shift_round_even(uint32_t keep, unsigned shift)
{
    uint32_t out = keep >> shift, rest = keep & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (out & 1)))
        out++;
    return out;
}

uint16_t aule_f32_to_f16(float x)
{
    uint32_t u = float_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff, mant = u & 0x7fffff;
    if (exp == 0xff)   /* inf, or NaN kept NaN with the quiet bit set */
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x0200 | (mant >> 13) : 0));
    int e = (int)exp - 127 + 15;   /* the f16 biased exponent */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {   /* subnormal in f16: units of 2^-24 */
        if (e < -10)   /* below half the smallest subnormal */
            return sign;
        return (uint16_t)(sign | shift_round_even(mant | 0x800000, (unsigned)(14 - e)));
    }
    /* A carry out of the mantissa moves into the exponent, up to inf: both correct. */
    return (uint16_t)(sign | shift_round_even(((uint32_t)e << 23) | mant, 13));
}

float aule_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        float x = ldexpf((float)mant, -24);   /* exact */
        return sign ? -x : x;
    }
    if (exp == 31)
        return bits_float(sign | 0x7f800000 | (mant << 13));
    return bits_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t aule_f32_to_bf16(float x)
{
    uint32_t u = float_bits(x);
    if ((u & 0x7fffffff) > 0x7f800000)   /* NaN: truncating could make it inf */
        return (uint16_t)((u >> 16) | 0x0040);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

float aule_bf16_to_f32(uint16_t h) { return bits_float((uint32_t)h << 16); }

float aule_round_to_dtype(float x, int dtype)
{
    switch (dtype) {
    case AUEGEN_DTYPE_DEFAULT:
    case AUEGEN_DTYPE_F16:
        return aule_f16_to_f32(aule_f32_to_f16(x));
    case AUEGEN_DTYPE_BF16:
        return aule_bf16_to_f32(aule_f32_to_bf16(x));
    default:
        return x;
    }
}

void aule_round_array_to_dtype(float *x, size_t n, int dtype)
{
    if (!x || dtype == AUEGEN_DTYPE_F32)
        return;
    for (size_t i = 0; i < n; i++)
        x[i] = aule_round_to_dtype(x[i], dtype);
}

size_t aule_storage_size(int dtype)
{
    switch (dtype) {
    case AUEGEN_DTYPE_F32:
        return 4;
    case AUEGEN_DTYPE_DEFAULT:
    case AUEGEN_DTYPE_F16:
    case AUEGEN_DTYPE_BF16:
        return 2;
    default:
        return 0;
    }
}

void aule_pack_dtype(const float *src, void *dst, size_t n, int dtype)
{
    if (!src || !dst || aule_storage_size(dtype) == 0)
        return;
    if (dtype == AUEGEN_DTYPE_F32) {
        memmove(dst, src, n * sizeof *src);
        return;
    }
    uint16_t *out = dst;
    for (size_t i = 0; i < n; i++)
        out[i] = dtype == AUEGEN_DTYPE_BF16 ? aule_f32_to_bf16(src[i]) : aule_f32_to_f16(src[i]);
}

void aule_unpack_dtype(const void *src, float *dst, size_t n, int dtype)
{
    if (!src || !dst || aule_storage_size(dtype) == 0)
        return;
    if (dtype == AUEGEN_DTYPE_F32) {
        memmove(dst, src, n * sizeof *dst);
        return;
    }
    const uint16_t *in = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = dtype == AUEGEN_DTYPE_BF16 ? aule_bf16_to_f32(in[i]) : aule_f16_to_f32(in[i]);
}

/* --- the correctness rule ----------------------------------------------------------- */

static double diff(double ref, double got)
{
    if (ref == got)   /* also equal infinities */
        return 0;
    if (!isfinite(ref) || !isfinite(got))
        return INFINITY;
    return fabs(ref - got);
}

double aule_max_abs_diff(const double *ref, const float *got, size_t n)
{
    double most = 0;
    for (size_t i = 0; ref && got && i < n; i++) {
        double e = diff(ref[i], got[i]);
        most = e > most ? e : most;
    }
    return most;
}

double aule_max_abs_diff_f64(const double *ref, const double *got, size_t n)
{
    double most = 0;
    for (size_t i = 0; ref && got && i < n; i++) {
        double e = diff(ref[i], got[i]);
        most = e > most ? e : most;
    }
    return most;
}

double aule_max_abs_diff_dtype(const double *ref, const void *got, size_t n, int dtype)
{
    if (dtype == AUEGEN_DTYPE_F32)
        return aule_max_abs_diff(ref, got, n);
    if (aule_storage_size(dtype) != 2)
        return INFINITY;
    const uint16_t *g = got;
    double most = 0;
    for (size_t i = 0; ref && g && i < n; i++) {
        float x = dtype == AUEGEN_DTYPE_BF16 ? aule_bf16_to_f32(g[i]) : aule_f16_to_f32(g[i]);
        double e = diff(ref[i], x);
        most = e > most ? e : most;
    }
    return most;
}

bool aule_error_within_bound(double err_kernel, double err_naive, double *bound)
{
    double b = 2 * err_naive + AULE_ERROR_ATOL;
    if (bound)
        *bound = b;
    return err_kernel <= b;   /* false for NaN */
}

/* --- backward ------------------------------------------------------------------------ */

/* Gradients of L = sum(dO * O) with respect to Q, K and V, one query row at a
 * time in a fixed order (single-threaded, so the sums into dK and dV are
 * deterministic). Per row: P = softmax(S), dP = dO V^T, D = sum(P * dP),
 * dS = P * (dP - D) times the softcap's derivative 1 - (S / cap)^2; then
 * dQ += scale dS K, dK += scale dS^T Q, dV += P^T dO. The f32 version rounds S,
 * P, dP and dS (and the sink's dS) to p_dtype, as a framework's same-precision
 * autograd holds them: FlashAttention's reference computes QK^T, P, dP and dS
 * in fp16/bf16 when it does not upcast. */
#define DEFINE_BACKWARD(NAME, T, EXP, TANH, ROUND_P)                                                          \
    int NAME(const aule_ref_problem *p, const T *q, const T *k, const T *v, const T *dout, T *dq, T *dk, T *dv,     \
             T *dsinks)                                                                                       \
    {                                                                                                         \
        aule_ref_counts n;                                                                                    \
        if (!q || !k || !v || !dout || !dq || !dk || !dv || aule_ref_problem_counts(p, &n) != 0)              \
            return -1;                                                                                        \
        size_t d = (size_t)p->head_dim, dvn = (size_t)head_dim_v(p);                                          \
        int64_t maxk = 1;                                                                                     \
        int nb = p->batch;                                                                                    \
        for (int b = 0; b < nb; b++) {                                                                        \
            seq_view sv = sequence(p, b);                                                                     \
            maxk = sv.sk > maxk ? sv.sk : maxk;                                                               \
        }                                                                                                     \
        T *s = malloc((size_t)maxk * 3 * sizeof *s);                                                          \
        if (!s)                                                                                               \
            return -1;                                                                                        \
        T *pr = s + maxk, *dp = pr + maxk;                                                                    \
        memset(dq, 0, n.q * sizeof *dq);                                                                      \
        memset(dk, 0, n.k * sizeof *dk);                                                                      \
        memset(dv, 0, n.v * sizeof *dv);                                                                      \
        if (dsinks)                                                                                           \
            memset(dsinks, 0, (size_t)p->heads * sizeof *dsinks);                                             \
        const T scale = (T)p->scale, cap = (T)p->softcap;                                                     \
        for (int b = 0; b < nb; b++) {                                                                        \
            seq_view sv = sequence(p, b);                                                                     \
            for (int h = 0; h < p->heads; h++) {                                                              \
                size_t kv_row = sv.k_row0 + (size_t)(h / (p->heads / p->kv_heads)) * sv.k_head_rows;          \
                for (int64_t i = 0; i < sv.sq; i++) {                                                         \
                    size_t row = sv.q_row0 + (size_t)h * sv.q_head_rows + (size_t)i;                          \
                    int64_t lo, hi;                                                                           \
                    if (!visible_keys(p, i, &sv, &lo, &hi))                                                   \
                        continue;                                                                             \
                    const T *qi = q + row * d, *doi = dout + row * dvn;                                       \
                    const T sink = p->sinks ? (T)p->sinks[h] : (T)-INFINITY;                                  \
                    T m = sink;                                                                               \
                    for (int64_t j = lo; j <= hi; j++) {                                                      \
                        const T *kj = k + (kv_row + (size_t)j) * d;                                           \
                        T x = 0;                                                                              \
                        for (size_t c = 0; c < d; c++)                                                        \
                            x += qi[c] * kj[c];                                                               \
                        x *= scale;                                                                           \
                        if (cap > 0)                                                                          \
                            x = cap * TANH(x / cap);                                                          \
                        s[j - lo] = ROUND_P(x);                                                                 \
                        m = x > m ? x : m;                                                                    \
                    }                                                                                         \
                    T sum = p->sinks ? EXP(sink - m) : 0;                                                     \
                    for (int64_t j = lo; j <= hi; j++)                                                        \
                        sum += (pr[j - lo] = EXP(s[j - lo] - m));                                             \
                    T dsum = 0;                                                                               \
                    for (int64_t j = lo; j <= hi; j++) {                                                      \
                        pr[j - lo] = ROUND_P(pr[j - lo] / sum);                                               \
                        const T *vj = v + (kv_row + (size_t)j) * dvn;                                         \
                        T x = 0;                                                                              \
                        for (size_t c = 0; c < dvn; c++)                                                      \
                            x += doi[c] * vj[c];                                                              \
                        dp[j - lo] = ROUND_P(x);                                                               \
                        dsum += pr[j - lo] * dp[j - lo];                                                       \
                    }                                                                                         \
                    if (dsinks && p->sinks)                                                                   \
                        dsinks[h] -= ROUND_P(EXP(sink - m) / sum * dsum);                                     \
                    T *dqi = dq + row * d;                                                                    \
                    for (int64_t j = lo; j <= hi; j++) {                                                      \
                        T ds = pr[j - lo] * (dp[j - lo] - dsum);                                              \
                        if (cap > 0) {                                                                        \
                            T t = s[j - lo] / cap;                                                            \
                            ds *= 1 - t * t;                                                                  \
                        }                                                                                     \
                        ds = ROUND_P(ds) * scale;                                                             \
                        const T *kj = k + (kv_row + (size_t)j) * d;                                           \
                        T *dkj = dk + (kv_row + (size_t)j) * d, *dvj = dv + (kv_row + (size_t)j) * dvn;       \
                        for (size_t c = 0; c < d; c++) {                                                      \
                            dqi[c] += ds * kj[c];                                                             \
                            dkj[c] += ds * qi[c];                                                             \
                        }                                                                                     \
                        for (size_t c = 0; c < dvn; c++)                                                      \
                            dvj[c] += pr[j - lo] * doi[c];                                                    \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        free(s);                                                                                              \
        return 0;                                                                                             \
    }

#define ROUND_NONE(x) (x)
#define ROUND_P_DTYPE(x) (p->p_dtype ? aule_round_to_dtype((x), p->p_dtype) : (x))
DEFINE_BACKWARD(aule_reference_backward_f64, double, exp, tanh, ROUND_NONE)
DEFINE_BACKWARD(aule_reference_backward_f32, float, expf, tanhf, ROUND_P_DTYPE)
