/* SPDX-License-Identifier: MIT */
/*
 * launch_forward.c - the forward family's launcher: checks the arguments of
 * aule_attention_forward (shapes, dtypes, strides, varlen bounds, sinks),
 * fills the forward push constants and bindings (auegen_abi.h) and the grid,
 * and hands the calls to the submission (dispatch.c).
 */
#include "runtime_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool dims_are(const aule_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t *s = t->desc.shape;
    return s[0] == a && s[1] == b && s[2] == c && s[3] == d;
}

static aule_status check_seqlens(aule_context *ctx, const aule_tensor *t, const char *name, int64_t total,
                                 int64_t *batch, int64_t *max_len)
{
    aule_status st = aule__check_tensor(ctx, t, name, AULE_DTYPE_I32, 1);
    if (st != AULE_OK)
        return st;
    int64_t n = t->desc.shape[0];
    if (n < 2)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s needs at least 2 entries (B + 1)", name);
    int32_t *cu = malloc(t->bytes);
    if (!cu)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    st = aule_tensor_read(t, cu, t->bytes);
    int64_t longest = 0;
    for (int64_t i = 0; st == AULE_OK && i < n; i++) {
        int32_t v = cu[i * t->desc.strides[0]];
        int32_t prev = i ? cu[(i - 1) * t->desc.strides[0]] : 0;
        if ((i == 0 && v != 0) || v < prev || v > total)
            st = aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                           "%s[%lld] = %d: it must start at 0, never decrease and stay within %lld tokens", name,
                           (long long)i, v, (long long)total);
        else if (v - prev > longest)
            longest = v - prev;
    }
    free(cu);
    *batch = n - 1;
    *max_len = longest;
    return st;
}

