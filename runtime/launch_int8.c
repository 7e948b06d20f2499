/* SPDX-License-Identifier: MIT */
/*
 * launch_int8.c - INT8 attention (int8 = true specs): checks the arguments,
 * lays out the quantized Q and K in the context's workspace (or takes a K the
 * caller quantized with aule_int8_quantize_k), and runs the int8_quant part
 * (K's mean, then the quantization) and the INT8 forward in one submission.
 * Layouts of the quantized tensors: include/auegen_abi.h.
 */
#include "runtime_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The quantized tensors' sizes for one call, in 32-bit words. */
typedef struct int8_sizes {
    uint64_t q_tiles, k_tiles, rows_pad, k_pad, d4, rw;   /* rw: words per row, D4 int8 words + the float slots */
    uint64_t q8, q_scale, q_corr, k8, k_scale, k_mean;
} int8_sizes;

static int8_sizes sizes_for(const auegen_spec *spec, const auegen_plan *plan, int64_t batch, int64_t kv_heads,
                            int64_t sq, int64_t sk)
{
    int8_sizes z;
    uint64_t bh = (uint64_t)batch * (uint64_t)kv_heads, rows = (uint64_t)sq * (uint64_t)spec->gqa;
    z.d4 = ((uint64_t)spec->head_dim + 3) / 4;
    z.rw = z.d4 + AUEGEN_INT8_FLOAT_SLOTS;
    z.q_tiles = (rows + (uint64_t)plan->tile_q - 1) / (uint64_t)plan->tile_q;
    z.k_tiles = ((uint64_t)sk + (uint64_t)plan->tile_kv - 1) / (uint64_t)plan->tile_kv;
    z.rows_pad = z.q_tiles * (uint64_t)plan->tile_q;
    z.k_pad = z.k_tiles * (uint64_t)plan->tile_kv;
    z.q8 = bh * z.rows_pad * z.rw;
    z.q_scale = bh * z.q_tiles * 2;
    z.q_corr = bh * z.rows_pad;
    z.k8 = bh * z.k_pad * z.rw;
    z.k_scale = bh * z.k_tiles * 2;
    z.k_mean = bh * 3 * (uint64_t)spec->head_dim;
    return z;
}

/* A tensor of exactly this dtype and shape, contiguous (the quantized K). */
static aule_status check_exact(aule_context *ctx, const aule_tensor *t, const char *name, aule_dtype dt, int ndim,
                               const int64_t *shape)
{
    aule_status st = aule__check_tensor(ctx, t, name, dt, ndim);
    if (st != AULE_OK)
        return st;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        if (t->desc.shape[i] != shape[i] || (shape[i] > 1 && t->desc.strides[i] != stride))
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s must be a contiguous [%lld][%lld][%lld]%s (aule_int8_k_descs)",
                             name, (long long)shape[0], (long long)shape[1], (long long)shape[2],
                             ndim == 4 ? "[(D4 + AUEGEN_INT8_FLOAT_SLOTS) * 4]" : "");
        stride *= shape[i];
    }
    return AULE_OK;
}

static aule_status check_quantized_k(aule_context *ctx, const auegen_spec *spec, const int8_sizes *z, int64_t batch,
                                     int64_t kv_heads, const aule_int8_k *qk)
{
    if (!qk->k8 || !qk->k_scale || !qk->k_mean)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "a quantized K needs k8, k_scale and k_mean");
    int64_t k8[4] = {batch, kv_heads, (int64_t)z->k_pad, (int64_t)z->rw * 4};
    int64_t ks[3] = {batch, kv_heads, 2 * (int64_t)z->k_tiles};
    int64_t km[3] = {batch, kv_heads, 3 * (int64_t)spec->head_dim};
    aule_status st;
    if ((st = check_exact(ctx, qk->k8, "k8", AULE_DTYPE_I8, 4, k8))
        || (st = check_exact(ctx, qk->k_scale, "k_scale", AULE_DTYPE_F32, 3, ks))
        || (st = check_exact(ctx, qk->k_mean, "k_mean", AULE_DTYPE_F32, 3, km)))
        return st;
    return AULE_OK;
}

/* Where each quantized tensor lives: a buffer and its first element (word). */
typedef struct int8_place {
    VkBuffer q8, q_scale, q_corr, k8, k_scale, k_mean;
    uint32_t q8_off, q_scale_off, q_corr_off, k8_off, k_scale_off, k_mean_off;
} int8_place;

