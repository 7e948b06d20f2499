/*
 * dispatch.c - checks attention arguments, records the dispatches and submits
 * them. Command buffers, fences and descriptor sets live in slots that are
 * created once and reused; no Vulkan object is created per call. A batch of
 * calls goes into one command buffer and one submission.
 */
#include "runtime_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

aule_status dispatch_init(aule_context *ctx)
{
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = ctx->queue_family};
    VkResult r = ctx->vk.vkCreateCommandPool(ctx->device, &pi, NULL, &ctx->command_pool);
    if (r == VK_SUCCESS) {
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = ctx->command_pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
        r = ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &ctx->transfer_cb);
    }
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = ctx->vk.vkCreateFence(ctx->device, &fi, NULL, &ctx->transfer_fence);
    }
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "creating the command pool: %s", aule_vk_result_string(r));
    return AULE_OK;
}

void dispatch_release(aule_context *ctx)
{
    for (int i = 0; i < ctx->slot_count; i++) {
        dispatch_slot *s = &ctx->slots[i];
        if (s->fence)
            ctx->vk.vkDestroyFence(ctx->device, s->fence, NULL);
        if (s->pool)
            ctx->vk.vkDestroyDescriptorPool(ctx->device, s->pool, NULL);
        if (s->timestamps)
            ctx->vk.vkDestroyQueryPool(ctx->device, s->timestamps, NULL);
        free(s->sets);
        free(s->bound);
    }
    ctx->slot_count = 0;
    if (ctx->transfer_fence)
        ctx->vk.vkDestroyFence(ctx->device, ctx->transfer_fence, NULL);
    buffer_destroy(ctx, ctx->staging, ctx->staging_memory);
    if (ctx->command_pool)
        ctx->vk.vkDestroyCommandPool(ctx->device, ctx->command_pool, NULL);
}

/* Takes a free slot (making one when all are busy and there is room; else waits). */
static aule_status slot_acquire(aule_context *ctx, dispatch_slot **out)
{
    pthread_mutex_lock(&ctx->slot_lock);
    for (;;) {
        for (int i = 0; i < ctx->slot_count; i++) {
            dispatch_slot *s = &ctx->slots[i];
            if (!s->busy) {
                s->busy = true;
                /* A tensor was destroyed since this slot last ran: a later buffer may
                 * reuse its handle, so no descriptor set is trusted to hold what it did. */
                if (s->epoch != ctx->buffer_epoch) {
                    if (s->bound)
                        memset(s->bound, 0, (size_t)s->set_count * sizeof *s->bound);
                    s->epoch = ctx->buffer_epoch;
                }
                *out = s;
                pthread_mutex_unlock(&ctx->slot_lock);
                return AULE_OK;
            }
        }
        if (ctx->slot_count < AULE_MAX_SLOTS)
            break;
        pthread_cond_wait(&ctx->slot_free, &ctx->slot_lock);
    }
    dispatch_slot *s = &ctx->slots[ctx->slot_count];
    memset(s, 0, sizeof *s);
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = ctx->command_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    VkResult r = ctx->vk.vkAllocateCommandBuffers(ctx->device, &ai, &s->cb);
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = ctx->vk.vkCreateFence(ctx->device, &fi, NULL, &s->fence);
    }
    if (r == VK_SUCCESS && ctx->profile) {
        VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                    .queryType = VK_QUERY_TYPE_TIMESTAMP, .queryCount = 2};
        r = ctx->vk.vkCreateQueryPool(ctx->device, &qi, NULL, &s->timestamps);
    }
    if (r != VK_SUCCESS) {
        if (s->fence)
            ctx->vk.vkDestroyFence(ctx->device, s->fence, NULL);
        if (s->cb)
            ctx->vk.vkFreeCommandBuffers(ctx->device, ctx->command_pool, 1, &s->cb);
        pthread_mutex_unlock(&ctx->slot_lock);
        return aule_fail(ctx, aule_vk_status(r), "creating a command buffer: %s", aule_vk_result_string(r));
    }
    s->busy = true;
    s->epoch = ctx->buffer_epoch;
    ctx->slot_count++;
    *out = s;
    pthread_mutex_unlock(&ctx->slot_lock);
    return AULE_OK;
}

