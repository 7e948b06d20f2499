/* SPDX-License-Identifier: MIT */
/*
 * check_int8.c - one INT8 attention problem end to end: inputs of one of the
 * accuracy gate's families (Gaussian, outlier channels in K, a large mean in K)
 * rounded to the storage dtype, the device's INT8 kernels (K quantized by the
 * call, or first by aule_int8_quantize_k), the float64 reference on the same
 * unquantized inputs, and the accuracy figures (aule_check.h).
 */
#include "aule_check.h"
#include "aule_reference.h"
#include "check_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double normal(uint64_t *s)
{
    double u = aule__check_uniform(s), v = aule__check_uniform(s);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

const char *aule_int8_inputs_name(aule_int8_inputs inputs)
{
    switch (inputs) {
    case AULE_INT8_GAUSSIAN: return "gaussian";
    case AULE_INT8_OUTLIER_CHANNELS: return "outlier-channels";
    case AULE_INT8_MEAN_OFFSET: return "mean-offset";
    default: return "?";
    }
}

/* K [Hkv*B][S][D] of a family: N(0,1), times 10-20 on four channels, or plus a
 * mean per (batch, KV head) and channel. */
static void make_k(float *k, int bh, int s, int d, aule_int8_inputs inputs, uint64_t *rng)
{
    for (int h = 0; h < bh; h++) {
        double wide[4] = {0}, mean[256] = {0};
        int chan[4] = {1 % d, (d / 3) % d, (d / 2 + 1) % d, (d - 2 + d) % d};
        for (int i = 0; i < 4; i++)
            wide[i] = 10.0 + 10.0 * aule__check_uniform(rng);
        for (int c = 0; c < d; c++)
            mean[c] = inputs == AULE_INT8_MEAN_OFFSET ? 8.0 * normal(rng) : 0.0;
        for (int j = 0; j < s; j++)
            for (int c = 0; c < d; c++) {
                double x = normal(rng) + mean[c];
                for (int i = 0; i < 4 && inputs == AULE_INT8_OUTLIER_CHANNELS; i++)
                    if (c == chan[i])
                        x *= wide[i];
                k[((size_t)h * s + j) * d + c] = (float)x;
            }
    }
}

/* The figures of aule_check_int8_result from O (rows of dv) and LSE. */
static void measure(const double *ref_o, const float *got_o, size_t rows, int dv, const double *ref_l,
                    const float *got_l, aule_check_int8_result *r)
{
    double diff = 0, mass = 0;
    r->worst_cosine = 1.0;
    for (size_t i = 0; i < rows; i++) {
        double dot = 0, nr = 0, ng = 0;
        for (int c = 0; c < dv; c++) {
            double a = ref_o[i * dv + c], g = got_o[i * dv + c];
            dot += a * g;
            nr += a * a;
            ng += g * g;
            diff += fabs(a - g);
            mass += fabs(a);
            r->max_err = fmax(r->max_err, fabs(a - g));
        }
        double cosine = nr == 0 && ng == 0 ? 1.0 : nr == 0 || ng == 0 ? 0.0 : dot / sqrt(nr * ng);
        if (!(cosine >= r->worst_cosine))
            r->worst_cosine = cosine;      /* NaN too */
        if (got_l) {
            double e = isinf(ref_l[i]) && isinf(got_l[i]) && ref_l[i] < 0 && got_l[i] < 0 ? 0.0 : fabs(ref_l[i] - got_l[i]);
            if (!(e <= r->lse_err))
                r->lse_err = isnan(e) ? INFINITY : e;
        }
    }
    r->rel_l1 = mass > 0 ? diff / mass : diff;
}

aule_status aule_check_int8_run(aule_context *ctx, const auegen_spec *spec_in, const aule_check_int8_shape *shape,
                                aule_check_int8_result *res)
{
    if (!ctx || !spec_in || !shape || !res)
        return AULE_ERROR_INVALID_ARGUMENT;
    memset(res, 0, sizeof *res);
    auegen_spec spec;
    if (auegen_spec_normalize(spec_in, &spec, NULL) != AUEGEN_OK || !spec.int8)
        return AULE_ERROR_INVALID_ARGUMENT;
    const aule_check_shape *sh = &shape->shape;
    if (sh->batch < 1 || sh->heads < 1 || sh->seq_q < 1 || sh->seq_k < 1 || sh->heads % spec.gqa != 0 || sh->varlen
        || shape->inputs < 0 || shape->inputs >= AULE_INT8_INPUT_COUNT)
        return AULE_ERROR_INVALID_ARGUMENT;
    int dtype = spec.dtype, d = spec.head_dim, dv = spec.head_dim_v, b = sh->batch;
    int heads = sh->heads, kv_heads = heads / spec.gqa, sq = sh->seq_q, sk = sh->seq_k;
    uint64_t rng = sh->seed * 0x2545f4914f6cdd1dull + 7;
    float scale = sh->scale != 0 ? sh->scale : 1.0f / sqrtf((float)d);
    aule_ref_problem prob = {.batch = b, .heads = heads, .kv_heads = kv_heads, .seq_q = sq, .seq_k = sk,
                             .head_dim = d, .head_dim_v = dv, .window_left = spec.window_left,
                             .window_right = spec.window_right, .scale = scale};
    size_t nq = (size_t)b * heads * sq * d, nk = (size_t)b * kv_heads * sk * d, nv = (size_t)b * kv_heads * sk * dv;
    size_t no = (size_t)b * heads * sq * dv, nl = (size_t)b * heads * sq;
    float *q = malloc(nq * sizeof *q), *k = malloc(nk * sizeof *k), *v = malloc(nv * sizeof *v);
    double *qd = malloc(nq * sizeof *qd), *kd = malloc(nk * sizeof *kd), *vd = malloc(nv * sizeof *vd);
    double *ref_o = malloc(no * sizeof *ref_o), *ref_l = malloc(nl * sizeof *ref_l);
    float *got_o = malloc(no * sizeof *got_o), *got_l = malloc(nl * sizeof *got_l);
    aule_status st = AULE_OK;
    if (!q || !k || !v || !qd || !kd || !vd || !ref_o || !ref_l || !got_o || !got_l)
        st = AULE_ERROR_OUT_OF_MEMORY;
    if (st == AULE_OK) {
        for (size_t i = 0; i < nq; i++)
            q[i] = (float)normal(&rng);
        make_k(k, b * kv_heads, sk, d, shape->inputs, &rng);
        for (size_t i = 0; i < nv; i++)
            v[i] = (float)normal(&rng);
        aule_round_array_to_dtype(q, nq, dtype);
        aule_round_array_to_dtype(k, nk, dtype);
        aule_round_array_to_dtype(v, nv, dtype);
        for (size_t i = 0; i < nq; i++)
            qd[i] = q[i];
        for (size_t i = 0; i < nk; i++)
            kd[i] = k[i];
        for (size_t i = 0; i < nv; i++)
            vd[i] = v[i];
        if (aule_reference_forward_f64(&prob, qd, kd, vd, ref_o, ref_l) != 0)
            st = AULE_ERROR_INVALID_ARGUMENT;
    }
    aule_dtype adt = (aule_dtype)dtype;
    aule_tensor *tq = NULL, *tk = NULL, *tv = NULL, *to = NULL, *tl = NULL, *k8 = NULL, *ks = NULL, *km = NULL;
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, b, heads, sq, d, sh->bshd, q, &tq);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, b, kv_heads, sk, d, sh->bshd, k, &tk);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, b, kv_heads, sk, dv, sh->bshd, v, &tv);
    if (st == AULE_OK)
        st = aule__check_upload(ctx, adt, b, heads, sq, dv, sh->bshd, NULL, &to);
    if (st == AULE_OK && sh->lse) {
        aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {b, heads, sq}};
        st = aule_tensor_create(ctx, &ld, &tl);
    }
    if (st == AULE_OK)
        st = aule_kernel_prepare(ctx, &spec, &res->kernel);
    aule_int8_k quantized = {0};
    aule_int8_args i8 = {.no_smoothing = shape->no_smoothing};
    if (st == AULE_OK && shape->quantize_k_first) {
        aule_tensor_desc d8, ds, dm;
        st = aule_int8_k_descs(ctx, &spec, b, kv_heads, sk, &d8, &ds, &dm);
        if (st == AULE_OK)
            st = aule_tensor_create(ctx, &d8, &k8);
        if (st == AULE_OK)
            st = aule_tensor_create(ctx, &ds, &ks);
        if (st == AULE_OK)
            st = aule_tensor_create(ctx, &dm, &km);
        quantized = (aule_int8_k){.k8 = k8, .k_scale = ks, .k_mean = km};
        if (st == AULE_OK)
            st = aule_int8_quantize_k(ctx, &spec, tk, shape->no_smoothing, &quantized);
        i8.k_quantized = &quantized;
    }
    if (st == AULE_OK) {
        aule_forward_args args = {.q = tq, .k = shape->quantize_k_first ? NULL : tk, .v = tv, .o = to, .lse = tl,
                                  .scale = scale};
        double t0 = aule_clock_ms();
        st = aule_attention_forward_int8(ctx, &spec, &args, &i8);
        res->run_ms = aule_clock_ms() - t0;
    }
    if (st == AULE_OK)
        st = aule__check_download(to, sh->bshd, got_o);
    if (st == AULE_OK && tl)
        st = aule_tensor_read(tl, got_l, nl * sizeof *got_l);
    if (st == AULE_OK) {
        measure(ref_o, got_o, nl, dv, ref_l, tl ? got_l : NULL, res);
        res->pass = res->worst_cosine >= AULE_INT8_MIN_COSINE && res->rel_l1 <= AULE_INT8_MAX_REL_L1
                    && (!tl || res->lse_err <= AULE_INT8_MAX_LSE_ERR);
    }
    aule_tensor *all[] = {tq, tk, tv, to, tl, k8, ks, km};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
    free(q); free(k); free(v); free(qd); free(kd); free(vd);
    free(ref_o); free(ref_l); free(got_o); free(got_l);
    return st;
}