/* The quantizer's call: flags say the stage; grid from the tiles. */
static void quant_call(aule_context *ctx, const kernel_entry *quant, prepared_call *c, uint32_t flags,
                       const auegen_spec *spec, const int8_sizes *z, const aule_tensor *q, const aule_tensor *k,
                       int64_t batch, int64_t heads, int64_t kv_heads, int64_t sq, int64_t sk, float scale,
                       const int8_place *w)
{
    aule__call_init(ctx, c, AUEGEN_FAMILY_INT8_QUANT);
    c->kernel = quant;
    auegen_int8_quant_push *p = &c->push.int8_quant;
    p->batch = (uint32_t)batch;
    p->heads = (uint32_t)heads;
    p->kv_heads = (uint32_t)kv_heads;
    p->seq_q = (uint32_t)sq;
    p->seq_k = (uint32_t)sk;
    if (q) {
        const int64_t *s = q->desc.strides;
        p->q_stride_b = (uint32_t)s[0]; p->q_stride_h = (uint32_t)s[1]; p->q_stride_s = (uint32_t)s[2];
        c->buffers[AUEGEN_INT8_QUANT_BINDING_Q] = q->buffer;
    }
    if (k) {
        const int64_t *s = k->desc.strides;
        p->k_stride_b = (uint32_t)s[0]; p->k_stride_h = (uint32_t)s[1]; p->k_stride_s = (uint32_t)s[2];
        c->buffers[AUEGEN_INT8_QUANT_BINDING_K] = k->buffer;
    }
    p->scale = scale;
    p->flags = flags;
    p->q8_off = w->q8_off; p->q_scale_off = w->q_scale_off; p->q_corr_off = w->q_corr_off;
    p->k8_off = w->k8_off; p->k_scale_off = w->k_scale_off; p->k_mean_off = w->k_mean_off;
    VkBuffer *bind = c->buffers;
    bind[AUEGEN_INT8_QUANT_BINDING_Q8] = w->q8;
    bind[AUEGEN_INT8_QUANT_BINDING_Q_SCALE] = w->q_scale;
    bind[AUEGEN_INT8_QUANT_BINDING_Q_CORR] = w->q_corr;
    bind[AUEGEN_INT8_QUANT_BINDING_K8] = w->k8;
    bind[AUEGEN_INT8_QUANT_BINDING_K_SCALE] = w->k_scale;
    bind[AUEGEN_INT8_QUANT_BINDING_K_MEAN] = w->k_mean;
    uint64_t x = 1;
    if (!(flags & AUEGEN_INT8_QUANT_MEAN))
        x = ((flags & AUEGEN_INT8_QUANT_QUANT_K) ? z->k_tiles : 0) + ((flags & AUEGEN_INT8_QUANT_NO_Q) ? 0 : z->q_tiles);
    c->groups_x = (uint32_t)(x ? x : 1);
    c->groups_y = (uint32_t)kv_heads;
    c->groups_z = (uint32_t)batch;
    (void)spec;
}

static aule_status fits_u32(aule_context *ctx, uint64_t words)
{
    if (words > UINT32_MAX / 4 || words * 4 > ctx->info.max_storage_buffer_range)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "the int8 workspace (%llu bytes) exceeds the device's buffer "
                         "range: split the call", (unsigned long long)(words * 4));
    return AULE_OK;
}

/* One forward call: its quantizer calls and the forward into calls (at most 3); n gets how many.
 * Workspace words from *ws on are this call's. */
