/* SPDX-License-Identifier: MIT */
/*
 * launch_backward.c - the backward families' launcher: checks the arguments
 * (those it shares with the forward through forward_prepare), then records
 * three kernels per call in one submission: bwd_dot (D = rowsum(dO * O) into
 * the context's workspace), bwd_dkdv and bwd_dq. Deterministic: no atomics.
 */
#include "runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* t must have the shape and dtype of like (a gradient and its tensor). */
static aule_status check_like(aule_context *ctx, const aule_tensor *t, const char *name, const aule_tensor *like,
                              const char *like_name)
{
    if (!t)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "backward: %s is required", name);
    aule_status st = aule__check_tensor(ctx, t, name, like->desc.dtype, 4);
    if (st != AULE_OK)
        return st;
    for (int i = 0; i < 4; i++)
        if (t->desc.shape[i] != like->desc.shape[i])
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                             "%s must have %s's shape [%lld][%lld][%lld][%lld] (dimension %d is %lld)", name, like_name,
                             (long long)like->desc.shape[0], (long long)like->desc.shape[1],
                             (long long)like->desc.shape[2], (long long)like->desc.shape[3], i,
                             (long long)t->desc.shape[i]);
    return AULE_OK;
}

#define STRIDES3(dst, field, t)                                                                              \
    do {                                                                                                     \
        (dst)->field##_stride_b = (uint32_t)(t)->desc.strides[0];                                            \
        (dst)->field##_stride_h = (uint32_t)(t)->desc.strides[1];                                            \
        (dst)->field##_stride_s = (uint32_t)(t)->desc.strides[2];                                            \
    } while (0)

/* The calls of one backward (three, and the sinks' gradient when asked); D's
 * region starts at element 0 of the workspace. *ncalls says how many. */
