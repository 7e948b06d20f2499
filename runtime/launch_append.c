/* SPDX-License-Identifier: MIT */
/*
 * launch_append.c - the append family's launcher: writes new tokens' K and V
 * into a paged or contiguous KV cache (quantizing for an int8 cache), after
 * checking every position and page on the host.
 */
#include "runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static aule_status append_launch(aule_context *ctx, const auegen_spec *spec_in, kernel_entry *e,
                                 const aule_append_args *a)
{
    if (!ctx || !spec_in || !a || !a->k_new || !a->v_new || !a->k_cache || !a->v_cache || !a->positions)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "append: k_new, v_new, the caches and positions are required");
    auegen_spec spec;
    aule_status st = aule__decode_spec(ctx, spec_in, "append", &spec);
    if (st != AULE_OK)
        return st;
    aule_dtype dt = (aule_dtype)spec.dtype;
    aule_dtype cache_dt = spec.kv_int8 ? AULE_DTYPE_I8 : dt;
    if ((st = aule__check_tensor(ctx, a->k_new, "k_new", dt, 4)) || (st = aule__check_tensor(ctx, a->v_new, "v_new", dt, 4))
        || (st = aule__check_tensor(ctx, a->k_cache, "k_cache", cache_dt, 4))
        || (st = aule__check_tensor(ctx, a->v_cache, "v_cache", cache_dt, 4))
        || (st = aule__check_tensor(ctx, a->positions, "positions", AULE_DTYPE_I32, 1)))
        return st;
    const int64_t *kn = a->k_new->desc.shape, *vn = a->v_new->desc.shape;
    int64_t batch = kn[0], kv_heads = kn[1], n = kn[2];
    if (kn[3] != spec.head_dim || vn[0] != batch || vn[1] != kv_heads || vn[2] != n || vn[3] != spec.head_dim_v)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "k_new must be [B][Hkv][n][%d] and v_new [B][Hkv][n][%d]",
                         spec.head_dim, spec.head_dim_v);
    if (a->positions->desc.shape[0] != batch)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "positions has %lld entries for %lld sequences",
                         (long long)a->positions->desc.shape[0], (long long)batch);
    int64_t capacity, pages;
    if ((st = aule__check_cache(ctx, &spec, a->k_cache, a->v_cache, a->block_table, batch, kv_heads, &capacity, &pages))
        || (st = aule__check_scales(ctx, &spec, a->k_scale, a->v_scale, pages, kv_heads)))
        return st;
    int32_t *pos = NULL, *table = NULL;
    if ((st = aule__read_ints(ctx, a->positions, &pos)))
        return st;
    if (spec.page_size && (st = aule__read_ints(ctx, a->block_table, &table))) {
        free(pos);
        return st;
    }
    for (int64_t b = 0; b < batch && st == AULE_OK; b++) {
        int32_t first = pos[b * a->positions->desc.strides[0]];
        if (first < 0 || first + n > capacity)
            st = aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                           "positions[%lld] = %d: tokens %d..%lld do not fit the %lld the %s holds", (long long)b,
                           first, first, (long long)(first + n - 1), (long long)capacity,
                           spec.page_size ? "block table" : "cache");
        else
            st = aule__check_pages(ctx, &spec, a->block_table, table, b, first, n, pages);
    }
    free(pos);
    free(table);
    if (st != AULE_OK)
        return st;
    if (!e && (st = aule__kernel_get_part(ctx, &spec, KERNEL_APPEND, &e, NULL)))
        return st;
    prepared_call c;
    aule__call_init(ctx, &c, AUEGEN_FAMILY_APPEND);
    auegen_append_push *p = &c.push.append;
    p->batch = (uint32_t)batch;
    p->kv_heads = (uint32_t)kv_heads;
    p->tokens = (uint32_t)n;
    const int64_t *s = a->k_new->desc.strides;
    p->knew_stride_b = (uint32_t)s[0]; p->knew_stride_h = (uint32_t)s[1]; p->knew_stride_s = (uint32_t)s[2];
    s = a->v_new->desc.strides;
    p->vnew_stride_b = (uint32_t)s[0]; p->vnew_stride_h = (uint32_t)s[1]; p->vnew_stride_s = (uint32_t)s[2];
    const int64_t *kst = a->k_cache->desc.strides, *vst = a->v_cache->desc.strides;
    if (spec.page_size) {
        p->k_stride_s = (uint32_t)kst[1]; p->k_stride_h = (uint32_t)kst[2];
        p->v_stride_s = (uint32_t)vst[1]; p->v_stride_h = (uint32_t)vst[2];
        p->bt_stride = (uint32_t)a->block_table->desc.strides[0];
    } else {
        p->k_stride_b = (uint32_t)kst[0]; p->k_stride_h = (uint32_t)kst[1]; p->k_stride_s = (uint32_t)kst[2];
        p->v_stride_b = (uint32_t)vst[0]; p->v_stride_h = (uint32_t)vst[1]; p->v_stride_s = (uint32_t)vst[2];
    }
    AULE_BIND(&c, AUEGEN_APPEND_BINDING_K_NEW, a->k_new);
    AULE_BIND(&c, AUEGEN_APPEND_BINDING_V_NEW, a->v_new);
    AULE_BIND(&c, AUEGEN_APPEND_BINDING_K, a->k_cache);
    AULE_BIND(&c, AUEGEN_APPEND_BINDING_V, a->v_cache);
    AULE_BIND(&c, AUEGEN_APPEND_BINDING_POSITIONS, a->positions);
    if (spec.page_size)
        AULE_BIND(&c, AUEGEN_APPEND_BINDING_BLOCK_TABLE, a->block_table);
    if (spec.kv_int8) {
        /* One workgroup per (page touched, KV head, sequence); an invocation per channel. */
        AULE_BIND(&c, AUEGEN_APPEND_BINDING_K_SCALE, a->k_scale);
        AULE_BIND(&c, AUEGEN_APPEND_BINDING_V_SCALE, a->v_scale);
        c.groups_x = (uint32_t)((n + spec.page_size - 1) / spec.page_size + 1);
        c.groups_y = (uint32_t)kv_heads;
        c.groups_z = (uint32_t)batch;
        return aule__dispatch_run(ctx, e, &c, 1);
    }
    uint64_t dmax = (uint64_t)(spec.head_dim > spec.head_dim_v ? spec.head_dim : spec.head_dim_v);
    uint64_t total = (uint64_t)batch * (uint64_t)kv_heads * (uint64_t)n * dmax;
    uint64_t wg = (uint64_t)e->plan.workgroup_size;
    if (total > UINT32_MAX)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "append too large for one launch");
    c.groups_x = (uint32_t)((total + wg - 1) / wg);
    c.groups_y = c.groups_z = 1;
    return aule__dispatch_run(ctx, e, &c, 1);
}

aule_status aule_kv_append(aule_context *ctx, const auegen_spec *spec, const aule_append_args *args)
{
    return append_launch(ctx, spec, NULL, args);
}

aule_status aule_append_launch(aule_context *ctx, const auegen_kernel_info *kernel, const aule_append_args *args)
{
    kernel_entry *e;
    aule_status st = aule__linked_kernel(ctx, kernel, AUEGEN_FAMILY_APPEND, "aule_append_launch", &e);
    return st == AULE_OK ? append_launch(ctx, &kernel->spec, e, args) : st;
}