static aule_status prepare_one(aule_context *ctx, const auegen_spec *spec, const kernel_entry *fwd,
                               const kernel_entry *quant, const aule_forward_args *a, const aule_int8_args *i8,
                               uint64_t *ws, prepared_call *calls, int *n, bool layout_only)
{
    if (!a || !a->q || !a->v || !a->o || (!a->k && !(i8 && i8->k_quantized)))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "int8 attention: q, k (or a quantized K), v and o are required");
    if (a->cu_seqlens_q || a->cu_seqlens_k)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "int8 attention does not take varlen batches in this version");
    if (a->sinks)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "sinks given, but the spec has no sinks = true");
    aule_dtype dt = (aule_dtype)spec->dtype;
    aule_status st;
    if ((st = aule__check_tensor(ctx, a->q, "q", dt, 4)) || (st = aule__check_tensor(ctx, a->v, "v", dt, 4))
        || (st = aule__check_tensor(ctx, a->o, "o", dt, 4)))
        return st;
    const int64_t *qs = a->q->desc.shape, *vs = a->v->desc.shape;
    int64_t batch = qs[0], heads = qs[1], sq = qs[2], kv_heads = vs[1], sk = vs[2];
    int64_t d = spec->head_dim, dv = spec->head_dim_v;
    if (qs[3] != d || vs[3] != dv || vs[0] != batch)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "q must be [B][H][Sq][%lld] and v [B][Hkv][Sk][%lld] with the "
                         "same B", (long long)d, (long long)dv);
    if (heads != kv_heads * spec->gqa)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "q has %lld heads and v %lld: the spec's gqa = %d needs H = Hkv * %d", (long long)heads,
                         (long long)kv_heads, spec->gqa, spec->gqa);
    const aule_tensor *k = i8 && i8->k_quantized ? NULL : a->k;
    if (k) {
        if ((st = aule__check_tensor(ctx, k, "k", dt, 4)))
            return st;
        const int64_t *ks = k->desc.shape;
        if (ks[0] != batch || ks[1] != kv_heads || ks[2] != sk || ks[3] != d)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "k must be [%lld][%lld][%lld][%lld]", (long long)batch,
                             (long long)kv_heads, (long long)sk, (long long)d);
    }
    const int64_t *os = a->o->desc.shape;
    if (os[0] != batch || os[1] != heads || os[2] != sq || os[3] != dv)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "o must be [%lld][%lld][%lld][%lld]", (long long)batch,
                         (long long)heads, (long long)sq, (long long)dv);
    if (a->lse) {
        if ((st = aule__check_tensor(ctx, a->lse, "lse", AULE_DTYPE_F32, 3)))
            return st;
        const int64_t *ls = a->lse->desc.shape;
        if (ls[0] != batch || ls[1] != heads || ls[2] != sq)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "lse must be [%lld][%lld][%lld]", (long long)batch,
                             (long long)heads, (long long)sq);
    }
    if (batch > 65535 || kv_heads > 65535)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "too many sequences or KV heads for one launch");
    float scale = a->scale == 0.0f ? 1.0f / sqrtf((float)d) : a->scale;
    if (!isfinite(scale))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "scale must be finite");
    int8_sizes z = sizes_for(spec, &fwd->plan, batch, kv_heads, sq, sk);
    if (z.q_tiles > UINT32_MAX || z.k_tiles > UINT32_MAX)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "problem too large for one launch");
    if (!k && (st = check_quantized_k(ctx, spec, &z, batch, kv_heads, i8->k_quantized)))
        return st;

    /* Workspace: Q8, Q scales, Q corrections, then (K given raw) K8, K scales, K mean. */
    uint64_t at = *ws;
    int8_place w;
    w.q8 = w.q_scale = w.q_corr = w.k8 = w.k_scale = w.k_mean = ctx->workspace;
    w.q8_off = (uint32_t)at; at += z.q8;
    w.q_scale_off = (uint32_t)at; at += z.q_scale;
    w.q_corr_off = (uint32_t)at; at += z.q_corr;
    if (k) {
        w.k8_off = (uint32_t)at; at += z.k8;
        w.k_scale_off = (uint32_t)at; at += z.k_scale;
        w.k_mean_off = (uint32_t)at; at += z.k_mean;
    } else {
        w.k8 = i8->k_quantized->k8->buffer;
        w.k_scale = i8->k_quantized->k_scale->buffer;
        w.k_mean = i8->k_quantized->k_mean->buffer;
        w.k8_off = w.k_scale_off = w.k_mean_off = 0;
    }
    if ((st = fits_u32(ctx, at)))
        return st;
    *ws = at;
    if (layout_only)
        return AULE_OK;

    int c = 0;
    bool smooth = !(i8 && i8->no_smoothing);
    if (k)
        quant_call(ctx, quant, &calls[c++], AUEGEN_INT8_QUANT_MEAN | (smooth ? AUEGEN_INT8_QUANT_SMOOTH : 0), spec, &z,
                   NULL, k, batch, heads, kv_heads, sq, sk, scale, &w);
    quant_call(ctx, quant, &calls[c++], k ? AUEGEN_INT8_QUANT_QUANT_K : 0, spec, &z, a->q, k, batch, heads, kv_heads,
               sq, sk, scale, &w);

    prepared_call *f = &calls[c++];
    aule__call_init(ctx, f, AUEGEN_FAMILY_INT8_FWD);
    f->kernel = fwd;
    auegen_int8_fwd_push *p = &f->push.int8_fwd;
    p->batch = (uint32_t)batch;
    p->heads = (uint32_t)heads;
    p->kv_heads = (uint32_t)kv_heads;
    p->seq_q = (uint32_t)sq;
    p->seq_k = (uint32_t)sk;
    const int64_t *s = a->v->desc.strides;
    p->v_stride_b = (uint32_t)s[0]; p->v_stride_h = (uint32_t)s[1]; p->v_stride_s = (uint32_t)s[2];
    s = a->o->desc.strides;
    p->o_stride_b = (uint32_t)s[0]; p->o_stride_h = (uint32_t)s[1]; p->o_stride_s = (uint32_t)s[2];
    if (a->lse) {
        p->lse_stride_b = (uint32_t)a->lse->desc.strides[0];
        p->lse_stride_h = (uint32_t)a->lse->desc.strides[1];
        p->flags |= AUEGEN_FORWARD_WRITE_LSE;
        f->buffers[AUEGEN_INT8_FWD_BINDING_LSE] = a->lse->buffer;
    }
    p->q8_off = w.q8_off; p->q_scale_off = w.q_scale_off; p->q_corr_off = w.q_corr_off;
    p->k8_off = w.k8_off; p->k_scale_off = w.k_scale_off; p->k_mean_off = w.k_mean_off;
    f->buffers[AUEGEN_INT8_FWD_BINDING_K_MEAN] = w.k_mean;
    f->buffers[AUEGEN_INT8_FWD_BINDING_Q8] = w.q8;
    f->buffers[AUEGEN_INT8_FWD_BINDING_Q_SCALE] = w.q_scale;
    f->buffers[AUEGEN_INT8_FWD_BINDING_Q_CORR] = w.q_corr;
    f->buffers[AUEGEN_INT8_FWD_BINDING_K8] = w.k8;
    f->buffers[AUEGEN_INT8_FWD_BINDING_K_SCALE] = w.k_scale;
    f->buffers[AUEGEN_INT8_FWD_BINDING_V] = a->v->buffer;
    f->buffers[AUEGEN_INT8_FWD_BINDING_O] = a->o->buffer;
    f->groups_x = (uint32_t)z.q_tiles;
    f->groups_y = (uint32_t)kv_heads;
    f->groups_z = (uint32_t)batch;
    *n = c;
    return AULE_OK;
}

