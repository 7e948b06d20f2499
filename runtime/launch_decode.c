/* SPDX-License-Identifier: MIT */
/*
 * launch_decode.c - the decode family's launcher: checks the query, cache,
 * block table and lengths, plans the KV split from the device and the
 * lengths, and runs the decode kernel and (when split) its reduce part, the
 * log-sum-exp merge, in one submission.
 */
#include "runtime_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DECODE_MAX_SQ = 16, DECODE_MAX_SPLITS = 128 };

aule_status aule__workspace_reserve(aule_context *ctx, VkDeviceSize bytes)
{
    if (ctx->cpu)
        return aule__cpu_workspace_reserve(ctx, (size_t)bytes);
    if (ctx->workspace_size >= bytes)
        return AULE_OK;
    aule__buffer_destroy(ctx, ctx->workspace, ctx->workspace_memory);
    ctx->workspace = VK_NULL_HANDLE;
    ctx->workspace_memory = VK_NULL_HANDLE;
    ctx->workspace_size = 0;
    VkDeviceSize size = bytes < (1 << 20) ? (1 << 20) : bytes;
    aule_status st = aule__buffer_create(ctx, size, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
                                   0, &ctx->workspace, &ctx->workspace_memory, NULL);
    if (st == AULE_OK)
        ctx->workspace_size = size;
    return st;
}

/* The decode launcher: checks, plans the split, fills the decode and reduce
 * calls and submits them. e: a linked-in kernel (typed launch), or NULL to
 * look the spec's kernel up. */
