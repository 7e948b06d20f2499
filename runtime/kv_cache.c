/* SPDX-License-Identifier: MIT */
/*
 * kv_cache.c - what the decode and append launchers share: the KV cache's
 * layout checks (paged or contiguous, int8 scales), block tables and lengths
 * read back and checked on the host, and the typed launchers' kernel check.
 */
#include "runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads an int32 tensor to the host (lengths and block tables are small). */
aule_status aule__read_ints(aule_context *ctx, const aule_tensor *t, int32_t **out)
{
    *out = malloc(t->bytes ? t->bytes : 4);
    if (!*out)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    aule_status st = aule_tensor_read(t, *out, t->bytes);
    if (st != AULE_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* The cache layout of a decode spec: paged [pages][page_size][Hkv][D] with a
 * block table [B][max_pages], or contiguous [B][Hkv][S_max][D]. Gives the
 * tokens a sequence can hold and the number of pages. */
aule_status aule__check_cache(aule_context *ctx, const auegen_spec *spec, const aule_tensor *kc, const aule_tensor *vc,
                               const aule_tensor *table, int64_t batch, int64_t kv_heads, int64_t *capacity,
                               int64_t *pages)
{
    const int64_t *ks = kc->desc.shape, *vs = vc->desc.shape;
    int64_t d = spec->head_dim, dv = spec->head_dim_v;
    *pages = 0;
    if (spec->page_size > 0) {
        *pages = ks[0];
        if (ks[1] != spec->page_size || ks[2] != kv_heads || ks[3] != d || vs[0] != ks[0] || vs[1] != spec->page_size
            || vs[2] != kv_heads || vs[3] != dv)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                             "paged caches are [pages][%d][Hkv=%lld][D]: k_cache [%lld][%lld][%lld][%lld] and v_cache "
                             "[%lld][%lld][%lld][%lld] do not fit (D %lld, Dv %lld)", spec->page_size,
                             (long long)kv_heads, (long long)ks[0], (long long)ks[1], (long long)ks[2],
                             (long long)ks[3], (long long)vs[0], (long long)vs[1], (long long)vs[2], (long long)vs[3],
                             (long long)d, (long long)dv);
        aule_status st;
        if (!table)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "a paged cache needs block_table");
        if ((st = aule__check_tensor(ctx, table, "block_table", AULE_DTYPE_I32, 2)))
            return st;
        if (table->desc.shape[0] != batch)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "block_table has %lld rows for %lld sequences",
                             (long long)table->desc.shape[0], (long long)batch);
        *capacity = table->desc.shape[1] * spec->page_size;
        return AULE_OK;
    }
    if (ks[0] != batch || ks[1] != kv_heads || ks[3] != d || vs[0] != batch || vs[1] != kv_heads || vs[2] != ks[2]
        || vs[3] != dv)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "contiguous caches are [B][Hkv][S_max][D]: k_cache [%lld][%lld][%lld][%lld], v_cache "
                         "[%lld][%lld][%lld][%lld]", (long long)ks[0], (long long)ks[1], (long long)ks[2],
                         (long long)ks[3], (long long)vs[0], (long long)vs[1], (long long)vs[2], (long long)vs[3]);
    *capacity = ks[2];
    return AULE_OK;
}

/* An int8 cache's scales: fp32 [pages][Hkv][D] and [pages][Hkv][Dv], contiguous. */
aule_status aule__check_scales(aule_context *ctx, const auegen_spec *spec, const aule_tensor *ks, const aule_tensor *vs,
                                int64_t pages, int64_t kv_heads)
{
    if (!spec->kv_int8)
        return AULE_OK;
    if (!ks || !vs)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "an int8 KV cache needs k_scale and v_scale");
    aule_status st;
    if ((st = aule__check_tensor(ctx, ks, "k_scale", AULE_DTYPE_F32, 3)) || (st = aule__check_tensor(ctx, vs, "v_scale", AULE_DTYPE_F32, 3)))
        return st;
    const int64_t *a = ks->desc.shape, *b = vs->desc.shape, *sa = ks->desc.strides, *sb = vs->desc.strides;
    if (a[0] != pages || a[1] != kv_heads || a[2] != spec->head_dim || b[0] != pages || b[1] != kv_heads
        || b[2] != spec->head_dim_v || sa[1] != a[2] || sa[0] != a[1] * a[2] || sb[1] != b[2] || sb[0] != b[1] * b[2])
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "k_scale and v_scale must be contiguous [%lld][%lld][%d] and [%lld][%lld][%d]", (long long)pages,
                         (long long)kv_heads, spec->head_dim, (long long)pages, (long long)kv_heads, spec->head_dim_v);
    return AULE_OK;
}

/* Every page that positions [first, first + count) of sequence b use must exist. */
aule_status aule__check_pages(aule_context *ctx, const auegen_spec *spec, const aule_tensor *table,
                               const int32_t *entries, int64_t b, int64_t first, int64_t count, int64_t pages)
{
    if (spec->page_size == 0 || count <= 0)
        return AULE_OK;
    const int64_t *bs = table->desc.strides;
    for (int64_t pg = first / spec->page_size; pg <= (first + count - 1) / spec->page_size; pg++) {
        int32_t page = entries[b * bs[0] + pg * bs[1]];
        if (page < 0 || page >= pages)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                             "block_table[%lld][%lld] = %d is not a page of the cache (0..%lld)", (long long)b,
                             (long long)pg, page, (long long)pages - 1);
    }
    return AULE_OK;
}

/* The spec of a decode entry point (`what`), validated again and of kind decode. */
aule_status aule__decode_spec(aule_context *ctx, const auegen_spec *in, const char *what, auegen_spec *out)
{
    auegen_diag diag = {0};
    if (auegen_spec_normalize(in, out, &diag) != AUEGEN_OK)
        return aule_fail(ctx, AULE_ERROR_GENERATOR, "invalid spec: %s", diag.errors[0].message);
    if (out->kind != AUEGEN_KIND_DECODE)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s needs a spec of kind = \"decode\"", what);
    return AULE_OK;
}

/* A linked-in kernel of family f (a typed launcher's), ready in this context. */
aule_status aule__linked_kernel(aule_context *ctx, const auegen_kernel_info *info, auegen_family f, const char *what,
                                 kernel_entry **e)
{
    if (!ctx || !info)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s: NULL argument", what);
    if (info->plan.family != f)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "kernel %s is a %s kernel, not a %s kernel", info->name,
                         auegen_family_abi_get(info->plan.family) ? auegen_family_abi_get(info->plan.family)->name : "?",
                         auegen_family_abi_get(f)->name);
    return aule__kernel_for_info(ctx, info, e);
}