/* The spec's two kernels. */
static aule_status int8_kernels(aule_context *ctx, const auegen_spec *spec, kernel_entry **fwd, kernel_entry **quant)
{
    if (!spec->int8 || spec->kind != AUEGEN_KIND_FORWARD)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "this call needs a forward spec with int8 = true");
    aule_status st = aule__kernel_get(ctx, spec, fwd, NULL);
    if (st == AULE_OK && quant)
        st = aule__kernel_get_part(ctx, spec, KERNEL_INT8_QUANT, quant, NULL);
    return st;
}

aule_status aule__int8_forward_batch(aule_context *ctx, const auegen_spec *spec, const aule_forward_args *args,
                                     const aule_int8_args *int8, int count)
{
    if (!ctx || !spec || !args || count < 1)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "int8 attention: NULL argument or count < 1");
    kernel_entry *fwd, *quant;
    aule_status st = int8_kernels(ctx, spec, &fwd, &quant);
    if (st != AULE_OK)
        return st;
    prepared_call *calls = malloc((size_t)count * 3 * sizeof *calls);
    if (!calls)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    /* First the sizes (every call's tensors side by side), then the calls against the grown workspace. */
    uint64_t words = 0;
    for (int i = 0; i < count && st == AULE_OK; i++)
        st = prepare_one(ctx, &fwd->spec, fwd, quant, &args[i], int8, &words, NULL, NULL, true);
    if (st == AULE_OK) {
        pthread_mutex_lock(&ctx->workspace_lock);
        st = aule__workspace_reserve(ctx, words * 4 + 4);
        int total = 0;
        uint64_t at = 0;
        for (int i = 0; i < count && st == AULE_OK; i++) {
            int n = 0;
            st = prepare_one(ctx, &fwd->spec, fwd, quant, &args[i], int8, &at, calls + total, &n, false);
            total += n;
        }
        if (st == AULE_OK)
            st = aule__dispatch_run(ctx, fwd, calls, total);
        pthread_mutex_unlock(&ctx->workspace_lock);
    }
    free(calls);
    return st;
}