static void slot_release(aule_context *ctx, dispatch_slot *s)
{
    pthread_mutex_lock(&ctx->slot_lock);
    s->busy = false;
    pthread_cond_signal(&ctx->slot_free);
    pthread_mutex_unlock(&ctx->slot_lock);
}

/* Grows the slot's descriptor sets to at least n (only when a larger batch arrives).
 * The slot is busy: its arrays are this thread's alone (no other thread reads
 * them; aule_tensor_destroy only bumps ctx->buffer_epoch). */
static aule_status slot_sets(aule_context *ctx, dispatch_slot *s, int n)
{
    if (s->set_count >= n)
        return AULE_OK;
    int cap = s->set_count ? s->set_count : 1;
    while (cap < n)
        cap *= 2;
    if (s->pool)
        ctx->vk.vkDestroyDescriptorPool(ctx->device, s->pool, NULL);
    s->pool = VK_NULL_HANDLE;
    s->set_count = 0;
    VkDescriptorSet *sets = realloc(s->sets, (size_t)cap * sizeof *sets);
    if (sets)
        s->sets = sets;
    VkBuffer(*bound)[AUEGEN_BINDING_COUNT] = realloc(s->bound, (size_t)cap * sizeof *bound);
    if (bound)
        s->bound = bound;
    if (!sets || !bound)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    memset(s->bound, 0, (size_t)cap * sizeof *s->bound);
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 .descriptorCount = (uint32_t)(cap * AUEGEN_BINDING_COUNT)};
    VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                     .maxSets = (uint32_t)cap, .poolSizeCount = 1, .pPoolSizes = &size};
    VkResult r = ctx->vk.vkCreateDescriptorPool(ctx->device, &pi, NULL, &s->pool);
    VkDescriptorSetLayout *layouts = malloc((size_t)cap * sizeof *layouts);
    if (r == VK_SUCCESS && layouts) {
        for (int i = 0; i < cap; i++)
            layouts[i] = ctx->set_layout;
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = s->pool, .descriptorSetCount = (uint32_t)cap,
                                          .pSetLayouts = layouts};
        r = ctx->vk.vkAllocateDescriptorSets(ctx->device, &ai, s->sets);
    }
    free(layouts);
    if (!layouts && r == VK_SUCCESS)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "allocating descriptor sets: %s", aule_vk_result_string(r));
    s->set_count = cap;
    return AULE_OK;
}


static bool dims_are(const aule_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t *s = t->desc.shape;
    return s[0] == a && s[1] == b && s[2] == c && s[3] == d;
}

aule_status check_tensor(aule_context *ctx, const aule_tensor *t, const char *name, aule_dtype dtype, int ndim)
{
    aule_status st = tensor_check_live(ctx, t, name);   /* before anything reads *t */
    if (st != AULE_OK)
        return st;
    if ((int)t->desc.dtype != (int)dtype)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s has dtype %d; this kernel takes %d", name,
                         (int)t->desc.dtype, (int)dtype);
    if (t->desc.ndim != ndim)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s must have %d dimensions (has %d)", name, ndim,
                         t->desc.ndim);
    for (int i = 0; i < ndim; i++)
        if (t->desc.strides[i] > UINT32_MAX)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s stride %d is too large for 32-bit indexing", name, i);
    if (t->desc.shape[ndim - 1] > 1 && t->desc.strides[ndim - 1] != 1)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s must be contiguous in its last dimension", name);
    return AULE_OK;
}