aule_status aule__forward_prepare(aule_context *ctx, const auegen_spec *spec, const auegen_plan *plan,
                            const aule_forward_args *a, prepared_call *c)
{
    if (!a || !a->q || !a->k || !a->v || !a->o)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "attention: q, k, v and o are required");
    aule_dtype dt = (aule_dtype)spec->dtype;
    aule_status st;
    if ((st = aule__check_tensor(ctx, a->q, "q", dt, 4)) || (st = aule__check_tensor(ctx, a->k, "k", dt, 4))
        || (st = aule__check_tensor(ctx, a->v, "v", dt, 4)) || (st = aule__check_tensor(ctx, a->o, "o", dt, 4)))
        return st;
    const int64_t *qs = a->q->desc.shape, *ks = a->k->desc.shape;
    int64_t heads = qs[1], kv_heads = ks[1], sq = qs[2], sk = ks[2];
    int64_t d = spec->head_dim, dv = spec->head_dim_v, batch = qs[0];
    if (qs[3] != d || ks[3] != d)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "q and k must have head_dim %lld (got %lld and %lld)",
                         (long long)d, (long long)qs[3], (long long)ks[3]);
    if (heads != kv_heads * spec->gqa)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "q has %lld heads and k %lld: the spec's gqa = %d needs H = Hkv * %d", (long long)heads,
                         (long long)kv_heads, spec->gqa, spec->gqa);
    bool varlen = a->cu_seqlens_q || a->cu_seqlens_k;
    int64_t max_q = sq, max_k = sk;
    if (varlen) {
        if (!a->cu_seqlens_q || !a->cu_seqlens_k)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "varlen needs both cu_seqlens_q and cu_seqlens_k");
        if (batch != 1 || ks[0] != 1)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "varlen tensors are [1][H][total][D] (got B = %lld)",
                             (long long)batch);
        int64_t bq, bk, lq, lk;
        if ((st = check_seqlens(ctx, a->cu_seqlens_q, "cu_seqlens_q", sq, &bq, &lq))
            || (st = check_seqlens(ctx, a->cu_seqlens_k, "cu_seqlens_k", sk, &bk, &lk)))
            return st;
        if (bq != bk)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "cu_seqlens_q has %lld sequences, cu_seqlens_k %lld",
                             (long long)bq, (long long)bk);
        if ((a->max_seqlen_q && a->max_seqlen_q < lq) || (a->max_seqlen_k && a->max_seqlen_k < lk)
            || a->max_seqlen_q < 0 || a->max_seqlen_k < 0)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                             "max_seqlen_q/k (%d, %d) are below the longest sequences (%lld, %lld)", a->max_seqlen_q,
                             a->max_seqlen_k, (long long)lq, (long long)lk);
        batch = bq;
        max_q = lq;
        max_k = lk;
    }
    if (!dims_are(a->v, ks[0], kv_heads, sk, dv))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "v must be [%lld][%lld][%lld][%lld]", (long long)ks[0],
                         (long long)kv_heads, (long long)sk, (long long)dv);
    if (!dims_are(a->o, qs[0], heads, sq, dv))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "o must be [%lld][%lld][%lld][%lld]", (long long)qs[0],
                         (long long)heads, (long long)sq, (long long)dv);
    if (!varlen && ks[0] != batch)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "q has batch %lld, k has %lld", (long long)batch,
                         (long long)ks[0]);
    if (a->lse) {
        if ((st = aule__check_tensor(ctx, a->lse, "lse", AULE_DTYPE_F32, 3)))
            return st;
        const int64_t *ls = a->lse->desc.shape;
        if (ls[0] != qs[0] || ls[1] != heads || ls[2] != sq)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "lse must be [%lld][%lld][%lld]", (long long)qs[0],
                             (long long)heads, (long long)sq);
    }
    if ((st = aule__check_sinks(ctx, spec, a->sinks, heads)))
        return st;
    float scale = a->scale;
    if (scale == 0.0f)
        scale = 1.0f / sqrtf((float)d);
    if (!isfinite(scale))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "scale must be finite");
    uint64_t rows = (uint64_t)max_q * (uint64_t)spec->gqa;
    uint64_t gx = (rows + (uint64_t)plan->tile_q - 1) / (uint64_t)plan->tile_q;
    if (gx > UINT32_MAX || kv_heads > 65535 || batch > 65535 || rows > UINT32_MAX)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "problem too large for one launch (rows %llu, Hkv %lld, B %lld)",
                         (unsigned long long)rows, (long long)kv_heads, (long long)batch);

    aule__call_init(ctx, c, AUEGEN_FAMILY_FORWARD);
    auegen_forward_push *p = &c->push.forward;
    p->batch = (uint32_t)batch;
    p->heads = (uint32_t)heads;
    p->kv_heads = (uint32_t)kv_heads;
    p->seq_q = (uint32_t)max_q;
    p->seq_k = (uint32_t)max_k;
    const int64_t *s;
    s = a->q->desc.strides; p->q_stride_b = (uint32_t)s[0]; p->q_stride_h = (uint32_t)s[1]; p->q_stride_s = (uint32_t)s[2];
    s = a->k->desc.strides; p->k_stride_b = (uint32_t)s[0]; p->k_stride_h = (uint32_t)s[1]; p->k_stride_s = (uint32_t)s[2];
    s = a->v->desc.strides; p->v_stride_b = (uint32_t)s[0]; p->v_stride_h = (uint32_t)s[1]; p->v_stride_s = (uint32_t)s[2];
    s = a->o->desc.strides; p->o_stride_b = (uint32_t)s[0]; p->o_stride_h = (uint32_t)s[1]; p->o_stride_s = (uint32_t)s[2];
    if (a->lse) {
        p->lse_stride_b = (uint32_t)a->lse->desc.strides[0];
        p->lse_stride_h = (uint32_t)a->lse->desc.strides[1];
        p->flags |= AUEGEN_FORWARD_WRITE_LSE;
    }
    if (varlen)
        p->flags |= AUEGEN_FORWARD_VARLEN;
    /* 16-byte vector loads of K and V: 16-bit storage, rows of a multiple of 8 elements,
     * every K/V stride a multiple of 8 elements (buffers are bound at offset 0). */
    const int64_t *kst = a->k->desc.strides, *vst = a->v->desc.strides;
    bool aligned = aule_dtype_size(dt) == 2 && d % 8 == 0 && dv % 8 == 0;
    for (int i = 0; i < 3; i++)
        aligned = aligned && kst[i] % 8 == 0 && vst[i] % 8 == 0;
    if (aligned)
        p->flags |= AUEGEN_FORWARD_ALIGNED16;
    p->scale = scale;
    AULE_BIND(c, AUEGEN_FORWARD_BINDING_Q, a->q);
    AULE_BIND(c, AUEGEN_FORWARD_BINDING_K, a->k);
    AULE_BIND(c, AUEGEN_FORWARD_BINDING_V, a->v);
    AULE_BIND(c, AUEGEN_FORWARD_BINDING_O, a->o);
    if (a->lse)
        AULE_BIND(c, AUEGEN_FORWARD_BINDING_LSE, a->lse);
    if (varlen) {
        AULE_BIND(c, AUEGEN_FORWARD_BINDING_CU_SEQLENS_Q, a->cu_seqlens_q);
        AULE_BIND(c, AUEGEN_FORWARD_BINDING_CU_SEQLENS_K, a->cu_seqlens_k);
    }
    if (a->sinks)
        AULE_BIND(c, AUEGEN_FORWARD_BINDING_SINKS, a->sinks);
    c->groups_x = (uint32_t)gx;
    c->groups_y = (uint32_t)kv_heads;
    c->groups_z = (uint32_t)batch;
    return AULE_OK;
}