aule_status aule_attention_forward_int8(aule_context *ctx, const auegen_spec *spec, const aule_forward_args *args,
                                        const aule_int8_args *int8)
{
    return aule__int8_forward_batch(ctx, spec, args, int8, 1);
}

aule_status aule_int8_k_descs(aule_context *ctx, const auegen_spec *spec, int64_t batch, int64_t kv_heads, int64_t seq_k,
                              aule_tensor_desc *k8, aule_tensor_desc *k_scale, aule_tensor_desc *k_mean)
{
    if (!ctx || !spec || !k8 || !k_scale || !k_mean || batch < 1 || kv_heads < 1 || seq_k < 0)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_int8_k_descs: NULL argument or bad shape");
    kernel_entry *fwd;
    aule_status st = int8_kernels(ctx, spec, &fwd, NULL);
    if (st != AULE_OK)
        return st;
    int8_sizes z = sizes_for(&fwd->spec, &fwd->plan, batch, kv_heads, 0, seq_k);
    *k8 = (aule_tensor_desc){.dtype = AULE_DTYPE_I8, .ndim = 4,
                             .shape = {batch, kv_heads, (int64_t)(z.k_pad ? z.k_pad : (uint64_t)fwd->plan.tile_kv),
                                       (int64_t)z.rw * 4}};
    *k_scale = (aule_tensor_desc){.dtype = AULE_DTYPE_F32, .ndim = 3,
                                  .shape = {batch, kv_heads, 2 * (int64_t)(z.k_tiles ? z.k_tiles : 1)}};
    *k_mean = (aule_tensor_desc){.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {batch, kv_heads, 3 * (int64_t)fwd->spec.head_dim}};
    return AULE_OK;
}

aule_status aule_int8_quantize_k(aule_context *ctx, const auegen_spec *spec, const aule_tensor *k, bool no_smoothing,
                                 const aule_int8_k *out)
{
    if (!ctx || !spec || !k || !out)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_int8_quantize_k: NULL argument");
    kernel_entry *fwd, *quant;
    aule_status st = int8_kernels(ctx, spec, &fwd, &quant);
    if (st == AULE_OK)
        st = aule__check_tensor(ctx, k, "k", (aule_dtype)fwd->spec.dtype, 4);
    if (st != AULE_OK)
        return st;
    const int64_t *ks = k->desc.shape;
    if (ks[3] != fwd->spec.head_dim)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "k must have head_dim %d (got %lld)", fwd->spec.head_dim,
                         (long long)ks[3]);
    if (ks[0] > 65535 || ks[1] > 65535)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "too many sequences or KV heads for one launch");
    int8_sizes z = sizes_for(&fwd->spec, &fwd->plan, ks[0], ks[1], 0, ks[2]);
    if (ks[2] == 0)
        z.k_pad = (uint64_t)fwd->plan.tile_kv, z.k_tiles = 1;
    if ((st = check_quantized_k(ctx, &fwd->spec, &z, ks[0], ks[1], out)))
        return st;
    int8_place w = {.q8 = ctx->dummy, .q_scale = ctx->dummy, .q_corr = ctx->dummy, .k8 = out->k8->buffer,
                    .k_scale = out->k_scale->buffer, .k_mean = out->k_mean->buffer};
    prepared_call calls[2];
    uint32_t smooth = no_smoothing ? 0 : AUEGEN_INT8_QUANT_SMOOTH;
    quant_call(ctx, quant, &calls[0], AUEGEN_INT8_QUANT_MEAN | smooth, &fwd->spec, &z, NULL, k, ks[0], 0, ks[1], 0, ks[2],
               1.0f, &w);
    quant_call(ctx, quant, &calls[1], AUEGEN_INT8_QUANT_QUANT_K | AUEGEN_INT8_QUANT_NO_Q, &fwd->spec, &z, NULL, k, ks[0], 0,
               ks[1], 0, ks[2], 1.0f, &w);
    return aule__dispatch_run(ctx, quant, calls, ks[2] > 0 ? 2 : 1);
}
