/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - records the dispatches of prepared calls and submits them
 * (each family's launcher prepares its calls: launch_*.c). Command buffers, fences and descriptor sets live in slots that are
 * created once and reused; no Vulkan object is created per call. A batch of
 * calls goes into one command buffer and one submission.
 */
#include "runtime_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

aule_status aule__dispatch_init(aule_context *ctx)
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

void aule__dispatch_release(aule_context *ctx)
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
    aule__buffer_destroy(ctx, ctx->staging, ctx->staging_memory);
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
    VkBuffer(*bound)[AUEGEN_BINDING_MAX] = realloc(s->bound, (size_t)cap * sizeof *bound);
    if (bound)
        s->bound = bound;
    if (!sets || !bound)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    memset(s->bound, 0, (size_t)cap * sizeof *s->bound);
    VkDescriptorPoolSize size = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                 .descriptorCount = (uint32_t)(cap * AUEGEN_BINDING_MAX)};
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


aule_status aule__check_tensor(aule_context *ctx, const aule_tensor *t, const char *name, aule_dtype dtype, int ndim)
{
    aule_status st = aule__tensor_check_live(ctx, t, name);   /* before anything reads *t */
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

aule_status aule__check_sinks(aule_context *ctx, const auegen_spec *spec, const aule_tensor *sinks, int64_t heads)
{
    if (!spec->sinks)
        return sinks ? aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "sinks given, but the spec has no sinks = true")
                     : AULE_OK;
    if (!sinks)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "the spec has sinks = true: pass sinks, fp32 [H]");
    aule_status st = aule__check_tensor(ctx, sinks, "sinks", AULE_DTYPE_F32, 1);
    if (st == AULE_OK && sinks->desc.shape[0] != heads)
        st = aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "sinks must be [%lld] (one per query head; got [%lld])",
                       (long long)heads, (long long)sinks->desc.shape[0]);
    return st;
}

void aule__call_init(aule_context *ctx, prepared_call *c, auegen_family f)
{
    memset(c, 0, sizeof *c);
    c->push_bytes = auegen_family_abi_get(f)->push_bytes;
    for (int b = 0; b < AUEGEN_BINDING_MAX; b++)
        c->buffers[b] = ctx->dummy;
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
                VkDescriptorBufferInfo info[AUEGEN_BINDING_MAX];
                VkWriteDescriptorSet w[AUEGEN_BINDING_MAX];
                for (int b = 0; b < AUEGEN_BINDING_MAX; b++) {
                    info[b] = (VkDescriptorBufferInfo){.buffer = c->buffers[b], .offset = 0, .range = VK_WHOLE_SIZE};
                    w[b] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                                  .dstSet = s->sets[i], .dstBinding = (uint32_t)b,
                                                  .descriptorCount = 1,
                                                  .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                  .pBufferInfo = &info[b]};
                }
                ctx->vk.vkUpdateDescriptorSets(ctx->device, AUEGEN_BINDING_MAX, w, 0, NULL);
                memcpy(s->bound[i], c->buffers, sizeof c->buffers);
            }
            ctx->vk.vkCmdBindDescriptorSets(s->cb, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipeline_layout, 0, 1,
                                            &s->sets[i], 0, NULL);
            if (c->push_bytes)
                ctx->vk.vkCmdPushConstants(s->cb, ctx->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                           c->push_bytes, &c->push);
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

aule_status aule__dispatch_run(aule_context *ctx, const kernel_entry *e, const prepared_call *calls, int count)
{
    if (ctx->cpu)
        return aule__cpu_run(ctx, e, calls, count);
    return run(ctx, e, calls, count, false);
}

aule_status aule__dispatch_raw(aule_context *ctx, const kernel_entry *e, VkBuffer buffer)
{
    prepared_call c = {.groups_x = 1, .groups_y = 1, .groups_z = 1};
    for (int b = 0; b < AUEGEN_BINDING_MAX; b++)
        c.buffers[b] = buffer;
    return run(ctx, e, &c, 1, false);
}

aule_status aule_empty_dispatch(aule_context *ctx, int count)
{
    if (!ctx || count < 0)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_empty_dispatch: bad argument");
    if (ctx->cpu) {                 /* the CPU's floor: waking the thread pool */
        for (int i = 0; i < count; i++)
            aule__cpu_empty(ctx);
        return AULE_OK;
    }
    kernel_entry *e;
    aule_status st = aule__kernel_empty(ctx, &e);
    prepared_call c = {0};
    for (int i = 0; i < count && st == AULE_OK; i++)
        st = run(ctx, e, &c, 1, true);
    return st;
}