static aule_status backward_prepare(aule_context *ctx, const auegen_spec *spec, kernel_entry *const e[4],
                                    const aule_backward_args *a, prepared_call c[4], int *ncalls, uint64_t *d_floats)
{
    if (!a || !a->q || !a->k || !a->v || !a->o || !a->dout || !a->dq || !a->dk || !a->dv)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "backward: q, k, v, o, dout, dq, dk and dv are required");
    if (!a->lse)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "backward: lse is required (the forward's, fp32 [B][H][Sq]: pass .lse to the forward)");
    /* What the backward shares with the forward: shapes, dtypes, strides, varlen, LSE, scale. */
    aule_forward_args fa = {.q = a->q, .k = a->k, .v = a->v, .o = (aule_tensor *)a->o, .lse = (aule_tensor *)a->lse,
                            .cu_seqlens_q = a->cu_seqlens_q, .cu_seqlens_k = a->cu_seqlens_k,
                            .max_seqlen_q = a->max_seqlen_q, .max_seqlen_k = a->max_seqlen_k, .scale = a->scale,
                            .sinks = a->sinks};
    prepared_call fc;
    /* bwd_dq's grid is the forward's with its tile; the atomic-dQ conversion has
     * no tile (its grid is bwd_dot's, set below). */
    auegen_plan grid = e[2]->plan;
    if (grid.tile_q < 1)
        grid.tile_q = 1;
    aule_status st = aule__forward_prepare(ctx, spec, &grid, &fa, &fc);
    if (st != AULE_OK)
        return st;
    if ((st = check_like(ctx, a->dout, "dout", a->o, "o")) || (st = check_like(ctx, a->dq, "dq", a->q, "q"))
        || (st = check_like(ctx, a->dk, "dk", a->k, "k")) || (st = check_like(ctx, a->dv, "dv", a->v, "v")))
        return st;
    const auegen_forward_push *f = &fc.push.forward;
    const int64_t *os = a->o->desc.shape;
    uint64_t rows = (uint64_t)os[0] * (uint64_t)os[1] * (uint64_t)os[2];
    *d_floats = rows;

    /* bwd_dot: every row of O, D contiguous [B][H][Sq] (B = 1 for varlen). */
    aule__call_init(ctx, &c[0], AUEGEN_FAMILY_BWD_DOT);
    c[0].kernel = e[0];
    auegen_bwd_dot_push *dp = &c[0].push.bwd_dot;
    dp->batch = (uint32_t)os[0];
    dp->heads = (uint32_t)os[1];
    dp->seq_q = (uint32_t)os[2];
    STRIDES3(dp, o, a->o);
    STRIDES3(dp, do, a->dout);
    dp->d_stride_b = (uint32_t)(os[1] * os[2]);
    dp->d_stride_h = (uint32_t)os[2];
    AULE_BIND(&c[0], AUEGEN_BWD_DOT_BINDING_O, a->o);
    AULE_BIND(&c[0], AUEGEN_BWD_DOT_BINDING_DO, a->dout);
    uint64_t wg = (uint64_t)e[0]->plan.workgroup_size;
    if ((rows + wg - 1) / wg > UINT32_MAX)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "backward: too many rows for one launch");
    c[0].groups_x = (uint32_t)((rows + wg - 1) / wg);
    c[0].groups_y = c[0].groups_z = 1;
    /* atomic_dq: bwd_dot zeroes an fp32 accumulator (D's rows x head_dim, after D),
     * bwd_dkdv adds into it, bwd_dq converts it. Kernels linked from another build
     * could disagree on that: refuse rather than read an accumulator nobody wrote. */
    bool atomic = e[1]->plan.atomic_dq;
    if (e[0]->plan.atomic_dq != atomic || e[2]->plan.atomic_dq != atomic)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "backward: the bwd_dot, bwd_dkdv and bwd_dq kernels disagree on atomic_dq");
    uint32_t acc_offset = 0;
    if (atomic) {
        acc_offset = (uint32_t)(rows < UINT32_MAX ? rows : UINT32_MAX);
        *d_floats = rows + rows * (uint64_t)spec->head_dim;
        dp->acc_offset = acc_offset;
    }

    /* bwd_dkdv and bwd_dq: the forward's shapes and strides, plus dO's and D's. */
    for (int i = 1; i < 3; i++) {
        aule__call_init(ctx, &c[i], i == 1 ? AUEGEN_FAMILY_BWD_DKDV : AUEGEN_FAMILY_BWD_DQ);
        c[i].kernel = e[i];
        AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_Q, a->q);    /* the two families share these binding numbers */
        AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_K, a->k);
        AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_V, a->v);
        AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_DO, a->dout);
        AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_LSE, a->lse);
        if (f->flags & AUEGEN_FORWARD_VARLEN) {
            AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_CU_SEQLENS_Q, a->cu_seqlens_q);
            AULE_BIND(&c[i], AUEGEN_BWD_DKDV_BINDING_CU_SEQLENS_K, a->cu_seqlens_k);
        }
    }
    _Static_assert((int)AUEGEN_BWD_DKDV_BINDING_CU_SEQLENS_K == (int)AUEGEN_BWD_DQ_BINDING_CU_SEQLENS_K,
                   "bwd_dkdv and bwd_dq share their first bindings");