static aule_status check_seqlens(aule_context *ctx, const aule_tensor *t, const char *name, int64_t total,
                                 int64_t *batch, int64_t *max_len)
{
    aule_status st = check_tensor(ctx, t, name, AULE_DTYPE_I32, 1);
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

static aule_status prepare_call(aule_context *ctx, const auegen_spec *spec, const auegen_plan *plan,
                                const aule_forward_args *a, prepared_call *c)
{
    if (!a || !a->q || !a->k || !a->v || !a->o)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "attention: q, k, v and o are required");
    aule_dtype dt = (aule_dtype)spec->dtype;
    aule_status st;
    if ((st = check_tensor(ctx, a->q, "q", dt, 4)) || (st = check_tensor(ctx, a->k, "k", dt, 4))
        || (st = check_tensor(ctx, a->v, "v", dt, 4)) || (st = check_tensor(ctx, a->o, "o", dt, 4)))
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
        if ((st = check_tensor(ctx, a->lse, "lse", AULE_DTYPE_F32, 3)))
            return st;
        const int64_t *ls = a->lse->desc.shape;
        if (ls[0] != qs[0] || ls[1] != heads || ls[2] != sq)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "lse must be [%lld][%lld][%lld]", (long long)qs[0],
                             (long long)heads, (long long)sq);
    }
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

    memset(c, 0, sizeof *c);
    auegen_forward_push *p = &c->push;
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
    c->buffers[AUEGEN_BINDING_Q] = a->q->buffer;
    c->buffers[AUEGEN_BINDING_K] = a->k->buffer;
    c->buffers[AUEGEN_BINDING_V] = a->v->buffer;
    c->buffers[AUEGEN_BINDING_O] = a->o->buffer;
    c->buffers[AUEGEN_BINDING_LSE] = a->lse ? a->lse->buffer : ctx->dummy;
    c->buffers[AUEGEN_BINDING_CU_SEQLENS_Q] = varlen ? a->cu_seqlens_q->buffer : ctx->dummy;
    c->buffers[AUEGEN_BINDING_CU_SEQLENS_K] = varlen ? a->cu_seqlens_k->buffer : ctx->dummy;
    c->groups_x = (uint32_t)gx;
    c->groups_y = (uint32_t)kv_heads;
    c->groups_z = (uint32_t)batch;
    return AULE_OK;
}