static aule_status decode_launch(aule_context *ctx, const auegen_spec *spec_in, kernel_entry *e,
                                 const aule_decode_args *a)
{
    if (!ctx || !spec_in || !a || !a->q || !a->k_cache || !a->v_cache || !a->seq_lens || !a->o)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "decode: q, k_cache, v_cache, seq_lens and o are required");
    auegen_spec spec;
    aule_status st = aule__decode_spec(ctx, spec_in, "decode", &spec);
    if (st != AULE_OK)
        return st;
    aule_dtype dt = (aule_dtype)spec.dtype;
    bool paged = spec.page_size > 0;
    aule_dtype cache_dt = spec.kv_int8 ? AULE_DTYPE_I8 : dt;
    if ((st = aule__check_tensor(ctx, a->q, "q", dt, 4)) || (st = aule__check_tensor(ctx, a->o, "o", dt, 4))
        || (st = aule__check_tensor(ctx, a->k_cache, "k_cache", cache_dt, 4))
        || (st = aule__check_tensor(ctx, a->v_cache, "v_cache", cache_dt, 4))
        || (st = aule__check_tensor(ctx, a->seq_lens, "seq_lens", AULE_DTYPE_I32, 1)))
        return st;
    const int64_t *qs = a->q->desc.shape, *ks = a->k_cache->desc.shape;
    int64_t batch = qs[0], heads = qs[1], sq = qs[2], d = spec.head_dim, dv = spec.head_dim_v;
    int64_t kv_heads = paged ? ks[2] : ks[1];
    if (qs[3] != d)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "q must have head_dim %lld (got %lld)", (long long)d,
                         (long long)qs[3]);
    if (sq > DECODE_MAX_SQ)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "decode takes 1..%d query tokens per sequence (got %lld)",
                         DECODE_MAX_SQ, (long long)sq);
    if (heads != kv_heads * spec.gqa)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "q has %lld heads and the cache %lld: gqa = %d needs H = Hkv * %d",
                         (long long)heads, (long long)kv_heads, spec.gqa, spec.gqa);
    int64_t capacity, pages;
    if ((st = aule__check_cache(ctx, &spec, a->k_cache, a->v_cache, a->block_table, batch, kv_heads, &capacity, &pages))
        || (st = aule__check_scales(ctx, &spec, a->k_scale, a->v_scale, pages, kv_heads)))
        return st;
    if (a->seq_lens->desc.shape[0] != batch)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "seq_lens has %lld entries for %lld sequences",
                         (long long)a->seq_lens->desc.shape[0], (long long)batch);
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
    if ((st = aule__check_sinks(ctx, &spec, a->sinks, heads)))
        return st;
    if (a->num_splits < 0 || a->num_splits > DECODE_MAX_SPLITS)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "num_splits must be 0 (auto) or 1..%d", DECODE_MAX_SPLITS);
    float scale = a->scale == 0.0f ? 1.0f / sqrtf((float)d) : a->scale;
    if (!isfinite(scale))
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "scale must be finite");

    /* Lengths and block tables, checked before any kernel runs. */
    int32_t *lens = NULL, *table = NULL;
    if ((st = aule__read_ints(ctx, a->seq_lens, &lens)))
        return st;
    if (paged && (st = aule__read_ints(ctx, a->block_table, &table))) {
        free(lens);
        return st;
    }
    int64_t longest = 0;
    for (int64_t b = 0; b < batch && st == AULE_OK; b++) {
        int32_t len = lens[b * a->seq_lens->desc.strides[0]];
        if (len < 0 || len > capacity) {
            st = aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "seq_lens[%lld] = %d is outside 0..%lld (what the %s holds)",
                           (long long)b, len, (long long)capacity, paged ? "block table" : "cache");
            break;
        }
        longest = len > longest ? len : longest;
        st = aule__check_pages(ctx, &spec, a->block_table, table, b, 0, len, pages);
    }
    free(lens);
    free(table);
    if (st != AULE_OK)
        return st;

    kernel_entry *reduce = NULL;
    if (!e && (st = aule__kernel_get(ctx, &spec, &e, NULL)))
        return st;
    uint32_t rows = (uint32_t)(sq * spec.gqa);
    uint32_t row_tiles = (rows + (uint32_t)e->plan.tile_q - 1) / (uint32_t)e->plan.tile_q;
    int64_t bc = e->plan.tile_kv;
    /* Splits: enough workgroups to fill the device, each with at least four key tiles. */
    int64_t splits = a->num_splits;
    if (splits == 0) {
        /* Four workgroups per compute unit where the driver says how many there are. */
        int64_t cus = ctx->info.caps.compute_units;
        int64_t want = ctx->cpu ? 2 * cus : ctx->info.type == AULE_DEVICE_CPU ? 4 : cus > 0 ? 4 * cus : 528;
        int64_t groups = (int64_t)row_tiles * kv_heads * batch;
        splits = (want + groups - 1) / groups;
        int64_t most = (longest + 4 * bc - 1) / (4 * bc);
        splits = splits < most ? splits : most;
        splits = splits < 1 ? 1 : splits > DECODE_MAX_SPLITS ? DECODE_MAX_SPLITS : splits;
    }
    int64_t split_len = (longest + splits - 1) / splits;
    split_len = (split_len + bc - 1) / bc * bc;
    if (split_len < bc)
        split_len = bc;
    if ((uint64_t)row_tiles * (uint64_t)splits > UINT32_MAX)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "decode problem too large for one launch");
    if (splits > 1 && (st = aule__kernel_get_part(ctx, &spec, KERNEL_REDUCE, &reduce, NULL)))
        return st;

    prepared_call calls[2];
    aule__call_init(ctx, &calls[0], AUEGEN_FAMILY_DECODE);
    auegen_decode_push *p = &calls[0].push.decode;
    p->batch = (uint32_t)batch;
    p->heads = (uint32_t)heads;
    p->kv_heads = (uint32_t)kv_heads;
    p->seq_q = (uint32_t)sq;
    p->seq_k = (uint32_t)capacity;
    const int64_t *s = a->q->desc.strides;
    p->q_stride_b = (uint32_t)s[0]; p->q_stride_h = (uint32_t)s[1]; p->q_stride_s = (uint32_t)s[2];
    s = a->o->desc.strides;
    p->o_stride_b = (uint32_t)s[0]; p->o_stride_h = (uint32_t)s[1]; p->o_stride_s = (uint32_t)s[2];
    const int64_t *kst = a->k_cache->desc.strides, *vst = a->v_cache->desc.strides;
    if (paged) {       /* slot stride, head stride */
        p->k_stride_s = (uint32_t)kst[1]; p->k_stride_h = (uint32_t)kst[2];
        p->v_stride_s = (uint32_t)vst[1]; p->v_stride_h = (uint32_t)vst[2];
        p->bt_stride = (uint32_t)a->block_table->desc.strides[0];
    } else {
        p->k_stride_b = (uint32_t)kst[0]; p->k_stride_h = (uint32_t)kst[1]; p->k_stride_s = (uint32_t)kst[2];
        p->v_stride_b = (uint32_t)vst[0]; p->v_stride_h = (uint32_t)vst[1]; p->v_stride_s = (uint32_t)vst[2];
    }
    if (a->lse) {
        p->lse_stride_b = (uint32_t)a->lse->desc.strides[0];
        p->lse_stride_h = (uint32_t)a->lse->desc.strides[1];
        p->flags |= AUEGEN_FORWARD_WRITE_LSE;
    }
    p->scale = scale;
    p->splits = (uint32_t)splits;
    p->split_len = (uint32_t)split_len;
    p->row_tiles = row_tiles;
    uint64_t partial_rows = (uint64_t)batch * (uint64_t)heads * (uint64_t)sq * (uint64_t)splits;
    p->ws_lse = (uint32_t)(partial_rows * (uint64_t)dv);
    VkBuffer *bind = calls[0].buffers;
    AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_Q, a->q);
    AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_K, a->k_cache);
    AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_V, a->v_cache);
    AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_O, a->o);
    if (a->lse)
        AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_LSE, a->lse);
    AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_SEQ_LENS, a->seq_lens);
    if (paged)
        AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_BLOCK_TABLE, a->block_table);
    if (spec.kv_int8) {
        AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_K_SCALE, a->k_scale);
        AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_V_SCALE, a->v_scale);
    }
    if (a->sinks)   /* split: the merge adds the sinks, the splits do not */
        AULE_BIND(&calls[0], AUEGEN_DECODE_BINDING_SINKS, a->sinks);
    calls[0].groups_x = (uint32_t)(row_tiles * splits);
    calls[0].groups_y = (uint32_t)kv_heads;
    calls[0].groups_z = (uint32_t)batch;
    if (splits == 1)
        return aule__dispatch_run(ctx, e, calls, 1);

    /* Split: partials into the workspace, then the merge; the workspace is shared by the context. */
    uint64_t ws_bytes = partial_rows * (uint64_t)(dv + 1) * sizeof(float);
    if (partial_rows * (uint64_t)(dv + 1) > UINT32_MAX || ws_bytes > ctx->info.max_storage_buffer_range)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "the split-K workspace (%llu bytes) exceeds the device's "
                         "buffer range: pass a smaller num_splits", (unsigned long long)ws_bytes);
    pthread_mutex_lock(&ctx->workspace_lock);
    st = aule__workspace_reserve(ctx, ws_bytes);
    if (st == AULE_OK) {
        bind[AUEGEN_DECODE_BINDING_LSE] = ctx->workspace;
        calls[0].host[AUEGEN_DECODE_BINDING_LSE] = ctx->cpu_workspace;
        prepared_call *m = &calls[1];
        aule__call_init(ctx, m, AUEGEN_FAMILY_REDUCE);
        m->kernel = reduce;
        auegen_reduce_push *r = &m->push.reduce;
        r->batch = p->batch;
        r->heads = p->heads;
        r->seq_q = p->seq_q;
        r->o_stride_b = p->o_stride_b; r->o_stride_h = p->o_stride_h; r->o_stride_s = p->o_stride_s;
        r->lse_stride_b = p->lse_stride_b; r->lse_stride_h = p->lse_stride_h;
        r->flags = p->flags & AUEGEN_FORWARD_WRITE_LSE;
        r->splits = p->splits;
        r->ws_lse = p->ws_lse;
        if (a->lse)
            AULE_BIND(m, AUEGEN_REDUCE_BINDING_LSE, a->lse);
        AULE_BIND(m, AUEGEN_REDUCE_BINDING_O, a->o);
        m->buffers[AUEGEN_REDUCE_BINDING_WORKSPACE] = ctx->workspace;
        m->host[AUEGEN_REDUCE_BINDING_WORKSPACE] = ctx->cpu_workspace;
        if (a->sinks)
            AULE_BIND(m, AUEGEN_REDUCE_BINDING_SINKS, a->sinks);
        uint64_t out_rows = (uint64_t)batch * (uint64_t)heads * (uint64_t)sq;
        uint64_t wg = (uint64_t)reduce->plan.workgroup_size;
        m->groups_x = (uint32_t)((out_rows + wg - 1) / wg);
        m->groups_y = 1;
        m->groups_z = 1;
        st = aule__dispatch_run(ctx, e, calls, 2);
    }
    pthread_mutex_unlock(&ctx->workspace_lock);
    return st;
}

aule_status aule_attention_decode(aule_context *ctx, const auegen_spec *spec, const aule_decode_args *args)
{
    return decode_launch(ctx, spec, NULL, args);
}

aule_status aule_decode_launch(aule_context *ctx, const auegen_kernel_info *kernel, const aule_decode_args *args)
{
    kernel_entry *e;
    aule_status st = aule__linked_kernel(ctx, kernel, AUEGEN_FAMILY_DECODE, "aule_decode_launch", &e);
    return st == AULE_OK ? decode_launch(ctx, &kernel->spec, e, args) : st;
}