#define COMMON(dst)                                                                                          \
    do {                                                                                                     \
        (dst)->batch = f->batch, (dst)->heads = f->heads, (dst)->kv_heads = f->kv_heads;                     \
        (dst)->seq_q = f->seq_q, (dst)->seq_k = f->seq_k;                                                    \
        (dst)->q_stride_b = f->q_stride_b, (dst)->q_stride_h = f->q_stride_h, (dst)->q_stride_s = f->q_stride_s; \
        (dst)->k_stride_b = f->k_stride_b, (dst)->k_stride_h = f->k_stride_h, (dst)->k_stride_s = f->k_stride_s; \
        (dst)->v_stride_b = f->v_stride_b, (dst)->v_stride_h = f->v_stride_h, (dst)->v_stride_s = f->v_stride_s; \
        STRIDES3(dst, do, a->dout);                                                                          \
        (dst)->lse_stride_b = f->lse_stride_b, (dst)->lse_stride_h = f->lse_stride_h;                         \
        (dst)->d_stride_b = dp->d_stride_b, (dst)->d_stride_h = dp->d_stride_h;                               \
        (dst)->scale = f->scale;                                                                             \
        (dst)->flags = f->flags & AUEGEN_FORWARD_VARLEN;                                                     \
    } while (0)
    auegen_bwd_dkdv_push *kp = &c[1].push.bwd_dkdv;
    COMMON(kp);
    STRIDES3(kp, dk, a->dk);
    STRIDES3(kp, dv, a->dv);
    AULE_BIND(&c[1], AUEGEN_BWD_DKDV_BINDING_DK, a->dk);
    AULE_BIND(&c[1], AUEGEN_BWD_DKDV_BINDING_DV, a->dv);
    kp->acc_offset = acc_offset;
    uint64_t bc = (uint64_t)e[1]->plan.tile_kv;
    c[1].groups_x = (uint32_t)(((uint64_t)f->seq_k + bc - 1) / bc);
    c[1].groups_y = fc.groups_y;
    c[1].groups_z = fc.groups_z;
    auegen_bwd_dq_push *qp = &c[2].push.bwd_dq;
    COMMON(qp);
    STRIDES3(qp, dq, a->dq);
    AULE_BIND(&c[2], AUEGEN_BWD_DQ_BINDING_DQ, a->dq);
    if (spec->sinks) {               /* bwd_dq also writes DX, after D in the workspace */
        qp->dx_offset = (uint32_t)rows;
        *d_floats = 2 * rows;
    }
    c[2].groups_x = fc.groups_x;     /* query-row tiles: forward_prepare planned them with bwd_dq's tile */
    c[2].groups_y = fc.groups_y;
    c[2].groups_z = fc.groups_z;
    if (atomic) {                    /* the conversion: bwd_dot's rows, one invocation per row */
        qp->batch = dp->batch;
        qp->heads = dp->heads;
        qp->seq_q = dp->seq_q;
        qp->acc_offset = acc_offset;
        uint64_t cw = (uint64_t)e[2]->plan.workgroup_size;
        c[2].groups_x = (uint32_t)((rows + cw - 1) / cw);
        c[2].groups_y = c[2].groups_z = 1;
    }
#undef COMMON
    if (c[1].groups_x == 0)          /* no keys at all: dK and dV are empty, nothing to launch for them */
        c[1].groups_x = 1;
    *ncalls = 3;
    if (!spec->sinks)
        return a->dsinks ? aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "dsinks given, but the spec has no sinks = true")
                         : AULE_OK;
    if (!a->dsinks)
        return AULE_OK;              /* the sinks are frozen: no gradient asked */
    if ((st = aule__check_tensor(ctx, a->dsinks, "dsinks", AULE_DTYPE_F32, 1)))
        return st;
    if (a->dsinks->desc.shape[0] != f->heads)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "dsinks must be [%u] (one per query head)", f->heads);
    aule__call_init(ctx, &c[3], AUEGEN_FAMILY_BWD_DSINK);
    c[3].kernel = e[3];
    auegen_bwd_dsink_push *sp = &c[3].push.bwd_dsink;
    sp->batch = (uint32_t)os[0];
    sp->heads = (uint32_t)os[1];
    sp->seq_q = (uint32_t)os[2];
    sp->lse_stride_b = f->lse_stride_b;
    sp->lse_stride_h = f->lse_stride_h;
    sp->d_stride_b = dp->d_stride_b;
    sp->d_stride_h = dp->d_stride_h;
    sp->flags = f->flags & AUEGEN_FORWARD_VARLEN;
    sp->sequences = sp->flags ? f->batch : 0;
    sp->dx_offset = (uint32_t)rows;
    AULE_BIND(&c[3], AUEGEN_BWD_DSINK_BINDING_LSE, a->lse);
    AULE_BIND(&c[3], AUEGEN_BWD_DSINK_BINDING_SINKS, a->sinks);
    AULE_BIND(&c[3], AUEGEN_BWD_DSINK_BINDING_DSINKS, a->dsinks);
    if (sp->flags)
        AULE_BIND(&c[3], AUEGEN_BWD_DSINK_BINDING_CU_SEQLENS_Q, a->cu_seqlens_q);
    c[3].groups_x = f->heads;
    c[3].groups_y = c[3].groups_z = 1;
    *ncalls = 4;
    return AULE_OK;
}

