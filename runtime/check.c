/*
 * check.c - one attention problem end to end: random inputs rounded to the
 * storage dtype, the device kernel, the float64 reference and the fp32 naive
 * baseline on the same inputs, and FlashAttention's rule on O and LSE.
 */
#include "aule_check.h"
#include "aule_reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);   /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0; }

static float normal(uint64_t *s)
{
    double u = uniform(s), v = uniform(s);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

typedef struct host_tensor {
    float *f;          /* values as stored (rounded to the dtype), [B][H][S][D] order */
    double *d;         /* the same values as doubles */
    size_t n;
} host_tensor;

static bool host_alloc(host_tensor *t, size_t n)
{
    t->n = n;
    t->f = calloc(n ? n : 1, sizeof *t->f);
    t->d = calloc(n ? n : 1, sizeof *t->d);
    return t->f && t->d;
}

static void host_free(host_tensor *t)
{
    free(t->f);
    free(t->d);
}

static void host_random(host_tensor *t, uint64_t *rng, int dtype)
{
    for (size_t i = 0; i < t->n; i++) {
        t->f[i] = aule_round_to_dtype(normal(rng), dtype);
        t->d[i] = t->f[i];
    }
}

/* Device tensor [b][h][s][d] (logical), stored BHSD or BSHD. */
static aule_status upload(aule_context *ctx, aule_dtype dtype, int b, int h, int s, int d, bool bshd,
                          const float *bhsd, aule_tensor **out)
{
    aule_tensor_desc desc = {.dtype = dtype, .ndim = 4, .shape = {b, h, s, d}};
    if (bshd) {
        desc.strides[0] = (int64_t)s * h * d;
        desc.strides[1] = d;
        desc.strides[2] = (int64_t)h * d;
        desc.strides[3] = 1;
    }
    aule_status st = aule_tensor_create(ctx, &desc, out);
    if (st != AULE_OK || !bhsd)
        return st;
    size_t n = (size_t)b * h * s * d, es = aule_dtype_size(dtype);
    float *phys = malloc(n * sizeof *phys);
    void *packed = malloc(n * es);
    if (!phys || !packed) {
        free(phys);
        free(packed);
        return AULE_ERROR_OUT_OF_MEMORY;
    }
    for (int ib = 0; ib < b; ib++)
        for (int ih = 0; ih < h; ih++)
            for (int is = 0; is < s; is++) {
                size_t src = (((size_t)ib * h + ih) * s + is) * d;
                size_t dst = bshd ? (((size_t)ib * s + is) * h + ih) * d : src;
                memcpy(phys + dst, bhsd + src, (size_t)d * sizeof *phys);
            }
    aule_pack_dtype(phys, packed, n, (int)dtype);
    st = aule_tensor_write(*out, packed, n * es);
    free(phys);
    free(packed);
    return st;
}

/* Reads a device tensor back into BHSD floats. */
static aule_status download(const aule_tensor *t, bool bshd, float *bhsd)
{
    const aule_tensor_desc *d = aule_tensor_get_desc(t);
    int b = (int)d->shape[0], h = (int)d->shape[1], s = (int)d->shape[2], dd = (int)d->shape[3];
    size_t n = (size_t)b * h * s * dd, es = aule_dtype_size(d->dtype);
    void *packed = malloc(n * es);
    float *phys = malloc(n * sizeof *phys);
    if (!packed || !phys) {
        free(packed);
        free(phys);
        return AULE_ERROR_OUT_OF_MEMORY;
    }
    aule_status st = aule_tensor_read(t, packed, n * es);
    if (st == AULE_OK) {
        aule_unpack_dtype(packed, phys, n, (int)d->dtype);
        for (int ib = 0; ib < b; ib++)
            for (int ih = 0; ih < h; ih++)
                for (int is = 0; is < s; is++) {
                    size_t dst = (((size_t)ib * h + ih) * s + is) * dd;
                    size_t src = bshd ? (((size_t)ib * s + is) * h + ih) * dd : dst;
                    memcpy(bhsd + dst, phys + src, (size_t)dd * sizeof *phys);
                }
    }
    free(packed);
    free(phys);
    return st;
}

aule_status aule_check_run(aule_context *ctx, const auegen_spec *spec_in, const aule_check_shape *shape,
                           aule_check_result *res)
{
    if (!ctx || !spec_in || !shape || !res)
        return AULE_ERROR_INVALID_ARGUMENT;
    memset(res, 0, sizeof *res);
    auegen_spec spec;
    if (auegen_spec_normalize(spec_in, &spec, NULL) != AUEGEN_OK)
        return AULE_ERROR_GENERATOR;
    if (shape->batch < 1 || shape->heads < 1 || shape->seq_q < 1 || shape->seq_k < 1
        || shape->heads % spec.gqa != 0)
        return AULE_ERROR_INVALID_ARGUMENT;
    int dtype = spec.dtype, d = spec.head_dim, dv = spec.head_dim_v;
    int heads = shape->heads, kv_heads = heads / spec.gqa;
    uint64_t rng = shape->seed * 0x2545f4914f6cdd1dull + 1;
    float scale = shape->scale != 0 ? shape->scale : 1.0f / sqrtf((float)d);

    /* Varlen: random lengths, packed into a batch of one. */
    int32_t *cu_q = NULL, *cu_k = NULL;
    int bt = shape->batch, tq = shape->seq_q, tk = shape->seq_k, lq = shape->seq_q, lk = shape->seq_k;
    if (shape->varlen) {
        cu_q = calloc((size_t)shape->batch + 1, sizeof *cu_q);
        cu_k = calloc((size_t)shape->batch + 1, sizeof *cu_k);
        if (!cu_q || !cu_k) {
            free(cu_q);
            free(cu_k);
            return AULE_ERROR_OUT_OF_MEMORY;
        }
        lq = lk = 0;
        for (int b = 0; b < shape->batch; b++) {
            int nq = 1 + (int)(next_u64(&rng) % (uint64_t)shape->seq_q);
            int nk = 1 + (int)(next_u64(&rng) % (uint64_t)shape->seq_k);
            cu_q[b + 1] = cu_q[b] + nq;
            cu_k[b + 1] = cu_k[b] + nk;
            lq = nq > lq ? nq : lq;
            lk = nk > lk ? nk : lk;
        }
        bt = 1;
        tq = cu_q[shape->batch];
        tk = cu_k[shape->batch];
    }
    aule_ref_problem prob = {
        .batch = shape->batch, .heads = heads, .kv_heads = kv_heads, .seq_q = shape->seq_q, .seq_k = shape->seq_k,
        .head_dim = d, .head_dim_v = dv, .cu_seqlens_q = cu_q, .cu_seqlens_k = cu_k,
        .window_left = spec.window_left, .window_right = spec.window_right, .softcap = spec.softcap,
        .scale = scale,
    };
    size_t nq = (size_t)bt * heads * tq * d, nk = (size_t)bt * kv_heads * tk * d;
    size_t nv = (size_t)bt * kv_heads * tk * dv, no = (size_t)bt * heads * tq * dv, nl = (size_t)bt * heads * tq;
    host_tensor q = {0}, k = {0}, v = {0};
    double *ref_o = malloc(no * sizeof *ref_o), *ref_l = malloc(nl * sizeof *ref_l);
    float *naive_o = malloc(no * sizeof *naive_o), *naive_l = malloc(nl * sizeof *naive_l);
    float *got_o = malloc(no * sizeof *got_o), *got_l = malloc(nl * sizeof *got_l);
    aule_status st = AULE_OK;
    if (!host_alloc(&q, nq) || !host_alloc(&k, nk) || !host_alloc(&v, nv) || !ref_o || !ref_l || !naive_o
        || !naive_l || !got_o || !got_l)
        st = AULE_ERROR_OUT_OF_MEMORY;
    aule_tensor *tq_ = NULL, *tk_ = NULL, *tv_ = NULL, *to_ = NULL, *tl_ = NULL, *tcq = NULL, *tck = NULL;
    if (st == AULE_OK) {
        host_random(&q, &rng, dtype);
        host_random(&k, &rng, dtype);
        host_random(&v, &rng, dtype);
        /* The naive baseline holds P in the storage dtype for P.V, as a same-precision
         * implementation does (FlashAttention's reference multiplies P in fp16/bf16):
         * docs/architecture.md, "The correctness rule". */
        aule_ref_problem naive = prob;
        naive.p_dtype = dtype == AUEGEN_DTYPE_F32 ? 0 : dtype;
        if (aule_reference_forward_f64(&prob, q.d, k.d, v.d, ref_o, ref_l) != 0
            || aule_reference_forward_f32(&naive, q.f, k.f, v.f, naive_o, naive_l) != 0)
            st = AULE_ERROR_INVALID_ARGUMENT;
        aule_round_array_to_dtype(naive_o, no, dtype);
    }
    aule_dtype adt = (aule_dtype)dtype;
    if (st == AULE_OK)
        st = upload(ctx, adt, bt, heads, tq, d, shape->bshd, q.f, &tq_);
    if (st == AULE_OK)
        st = upload(ctx, adt, bt, kv_heads, tk, d, shape->bshd, k.f, &tk_);
    if (st == AULE_OK)
        st = upload(ctx, adt, bt, kv_heads, tk, dv, shape->bshd, v.f, &tv_);
    if (st == AULE_OK)
        st = upload(ctx, adt, bt, heads, tq, dv, shape->bshd, NULL, &to_);
    if (st == AULE_OK && shape->lse) {
        aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {bt, heads, tq}};
        st = aule_tensor_create(ctx, &ld, &tl_);
    }
    if (st == AULE_OK && shape->varlen) {
        aule_tensor_desc cd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {shape->batch + 1}};
        st = aule_tensor_create(ctx, &cd, &tcq);
        if (st == AULE_OK)
            st = aule_tensor_create(ctx, &cd, &tck);
        if (st == AULE_OK)
            st = aule_tensor_write(tcq, cu_q, (size_t)(shape->batch + 1) * sizeof *cu_q);
        if (st == AULE_OK)
            st = aule_tensor_write(tck, cu_k, (size_t)(shape->batch + 1) * sizeof *cu_k);
    }
    if (st == AULE_OK)
        st = aule_kernel_prepare(ctx, &spec, &res->kernel);
    if (st == AULE_OK) {
        aule_forward_args args = {.q = tq_, .k = tk_, .v = tv_, .o = to_, .lse = tl_, .cu_seqlens_q = tcq,
                                  .cu_seqlens_k = tck, .max_seqlen_q = shape->varlen ? lq : 0,
                                  .max_seqlen_k = shape->varlen ? lk : 0, .scale = scale};
        double t0 = aule_clock_ms();
        st = aule_attention_forward(ctx, &spec, &args);
        res->run_ms = aule_clock_ms() - t0;
    }
    if (st == AULE_OK)
        st = download(to_, shape->bshd, got_o);
    if (st == AULE_OK && tl_)
        st = aule_tensor_read(tl_, got_l, nl * sizeof *got_l);
    if (st == AULE_OK) {
        res->err = aule_max_abs_diff(ref_o, got_o, no);
        res->err_naive = aule_max_abs_diff(ref_o, naive_o, no);
        res->pass = aule_error_within_bound(res->err, res->err_naive, &res->bound);
        if (tl_) {
            res->lse_err = aule_max_abs_diff(ref_l, got_l, nl);
            res->lse_err_naive = aule_max_abs_diff(ref_l, naive_l, nl);
            res->pass = aule_error_within_bound(res->lse_err, res->lse_err_naive, &res->lse_bound) && res->pass;
        }
    }
    aule_tensor_destroy(tq_);
    aule_tensor_destroy(tk_);
    aule_tensor_destroy(tv_);
    aule_tensor_destroy(to_);
    aule_tensor_destroy(tl_);
    aule_tensor_destroy(tcq);
    aule_tensor_destroy(tck);
    host_free(&q);
    host_free(&k);
    host_free(&v);
    free(ref_o);
    free(ref_l);
    free(naive_o);
    free(naive_l);
    free(got_o);
    free(got_l);
    free(cu_q);
    free(cu_k);
    return st;
}
