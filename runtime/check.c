/* SPDX-License-Identifier: MIT */
/*
 * check.c - one attention problem end to end: random inputs rounded to the
 * storage dtype, the device kernel, the float64 reference and the fp32 naive
 * baseline on the same inputs, and FlashAttention's rule on O and LSE.
 */
#include "aule_check.h"
#include "aule_reference.h"
#include "check_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t aule__check_next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);   /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double aule__check_uniform(uint64_t *s)
{
    return ((double)(aule__check_next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
}

static float normal(uint64_t *s)
{
    double u = aule__check_uniform(s), v = aule__check_uniform(s);
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
aule_status aule__check_upload(aule_context *ctx, aule_dtype dtype, int b, int h, int s, int d, bool bshd,
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
aule_status aule__check_download(const aule_tensor *t, bool bshd, float *bhsd)
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

/* Attention sinks for a spec that has them: random logits of the scores' size
 * (some rows dominated by the sink, most not), on the host and on the device. */
static aule_status make_sinks(aule_context *ctx, const auegen_spec *spec, int heads, uint64_t *rng, float **host,
                              aule_tensor **dev)
{
    *host = NULL;
    *dev = NULL;
    if (!spec->sinks)
        return AULE_OK;
    *host = malloc((size_t)heads * sizeof **host);
    if (!*host)
        return AULE_ERROR_OUT_OF_MEMORY;
    for (int h = 0; h < heads; h++)
        (*host)[h] = 2.0f * normal(rng);
    aule_tensor_desc sd = {.dtype = AULE_DTYPE_F32, .ndim = 1, .shape = {heads}};
    aule_status st = aule_tensor_create(ctx, &sd, dev);
    if (st == AULE_OK)
        st = aule_tensor_write(*dev, *host, (size_t)heads * sizeof **host);
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
    if (spec.int8)   /* quantized: judged by accuracy instead (aule_check_int8_run) */
        return AULE_ERROR_INVALID_ARGUMENT;
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
            int nq = 1 + (int)(aule__check_next_u64(&rng) % (uint64_t)shape->seq_q);
            int nk = 1 + (int)(aule__check_next_u64(&rng) % (uint64_t)shape->seq_k);
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
    aule_tensor *tq_ = NULL, *tk_ = NULL, *tv_ = NULL, *to_ = NULL, *tl_ = NULL, *tcq = NULL, *tck = NULL, *tsk = NULL;
    float *sinks = NULL;
    if (st == AULE_OK)
        st = make_sinks(ctx, &spec, heads, &rng, &sinks, &tsk);
    prob.sinks = sinks;
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
        st = aule__check_upload(ctx, adt, bt, heads, tq, d, shape->bshd, q.f, &tq_);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, bt, kv_heads, tk, d, shape->bshd, k.f, &tk_);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, bt, kv_heads, tk, dv, shape->bshd, v.f, &tv_);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, bt, heads, tq, dv, shape->bshd, NULL, &to_);
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
                                  .max_seqlen_k = shape->varlen ? lk : 0, .scale = scale, .sinks = tsk};
        double t0 = aule_clock_ms();
        st = aule_attention_forward(ctx, &spec, &args);
        res->run_ms = aule_clock_ms() - t0;
    }
    if (st == AULE_OK)
        st = aule__check_download(to_, shape->bshd, got_o);
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
    aule_tensor_destroy(tsk);
    free(sinks);
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

/* Decode: sequences of their own lengths, the cache written page by page in a
 * shuffled order, against the reference on each sequence's contiguous K/V. */