aule_status aule_attention_backward_batch(aule_context *ctx, const auegen_spec *spec_in, const aule_backward_args *args,
                                          int count)
{
    if (!ctx || !spec_in || !args || count < 1)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_attention_backward: NULL argument or count < 1");
    auegen_spec spec;
    auegen_diag diag = {0};
    if (auegen_spec_normalize(spec_in, &spec, &diag) != AUEGEN_OK)
        return aule_fail(ctx, AULE_ERROR_GENERATOR, "invalid spec: %s", diag.errors[0].message);
    if (spec.kind != AUEGEN_KIND_FORWARD || !spec.backward)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "aule_attention_backward needs a spec of kind = \"forward\" with backward = true");
    kernel_entry *e[4] = {NULL};
    static const int parts[4] = {KERNEL_BWD_DOT, KERNEL_BWD_DKDV, KERNEL_BWD_DQ, KERNEL_BWD_DSINK};
    aule_status st = AULE_OK;
    for (int i = 0; i < (spec.sinks ? 4 : 3) && st == AULE_OK; i++)
        st = aule__kernel_get_part(ctx, &spec, parts[i], &e[i], NULL);
    if (st != AULE_OK)
        return st;
    if ((size_t)count > SIZE_MAX / (4 * sizeof(prepared_call)))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_attention_backward: count too large");
    prepared_call *calls = malloc((size_t)count * 4 * sizeof *calls);
    if (!calls)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    uint64_t d_floats = 0;
    int total = 0;
    for (int i = 0; i < count && st == AULE_OK; i++) {
        uint64_t n = 0;
        int nc = 0;
        st = backward_prepare(ctx, &spec, e, &args[i], &calls[total], &nc, &n);
        total += nc;
        d_floats = n > d_floats ? n : d_floats;
    }
    if (st == AULE_OK && d_floats > UINT32_MAX)
        st = aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "backward: too many rows for one launch");
    if (st == AULE_OK && d_floats * sizeof(float) > ctx->info.max_storage_buffer_range)
        st = aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "backward: D (%llu rows) exceeds the device's buffer range",
                       (unsigned long long)d_floats);
    if (st == AULE_OK) {
        /* One D region serves every call: each call's three kernels run in order, with barriers between. */
        pthread_mutex_lock(&ctx->workspace_lock);
        st = aule__workspace_reserve(ctx, d_floats * sizeof(float));
        if (st == AULE_OK) {
            for (int i = 0; i < total; i++) {
                VkBuffer *b = calls[i].buffers;
                void **h = calls[i].host;  /* the native CPU backend's workspace (NULL on Vulkan) */
                switch (calls[i].kernel->plan.family) {
                case AUEGEN_FAMILY_BWD_DOT:
                    b[AUEGEN_BWD_DOT_BINDING_D] = b[AUEGEN_BWD_DOT_BINDING_DQ_ACC] = ctx->workspace;
                    h[AUEGEN_BWD_DOT_BINDING_D] = ctx->cpu_workspace;
                    break;
                case AUEGEN_FAMILY_BWD_DKDV:
                    b[AUEGEN_BWD_DKDV_BINDING_D] = b[AUEGEN_BWD_DKDV_BINDING_DQ_ACC] = ctx->workspace;
                    h[AUEGEN_BWD_DKDV_BINDING_D] = ctx->cpu_workspace;
                    break;
                case AUEGEN_FAMILY_BWD_DQ:
                    b[AUEGEN_BWD_DQ_BINDING_D] = ctx->workspace;
                    b[AUEGEN_BWD_DQ_BINDING_DX] = b[AUEGEN_BWD_DQ_BINDING_DQ_ACC] = ctx->workspace;
                    h[AUEGEN_BWD_DQ_BINDING_D] = h[AUEGEN_BWD_DQ_BINDING_DX] = ctx->cpu_workspace;
                    break;
                case AUEGEN_FAMILY_BWD_DSINK:
                    b[AUEGEN_BWD_DSINK_BINDING_DX] = ctx->workspace;
                    h[AUEGEN_BWD_DSINK_BINDING_DX] = ctx->cpu_workspace;
                    break;
                default: break;
                }
            }
            st = aule__dispatch_run(ctx, e[0], calls, total);
        }
        pthread_mutex_unlock(&ctx->workspace_lock);
    }
    free(calls);
    return st;
}

aule_status aule_attention_backward(aule_context *ctx, const auegen_spec *spec, const aule_backward_args *args)
{
    return aule_attention_backward_batch(ctx, spec, args, 1);
}