/* Records count calls of kernel e, submits them once and waits. */
static aule_status run(aule_context *ctx, const kernel_entry *e, const prepared_call *calls, int count, bool empty)
{
    dispatch_slot *s = NULL;
    aule_status st = slot_acquire(ctx, &s);
    if (st != AULE_OK)
        return st;
    if (!empty && (st = slot_sets(ctx, s, count)) != AULE_OK) {
        slot_release(ctx, s);
        return st;
    }
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = ctx->vk.vkBeginCommandBuffer(s->cb, &bi);
    if (r == VK_SUCCESS) {
        if (s->timestamps) {
            ctx->vk.vkCmdResetQueryPool(s->cb, s->timestamps, 0, 2);
            ctx->vk.vkCmdWriteTimestamp(s->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->timestamps, 0);
        }
        const kernel_entry *bound = e;
        ctx->vk.vkCmdBindPipeline(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, e->pipeline);
        VkMemoryBarrier between = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                   .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                   .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
        uint32_t max_x = ctx->info.max_workgroup_count_x ? ctx->info.max_workgroup_count_x : 65535;
        for (int i = 0; i < count; i++) {
            const prepared_call *c = &calls[i];
            if (i > 0)  /* a later call may read what an earlier one wrote */
                ctx->vk.vkCmdPipelineBarrier(s->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                             VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &between, 0, NULL, 0, NULL);
            if (empty) {
                ctx->vk.vkCmdDispatch(s->cb, 1, 1, 1);
                continue;
            }
            if (c->kernel && c->kernel != bound) {
                bound = c->kernel;
                ctx->vk.vkCmdBindPipeline(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, bound->pipeline);
            }
            /* A set already holding these buffers (the same tensors again) is not rewritten. */
            if (memcmp(s->bound[i], c->buffers, sizeof c->buffers) != 0) {
                VkDescriptorBufferInfo info[AUEGEN_BINDING_COUNT];
                VkWriteDescriptorSet w[AUEGEN_BINDING_COUNT];
                for (int b = 0; b < AUEGEN_BINDING_COUNT; b++) {
                    info[b] = (VkDescriptorBufferInfo){.buffer = c->buffers[b], .offset = 0, .range = VK_WHOLE_SIZE};
                    w[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                                  .dstSet = s->sets[i], .dstBinding = (uint32_t)b,
                                                  .descriptorCount = 1,
                                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                  .pBufferInfo = &info[b]};
                }
                ctx->vk.vkUpdateDescriptorSets(ctx->device, AUEGEN_BINDING_COUNT, w, 0, NULL);
                memcpy(s->bound[i], c->buffers, sizeof c->buffers);
            }
            ctx->vk.vkCmdBindDescriptorSets(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipeline_layout, 0, 1,
                                            &s->sets[i], 0, NULL);
            ctx->vk.vkCmdPushConstants(s->cb, ctx->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                       sizeof c->push, &c->push);
            for (uint32_t x0 = 0; x0 < c->groups_x; x0 += max_x) {
                uint32_t nx = c->groups_x - x0 < max_x ? c->groups_x - x0 : max_x;
                ctx->vk.vkCmdDispatchBase(s->cb, x0, 0, 0, nx, c->groups_y, c->groups_z);
            }
        }
        if (s->timestamps)
            ctx->vk.vkCmdWriteTimestamp(s->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->timestamps, 1);
        /* Results become visible to mapped host reads after the fence. */
        VkMemoryBarrier to_host = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                   .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT, .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        ctx->vk.vkCmdPipelineBarrier(s->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                                     &to_host, 0, NULL, 0, NULL);
        r = ctx->vk.vkEndCommandBuffer(s->cb);
    }
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &s->cb};
        pthread_mutex_lock(&ctx->queue_lock);
        r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, s->fence);
        pthread_mutex_unlock(&ctx->queue_lock);
        if (r == VK_SUCCESS) {
            r = ctx->vk.vkWaitForFences(ctx->device, 1, &s->fence, VK_TRUE, UINT64_MAX);
            VkResult r2 = ctx->vk.vkResetFences(ctx->device, 1, &s->fence);
            if (r == VK_SUCCESS)
                r = r2;
        }
    }
    double gpu_ms = -1.0;
    if (r == VK_SUCCESS && s->timestamps) {
        uint64_t t[2];
        if (ctx->vk.vkGetQueryPoolResults(ctx->device, s->timestamps, 0, 2, sizeof t, t, sizeof t[0],
                                          VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS
            && t[1] >= t[0])
            gpu_ms = (double)(t[1] - t[0]) * ctx->info.timestamp_period_ns * 1e-6;
    }
    slot_release(ctx, s);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "submitting attention: %s", aule_vk_result_string(r));
    pthread_mutex_lock(&ctx->lock);
    ctx->stats.dispatches += (uint64_t)count;
    if (s->timestamps)
        ctx->last_gpu_ms = gpu_ms;
    pthread_mutex_unlock(&ctx->lock);
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
    kernel_entry *e;
    aule_status st = kernel_get(ctx, spec, &e, NULL);
    if (st != AULE_OK)
        return st;
    prepared_call one, *calls = count == 1 ? &one : malloc((size_t)count * sizeof *calls);
    if (!calls)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < count && st == AULE_OK; i++)
        st = prepare_call(ctx, &e->spec, &e->plan, &args[i], &calls[i]);
    if (st == AULE_OK)
        st = run(ctx, e, calls, count, false);
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
    if (kernel->spec.kind != AUEGEN_KIND_FORWARD)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "kernel %s is not a forward kernel", kernel->name);
    kernel_entry *e;
    aule_status st = kernel_for_info(ctx, kernel, &e);
    if (st != AULE_OK)
        return st;
    prepared_call c;
    st = prepare_call(ctx, &kernel->spec, &e->plan, args, &c);
    return st == AULE_OK ? run(ctx, e, &c, 1, false) : st;
}

aule_status dispatch_run(aule_context *ctx, const kernel_entry *e, const prepared_call *calls, int count)
{
    return run(ctx, e, calls, count, false);
}

aule_status dispatch_raw(aule_context *ctx, const kernel_entry *e, VkBuffer buffer)
{
    prepared_call c = {.groups_x = 1, .groups_y = 1, .groups_z = 1};
    for (int b = 0; b < AUEGEN_BINDING_COUNT; b++)
        c.buffers[b] = buffer;
    return run(ctx, e, &c, 1, false);
}

aule_status aule_empty_dispatch(aule_context *ctx, int count)
{
    if (!ctx || count < 0)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_empty_dispatch: bad argument");
    kernel_entry *e;
    aule_status st = kernel_empty(ctx, &e);
    prepared_call c = {0};
    for (int i = 0; i < count && st == AULE_OK; i++)
        st = run(ctx, e, &c, 1, true);
    return st;
}