aule_status aule_check_decode_run(aule_context *ctx, const auegen_spec *spec_in, const aule_check_decode_shape *sh,
                                  aule_check_result *res)
{
    if (!ctx || !spec_in || !sh || !res || !sh->seq_lens)
        return AULE_ERROR_INVALID_ARGUMENT;
    memset(res, 0, sizeof *res);
    auegen_spec spec;
    if (auegen_spec_normalize(spec_in, &spec, NULL) != AUEGEN_OK || spec.kind != AUEGEN_KIND_DECODE)
        return AULE_ERROR_GENERATOR;
    if (sh->batch < 1 || sh->heads < 1 || sh->seq_q < 1 || sh->heads % spec.gqa)
        return AULE_ERROR_INVALID_ARGUMENT;
    int dtype = spec.dtype, d = spec.head_dim, dv = spec.head_dim_v, B = sh->batch, H = sh->heads;
    int hkv = H / spec.gqa, sq = sh->seq_q, page = spec.page_size;
    uint64_t rng = sh->seed * 0x2545f4914f6cdd1dull + 7;
    int max_len = 0;
    int64_t total = 0;
    for (int b = 0; b < B; b++) {
        if (sh->seq_lens[b] < 0)
            return AULE_ERROR_INVALID_ARGUMENT;
        max_len = sh->seq_lens[b] > max_len ? sh->seq_lens[b] : max_len;
        total += sh->seq_lens[b];
    }
    int cap = max_len > 0 ? max_len : 1;
    int max_pages = page ? (cap + page - 1) / page : 0;
    int pages = page ? B * max_pages + 3 : 0;       /* a few pages nobody uses */
    size_t nq = (size_t)B * H * sq * d, no = (size_t)B * H * sq * dv, nl = (size_t)B * H * sq;
    size_t ncache_k = page ? (size_t)pages * page * hkv * d : (size_t)B * hkv * cap * d;
    size_t ncache_v = page ? (size_t)pages * page * hkv * dv : (size_t)B * hkv * cap * dv;
    float *q = malloc(nq * sizeof *q), *ck = calloc(ncache_k, sizeof *ck), *cv = calloc(ncache_v, sizeof *cv);
    float *got_o = malloc(no * sizeof *got_o), *got_l = malloc(nl * sizeof *got_l);
    double *ref_o = malloc(no * sizeof *ref_o), *ref_l = malloc(nl * sizeof *ref_l);
    float *naive_o = malloc(no * sizeof *naive_o), *naive_l = malloc(nl * sizeof *naive_l);
    int32_t *table = calloc((size_t)B * (max_pages ? max_pages : 1), sizeof *table), *lens = malloc((size_t)B * 4);
    int *order = malloc((size_t)(pages ? pages : 1) * sizeof *order);
    aule_status st = AULE_OK;
    if (!q || !ck || !cv || !got_o || !got_l || !ref_o || !ref_l || !naive_o || !naive_l || !table || !lens || !order)
        st = AULE_ERROR_OUT_OF_MEMORY;
    float *sinks = NULL;
    aule_tensor *tsk = NULL;
    if (st == AULE_OK)
        st = make_sinks(ctx, &spec, H, &rng, &sinks, &tsk);
    /* Pages in a shuffled order: sequence b's page p is order[b * max_pages + p]. */
    for (int i = 0; st == AULE_OK && i < pages; i++)
        order[i] = i;
    for (int i = pages - 1; st == AULE_OK && i > 0; i--) {
        int j = (int)(aule__check_next_u64(&rng) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t i = 0; st == AULE_OK && i < nq; i++)
        q[i] = aule_round_to_dtype(normal(&rng), dtype);
    for (int b = 0; st == AULE_OK && b < B; b++) {
        lens[b] = sh->seq_lens[b];
        int len = sh->seq_lens[b];
        /* This sequence's contiguous K/V [Hkv][len][D] for the reference. */
        size_t nk = (size_t)hkv * (len ? len : 1) * d, nvv = (size_t)hkv * (len ? len : 1) * dv;
        float *kf = malloc(nk * sizeof *kf), *vf = malloc(nvv * sizeof *vf);
        double *kd = malloc(nk * sizeof *kd), *vd = malloc(nvv * sizeof *vd), *qd = malloc((size_t)H * sq * d * sizeof *qd);
        if (!kf || !vf || !kd || !vd || !qd)
            st = AULE_ERROR_OUT_OF_MEMORY;
        for (int hh = 0; st == AULE_OK && hh < hkv; hh++)
            for (int j = 0; j < len; j++) {
                size_t slot = page ? (size_t)order[b * max_pages + j / page] * page + (size_t)(j % page) : 0;
                for (int x = 0; x < d; x++) {
                    float val = aule_round_to_dtype(normal(&rng), dtype);
                    kf[((size_t)hh * len + j) * d + x] = val;
                    kd[((size_t)hh * len + j) * d + x] = val;
                    if (page)
                        ck[(slot * hkv + hh) * d + x] = val;
                    else
                        ck[(((size_t)b * hkv + hh) * cap + j) * d + x] = val;
                }
                for (int x = 0; x < dv; x++) {
                    float val = aule_round_to_dtype(normal(&rng), dtype);
                    vf[((size_t)hh * len + j) * dv + x] = val;
                    vd[((size_t)hh * len + j) * dv + x] = val;
                    if (page)
                        cv[(slot * hkv + hh) * dv + x] = val;
                    else
                        cv[(((size_t)b * hkv + hh) * cap + j) * dv + x] = val;
                }
            }
        for (int p2 = 0; page && p2 < max_pages; p2++)
            table[b * max_pages + p2] = order[b * max_pages + p2];
        const float *qb = q + (size_t)b * H * sq * d;
        for (size_t i = 0; st == AULE_OK && i < (size_t)H * sq * d; i++)
            qd[i] = qb[i];
        size_t ob = (size_t)b * H * sq * dv, lb = (size_t)b * H * sq;
        if (st == AULE_OK && len == 0) {
            for (size_t i = 0; i < (size_t)H * sq * dv; i++) {
                ref_o[ob + i] = 0;
                naive_o[ob + i] = 0;
            }
            for (size_t i = 0; i < (size_t)H * sq; i++) {   /* [H][Sq]: only the sink, if any */
                ref_l[lb + i] = sinks ? sinks[i / (size_t)sq] : -INFINITY;
                naive_l[lb + i] = sinks ? sinks[i / (size_t)sq] : -INFINITY;
            }
        } else if (st == AULE_OK) {
            aule_ref_problem prob = {.batch = 1, .heads = H, .kv_heads = hkv, .seq_q = sq, .seq_k = len,
                                     .head_dim = d, .head_dim_v = dv, .window_left = spec.window_left,
                                     .window_right = spec.window_right, .softcap = spec.softcap,
                                     .scale = 1.0f / sqrtf((float)d),   /* what libaule uses for scale = 0 */
                                     .sinks = sinks};
            aule_ref_problem naive = prob;
            naive.p_dtype = dtype == AUEGEN_DTYPE_F32 ? 0 : dtype;
            if (aule_reference_forward_f64(&prob, qd, kd, vd, ref_o + ob, ref_l + lb) != 0
                || aule_reference_forward_f32(&naive, qb, kf, vf, naive_o + ob, naive_l + lb) != 0)
                st = AULE_ERROR_INVALID_ARGUMENT;
        }
        free(kf);
        free(vf);
        free(kd);
        free(vd);
        free(qd);
    }
    if (st == AULE_OK)
        aule_round_array_to_dtype(naive_o, no, dtype);
    (void)total;

    aule_dtype adt = (aule_dtype)dtype;
    aule_tensor *tq = NULL, *tk = NULL, *tv = NULL, *to = NULL, *tl = NULL, *tt = NULL, *ts = NULL;
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, B, H, sq, d, false, q, &tq);
    if (st == AULE_OK) {
        aule_tensor_desc kd = {.dtype = adt, .ndim = 4,
                               .shape = {page ? pages : B, page ? page : hkv, page ? hkv : cap, d}};
        aule_tensor_desc vd2 = kd;
        vd2.shape[3] = dv;
        size_t es = aule_dtype_size(adt);
        void *pk = malloc(ncache_k * es), *pv = malloc(ncache_v * es);
        st = pk && pv ? AULE_OK : AULE_ERROR_OUT_OF_MEMORY;
        if (st == AULE_OK) {
            aule_pack_dtype(ck, pk, ncache_k, dtype);
            aule_pack_dtype(cv, pv, ncache_v, dtype);
            st = aule_tensor_create(ctx, &kd, &tk);
        }
        if (st == AULE_OK)
            st = aule_tensor_create(ctx, &vd2, &tv);
        if (st == AULE_OK)
            st = aule_tensor_write(tk, pk, ncache_k * es);
        if (st == AULE_OK)
            st = aule_tensor_write(tv, pv, ncache_v * es);
        free(pk);
        free(pv);
    }
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, B, H, sq, dv, false, NULL, &to);
    if (st == AULE_OK && sh->lse) {
        aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {B, H, sq}};
        st = aule_tensor_create(ctx, &ld, &tl);
    }
    if (st == AULE_OK) {
        aule_tensor_desc sd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {B}};
        st = aule_tensor_create(ctx, &sd, &ts);
        if (st == AULE_OK)
            st = aule_tensor_write(ts, lens, (size_t)B * 4);
    }
    if (st == AULE_OK && page) {
        aule_tensor_desc bd = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {B, max_pages}};
        st = aule_tensor_create(ctx, &bd, &tt);
        if (st == AULE_OK)
            st = aule_tensor_write(tt, table, (size_t)B * max_pages * 4);
    }
    if (st == AULE_OK)
        st = aule_kernel_prepare(ctx, &spec, &res->kernel);
    if (st == AULE_OK) {
        aule_decode_args args = {.q = tq, .k_cache = tk, .v_cache = tv, .block_table = tt, .seq_lens = ts,
                                 .o = to, .lse = tl, .num_splits = sh->num_splits, .sinks = tsk};
        double t0 = aule_clock_ms();
        st = aule_attention_decode(ctx, &spec, &args);
        res->run_ms = aule_clock_ms() - t0;
    }
    if (st == AULE_OK)
        st = aule__check_download(to, false, got_o);
    if (st == AULE_OK && tl)
        st = aule_tensor_read(tl, got_l, nl * sizeof *got_l);
    if (st == AULE_OK) {
        res->err = aule_max_abs_diff(ref_o, got_o, no);
        res->err_naive = aule_max_abs_diff(ref_o, naive_o, no);
        res->pass = aule_error_within_bound(res->err, res->err_naive, &res->bound);
        if (tl) {
            res->lse_err = aule_max_abs_diff(ref_l, got_l, nl);
            res->lse_err_naive = aule_max_abs_diff(ref_l, naive_l, nl);
            res->pass = aule_error_within_bound(res->lse_err, res->lse_err_naive, &res->lse_bound) && res->pass;
        }
    }
    aule_tensor_destroy(tq);
    aule_tensor_destroy(tk);
    aule_tensor_destroy(tv);
    aule_tensor_destroy(to);
    aule_tensor_destroy(tl);
    aule_tensor_destroy(tt);
    aule_tensor_destroy(ts);
    aule_tensor_destroy(tsk);
    free(sinks);
    free(q);
    free(ck);
    free(cv);
    free(got_o);
    free(got_l);
    free(ref_o);
    free(ref_l);
    free(naive_o);
    free(naive_l);
    free(table);
    free(lens);
    free(order);
    return st;
}