aule_status aule_attention_forward_batch(aule_context *ctx, const auegen_spec *spec, const aule_forward_args *args,
                                         int count)
{
    if (!ctx || !spec || !args || count < 1)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_attention_forward: NULL argument or count < 1");
    if (spec->kind != AUEGEN_KIND_FORWARD)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "aule_attention_forward needs a spec of kind = \"forward\" (decode: aule_attention_decode)");
    if (spec->int8)
        return aule__int8_forward_batch(ctx, spec, args, NULL, count);
    kernel_entry *e;
    aule_status st = aule__kernel_get(ctx, spec, &e, NULL);
    if (st != AULE_OK)
        return st;
    prepared_call one, *calls = count == 1 ? &one : malloc((size_t)count * sizeof *calls);
    if (!calls)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < count && st == AULE_OK; i++)
        st = aule__forward_prepare(ctx, &e->spec, &e->plan, &args[i], &calls[i]);
    if (st == AULE_OK)
        st = aule__dispatch_run(ctx, e, calls, count);
    if (calls != &one)
        free(calls);
    return st;
}

aule_status aule_attention_forward(aule_context *ctx, const auegen_spec *spec, const aule_forward_args *args)
{
    return aule_attention_forward_batch(ctx, spec, args, 1);
}

aule_status aule_forward_launch(aule_context *ctx, const auegen_kernel_info *kernel, const aule_forward_args *args)
{
    if (!ctx || !kernel || !args)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_forward_launch: NULL argument");
    if (kernel->plan.family == AUEGEN_FAMILY_INT8_FWD)
        return aule__int8_forward_batch(ctx, &kernel->spec, args, NULL, 1);
    if (kernel->plan.family != AUEGEN_FAMILY_FORWARD)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "kernel %s is not a forward kernel", kernel->name);
    kernel_entry *e;
    aule_status st = aule__kernel_for_info(ctx, kernel, &e);
    if (st != AULE_OK)
        return st;
    prepared_call c;
    st = aule__forward_prepare(ctx, &kernel->spec, &e->plan, args, &c);
    return st == AULE_OK ? aule__dispatch_run(ctx, e, &c, 1) : st;
}