/* Backward: the forward on the device (O and LSE as the backward will get them
 * in training), then dQ, dK, dV against float64 gradients of sum(dO * O) on the
 * same inputs; the naive baseline is the f32 backward with P in the storage
 * dtype. Varlen lengths are 0..seq (empty sequences included). */
aule_status aule_check_backward_run(aule_context *ctx, const auegen_spec *spec_in, const aule_check_shape *shape,
                                    aule_check_grad_result *res)
{
    if (!ctx || !spec_in || !shape || !res)
        return AULE_ERROR_INVALID_ARGUMENT;
    memset(res, 0, sizeof *res);
    auegen_spec spec;
    if (auegen_spec_normalize(spec_in, &spec, NULL) != AUEGEN_OK || !spec.backward)
        return AULE_ERROR_GENERATOR;
    if (shape->batch < 1 || shape->heads < 1 || shape->seq_q < 1 || shape->seq_k < 1 || shape->heads % spec.gqa != 0)
        return AULE_ERROR_INVALID_ARGUMENT;
    int dtype = spec.dtype, d = spec.head_dim, dv = spec.head_dim_v;
    int heads = shape->heads, kv_heads = heads / spec.gqa;
    uint64_t rng = shape->seed * 0x2545f4914f6cdd1dull + 11;
    float scale = shape->scale != 0 ? shape->scale : 1.0f / sqrtf((float)d);
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
            int nq = (int)(aule__check_next_u64(&rng) % (uint64_t)(shape->seq_q + 1));
            int nk = (int)(aule__check_next_u64(&rng) % (uint64_t)(shape->seq_k + 1));
            cu_q[b + 1] = cu_q[b] + nq;
            cu_k[b + 1] = cu_k[b] + nk;
            lq = nq > lq ? nq : lq;
            lk = nk > lk ? nk : lk;
        }
        bt = 1;
        tq = cu_q[shape->batch] ? cu_q[shape->batch] : 1;   /* a tensor needs a row; cu_seqlens say none is used */
        tk = cu_k[shape->batch] ? cu_k[shape->batch] : 1;
    }
    aule_ref_problem prob = {
        .batch = shape->batch, .heads = heads, .kv_heads = kv_heads, .seq_q = shape->seq_q, .seq_k = shape->seq_k,
        .head_dim = d, .head_dim_v = dv, .cu_seqlens_q = cu_q, .cu_seqlens_k = cu_k,
        .window_left = spec.window_left, .window_right = spec.window_right, .softcap = spec.softcap, .scale = scale,
    };
    size_t n[4] = {(size_t)bt * heads * tq * d, (size_t)bt * kv_heads * tk * d, (size_t)bt * kv_heads * tk * dv,
                   (size_t)bt * heads * tq * dv};
    host_tensor q = {0}, k = {0}, v = {0}, go = {0};
    double *ref[4] = {malloc(n[0] * 8), malloc(n[1] * 8), malloc(n[2] * 8), malloc((size_t)heads * 8)};
    float *naive[4] = {malloc(n[0] * 4), malloc(n[1] * 4), malloc(n[2] * 4), malloc((size_t)heads * 4)};
    float *got[4] = {malloc(n[0] * 4), malloc(n[1] * 4), malloc(n[2] * 4), malloc((size_t)heads * 4)};
    aule_status st = AULE_OK;
    float *sinks = NULL;
    aule_tensor *tsk = NULL, *tdsk = NULL;
    if (spec.sinks) {
        st = make_sinks(ctx, &spec, heads, &rng, &sinks, &tsk);
        aule_tensor_desc sd = {.dtype = AULE_DTYPE_F32, .ndim = 1, .shape = {heads}};
        if (st == AULE_OK)
            st = aule_tensor_create(ctx, &sd, &tdsk);
    }
    prob.sinks = sinks;
    if (!host_alloc(&q, n[0]) || !host_alloc(&k, n[1]) || !host_alloc(&v, n[2]) || !host_alloc(&go, n[3]))
        st = AULE_ERROR_OUT_OF_MEMORY;
    for (int i = 0; i < 4; i++)
        if (!ref[i] || !naive[i] || !got[i])
            st = AULE_ERROR_OUT_OF_MEMORY;
    if (st == AULE_OK) {
        host_random(&q, &rng, dtype);
        host_random(&k, &rng, dtype);
        host_random(&v, &rng, dtype);
        host_random(&go, &rng, dtype);
        aule_ref_problem np = prob;
        np.p_dtype = dtype == AUEGEN_DTYPE_F32 ? 0 : dtype;
        if (aule_reference_backward_f64(&prob, q.d, k.d, v.d, go.d, ref[0], ref[1], ref[2], ref[3]) != 0
            || aule_reference_backward_f32(&np, q.f, k.f, v.f, go.f, naive[0], naive[1], naive[2], naive[3]) != 0)
            st = AULE_ERROR_INVALID_ARGUMENT;
        for (int i = 0; i < 3; i++)
            aule_round_array_to_dtype(naive[i], n[i], dtype);
    }
    aule_dtype adt = (aule_dtype)dtype;
    aule_tensor *t[10] = {0};   /* q k v o dout lse dq dk dv, cu_q/cu_k below */
    aule_tensor *tcq = NULL, *tck = NULL;
    const int hs[4] = {heads, kv_heads, kv_heads, heads}, ss[4] = {tq, tk, tk, tq}, ds[4] = {d, d, dv, dv};
    const float *src[4] = {q.f, k.f, v.f, go.f};
    for (int i = 0; i < 4 && st == AULE_OK; i++)
        st = aule__check_upload(ctx, adt, bt, hs[i], ss[i], ds[i], shape->bshd, src[i], &t[i == 3 ? 4 : i]);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, bt, heads, tq, dv, shape->bshd, NULL, &t[3]);                 /* O */
    if (st == AULE_OK) {
        aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {bt, heads, tq}};
        st = aule_tensor_create(ctx, &ld, &t[5]);
    }
    /* dQ, dK, dV start as zeros: with every varlen sequence empty, the one row a
     * tensor must have belongs to no sequence and is never written. */
    for (int i = 0; i < 3 && st == AULE_OK; i++) {
        float *zeros = calloc(n[i] ? n[i] : 1, sizeof *zeros);
        st = zeros ? aule__check_upload(ctx, adt, bt, hs[i], ss[i], ds[i], shape->bshd, zeros, &t[6 + i]) : AULE_ERROR_OUT_OF_MEMORY;
        free(zeros);
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
        aule_forward_args fa = {.q = t[0], .k = t[1], .v = t[2], .o = t[3], .lse = t[5], .cu_seqlens_q = tcq,
                                .cu_seqlens_k = tck, .max_seqlen_q = shape->varlen ? lq : 0,
                                .max_seqlen_k = shape->varlen ? lk : 0, .scale = scale, .sinks = tsk};
        st = aule_attention_forward(ctx, &spec, &fa);
    }
    if (st == AULE_OK) {
        aule_backward_args ba = {.q = t[0], .k = t[1], .v = t[2], .o = t[3], .dout = t[4], .lse = t[5], .dq = t[6],
                                 .dk = t[7], .dv = t[8], .cu_seqlens_q = tcq, .cu_seqlens_k = tck,
                                 .max_seqlen_q = shape->varlen ? lq : 0, .max_seqlen_k = shape->varlen ? lk : 0,
                                 .scale = scale, .sinks = tsk, .dsinks = tdsk};
        double t0 = aule_clock_ms();
        st = aule_attention_backward(ctx, &spec, &ba);
        res->run_ms = aule_clock_ms() - t0;
    }
    if (st == AULE_OK)
        st = aule_kernel_prepare_part(ctx, &spec, "bwd_dkdv", &res->dkdv);
    if (st == AULE_OK)
        st = aule_kernel_prepare_part(ctx, &spec, "bwd_dq", &res->dq);
    for (int i = 0; i < 3 && st == AULE_OK; i++)
        st = aule__check_download(t[6 + i], shape->bshd, got[i]);
    if (st == AULE_OK && tdsk)
        st = aule_tensor_read(tdsk, got[3], (size_t)heads * sizeof(float));
    if (st == AULE_OK) {
        res->pass = true;
        for (int i = 0; i < (tdsk ? 4 : 3); i++) {
            size_t count = i == 3 ? (size_t)heads : n[i];
            res->err[i] = aule_max_abs_diff(ref[i], got[i], count);
            res->err_naive[i] = aule_max_abs_diff(ref[i], naive[i], count);
            res->bound[i] = 3.0 * res->err_naive[i] + AULE_GRAD_ATOL;
            res->pass = res->pass && res->err[i] <= res->bound[i];
        }
    }
    for (int i = 0; i < 9; i++)
        aule_tensor_destroy(t[i]);
    aule_tensor_destroy(tcq);
    aule_tensor_destroy(tck);
    aule_tensor_destroy(tsk);
    aule_tensor_destroy(tdsk);
    free(sinks);
    host_free(&q);
    host_free(&k);
    host_free(&v);
    host_free(&go);
    for (int i = 0; i < 4; i++) {
        free(ref[i]);
        free(naive[i]);
        free(got[i]);
    }
    free(cu_q);
    free(cu_k);
    return st;
}
