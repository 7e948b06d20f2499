/* SPDX-License-Identifier: MIT */
/*
 * memory.c - device buffers and tensors. A tensor is one storage buffer,
 * created once and reused. Where device memory is host-visible (lavapipe,
 * integrated GPUs) tensors are mapped and written directly; elsewhere writes
 * and reads go through one staging buffer that the context keeps. On the
 * native CPU backend a tensor is 64-byte aligned host memory (map), zeroed.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE            /* MAP_ANONYMOUS, MAP_NORESERVE: large host tensors are mapped zero pages */
#endif
#include "runtime_internal.h"

#include <stdint.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

enum { STAGING_MAX = 64 << 20 };   /* larger transfers go in pieces */

aule_status aule__buffer_create(aule_context *ctx, VkDeviceSize size, VkBufferUsageFlags usage, VkMemoryPropertyFlags want,
                          VkMemoryPropertyFlags fallback, VkBuffer *buffer, VkDeviceMemory *memory, void **map)
{
    *buffer = VK_NULL_HANDLE;
    *memory = VK_NULL_HANDLE;
    if (map)
        *map = NULL;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = usage,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = ctx->vk.vkCreateBuffer(ctx->device, &bi, NULL, buffer);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreateBuffer(%llu bytes): %s", (unsigned long long)size,
                         aule_vk_result_string(r));
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, *buffer, &req);
    int type = aule__device_find_memory(ctx, req.memoryTypeBits, want);
    VkMemoryPropertyFlags got = want;
    if (type < 0 && fallback) {
        type = aule__device_find_memory(ctx, req.memoryTypeBits, fallback);
        got = fallback;
    }
    if (type < 0) {
        ctx->vk.vkDestroyBuffer(ctx->device, *buffer, NULL);
        *buffer = VK_NULL_HANDLE;
        return aule_fail(ctx, AULE_ERROR_DEVICE_MEMORY, "no memory type for a buffer of %llu bytes",
                         (unsigned long long)size);
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)type};
    r = aule__fault_vk() ? VK_ERROR_OUT_OF_DEVICE_MEMORY : ctx->vk.vkAllocateMemory(ctx->device, &ai, NULL, memory);
    if (r == VK_SUCCESS)
        r = ctx->vk.vkBindBufferMemory(ctx->device, *buffer, *memory, 0);
    if (r == VK_SUCCESS && map) {
        if (got & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
            r = ctx->vk.vkMapMemory(ctx->device, *memory, 0, VK_WHOLE_SIZE, 0, map);
    }
    if (r != VK_SUCCESS) {
        aule__buffer_destroy(ctx, *buffer, *memory);
        *buffer = VK_NULL_HANDLE;
        *memory = VK_NULL_HANDLE;
        return aule_fail(ctx, aule_vk_status(r), "allocating %llu bytes of device memory: %s",
                         (unsigned long long)size, aule_vk_result_string(r));
    }
    return AULE_OK;
}

void aule__buffer_destroy(aule_context *ctx, VkBuffer buffer, VkDeviceMemory memory)
{
    if (buffer)
        ctx->vk.vkDestroyBuffer(ctx->device, buffer, NULL);
    if (memory)
        ctx->vk.vkFreeMemory(ctx->device, memory, NULL);
}

/* --- live tensors ------------------------------------------------------------
 * Every tensor handed out is in one process-wide set until destroyed, so a
 * destroyed handle passed to a call is an error, not a use-after-free, and
 * a context being destroyed finds the tensors that outlive it: their device
 * memory is freed then and they become orphans (every use is an error; their
 * own destroy just frees the handle). A handle whose address malloc has since
 * given to a new tensor cannot be told from it: that is the limit of "cheap". */

#define TOMBSTONE ((aule_tensor *)1)

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static aule_tensor **live;         /* open addressing; NULL empty, TOMBSTONE deleted */
static size_t live_cap, live_used; /* used: entries and tombstones */

static size_t live_slot(const aule_tensor *t)
{
    uint64_t h = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (live_cap - 1);
}

/* The index of t in the set, or SIZE_MAX. Under live_lock. */
static size_t live_find(const aule_tensor *t)
{
    if (!live_cap || !t || t == TOMBSTONE)
        return SIZE_MAX;
    for (size_t i = live_slot(t), n = 0; n < live_cap; i = (i + 1) & (live_cap - 1), n++) {
        if (live[i] == t)
            return i;
        if (!live[i])
            return SIZE_MAX;
    }
    return SIZE_MAX;
}

static bool live_add(aule_tensor *t)
{
    pthread_mutex_lock(&live_lock);
    if ((live_used + 1) * 2 > live_cap) {
        size_t cap = live_cap ? live_cap * 2 : 64, old_cap = live_cap;
        aule_tensor **old = live, **grown = calloc(cap, sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&live_lock);
            return false;
        }
        live = grown;
        live_cap = cap;
        live_used = 0;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i] && old[i] != TOMBSTONE) {
                size_t j = live_slot(old[i]);
                while (live[j])
                    j = (j + 1) & (live_cap - 1);
                live[j] = old[i];
                live_used++;
            }
        }
        free(old);
    }
    size_t j = live_slot(t);
    while (live[j] && live[j] != TOMBSTONE)
        j = (j + 1) & (live_cap - 1);
    if (!live[j])
        live_used++;
    live[j] = t;
    pthread_mutex_unlock(&live_lock);
    return true;
}

aule_status aule__tensor_check_live(aule_context *ctx, const aule_tensor *t, const char *name)
{
    pthread_mutex_lock(&live_lock);
    bool found = live_find(t) != SIZE_MAX;
    const aule_context *owner = found ? t->ctx : NULL;
    pthread_mutex_unlock(&live_lock);
    if (!found)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s is not a live tensor (destroyed, or never created)",
                         name);
    if (!owner)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s outlived its context (destroyed before it)", name);
    if (owner != ctx)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "%s belongs to another context", name);
    return AULE_OK;
}

/* Host memory of a native-CPU tensor, zeroed and 64-byte aligned. Large ones
 * are mapped: the zero pages cost nothing until written, so a tensor that is
 * created and never filled does not take its size of memory. Those of 2 MiB or
 * more start on a 2 MiB boundary and ask for transparent huge pages
 * (MADV_HUGEPAGE: a hint, for kernels whose THP mode is "madvise"): decode
 * streams whole KV caches, and with 4 KiB pages the TLB misses cost a third of
 * the read bandwidth (docs/cpu.md). */
enum { HOST_MAP_BYTES = 1 << 20, HOST_HUGE_BYTES = 2 << 20 };

static size_t host_size(size_t bytes) { return (bytes + 63) / 64 * 64; }

static void *host_alloc(size_t bytes)
{
    size_t size = host_size(bytes);
    if (size >= HOST_HUGE_BYTES) {             /* map 2 MiB more, keep the aligned part */
        size_t span = size + HOST_HUGE_BYTES;
        char *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        char *at = (char *)(((uintptr_t)p + HOST_HUGE_BYTES - 1) & ~(uintptr_t)(HOST_HUGE_BYTES - 1));
        if (at > p)
            munmap(p, (size_t)(at - p));
        char *end = at + (size + 4095) / 4096 * 4096;   /* munmap takes whole pages (host_free's too) */
        if (p + span > end)
            munmap(end, (size_t)(p + span - end));
#ifdef MADV_HUGEPAGE
        madvise(at, size, MADV_HUGEPAGE);
#endif
        return at;
    }
    if (size >= HOST_MAP_BYTES) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    void *p = aligned_alloc(64, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static void host_free(void *p, size_t bytes)
{
    if (!p)
        return;
    if (host_size(bytes) >= HOST_MAP_BYTES)
        munmap(p, host_size(bytes));
    else
        free(p);
}

int aule__tensors_orphan(aule_context *ctx)
{
    int n = 0;
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < live_cap; i++) {
        aule_tensor *t = live[i];
        if (t && t != TOMBSTONE && t->ctx == ctx) {
            if (ctx->cpu)
                host_free(t->map, t->bytes);
            else
                aule__buffer_destroy(ctx, t->buffer, t->memory);
            t->buffer = VK_NULL_HANDLE;
            t->memory = VK_NULL_HANDLE;
            t->map = NULL;
            t->ctx = NULL;
            n++;
        }
    }
    pthread_mutex_unlock(&live_lock);
    return n;
}

/* The span in elements that shape and strides address, or 0 when invalid. */
static uint64_t span_elements(const aule_tensor_desc *d)
{
    uint64_t span = 1;
    for (int i = 0; i < d->ndim; i++) {
        if (d->shape[i] == 0)
            return 0;
        uint64_t ext = (uint64_t)(d->shape[i] - 1);
        uint64_t st = (uint64_t)d->strides[i];
        if (st && ext > UINT64_MAX / 2 / st)
            return 0;
        span += ext * st;
        if (span > (uint64_t)1 << 40)
            return 0;
    }
    return span;
}

aule_status aule_tensor_create(aule_context *ctx, const aule_tensor_desc *desc, aule_tensor **out)
{
    if (out)
        *out = NULL;
    if (!ctx || !desc || !out)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_create: NULL argument");
    size_t es = aule_dtype_size(desc->dtype);
    if (!es)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "tensor dtype %d is not one of f32, f16, bf16, i32",
                         (int)desc->dtype);
    if (desc->ndim < 1 || desc->ndim > AULE_MAX_DIMS)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "tensor ndim must be 1..%d (got %d)", AULE_MAX_DIMS,
                         desc->ndim);
    aule_tensor_desc d = *desc;
    bool contiguous = true;
    for (int i = 0; i < d.ndim; i++) {
        if (d.shape[i] < 1 || d.shape[i] > ((int64_t)1 << 32))
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "tensor shape[%d] must be in 1..2^32 (got %lld)", i,
                             (long long)d.shape[i]);
        if (d.strides[i] < 0)
            return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "tensor strides[%d] is negative (%lld)", i,
                             (long long)d.strides[i]);
        contiguous = contiguous && d.strides[i] == 0;
    }
    for (int i = d.ndim; i < AULE_MAX_DIMS; i++) {
        d.shape[i] = 1;
        d.strides[i] = 0;
    }
    if (contiguous) {
        /* Each dimension is at most 2^32, so four of them overflow 64 bits:
         * every product is checked (a stride that would not fit is refused). */
        int64_t s = 1;
        for (int i = d.ndim - 1; i >= 0; i--) {
            d.strides[i] = s;
            if (i > 0 && __builtin_mul_overflow(s, d.shape[i], &s))
                return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "tensor shape and strides address too much memory");
        }
    }
    uint64_t span = span_elements(&d);
    if (!span)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "tensor shape and strides address too much memory");
    uint64_t bytes = span * es;    /* span <= 2^40: no overflow */
    if (bytes > ctx->info.max_storage_buffer_range)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT,
                         "tensor of %llu bytes exceeds the device's storage buffer range (%llu bytes)",
                         (unsigned long long)bytes, (unsigned long long)ctx->info.max_storage_buffer_range);
    aule_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    t->ctx = ctx;
    t->desc = d;
    t->bytes = (size_t)bytes;
    VkBufferUsageFlags usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT
        | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    aule_status st;
    if (ctx->cpu) {
        t->map = host_alloc((size_t)bytes);
        st = t->map ? AULE_OK
                    : aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory for a tensor of %llu bytes",
                                (unsigned long long)bytes);
    } else if (ctx->info.unified_memory)
        st = aule__buffer_create(ctx, bytes, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | host,
                           VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, &t->buffer, &t->memory, &t->map);
    else
        st = aule__buffer_create(ctx, bytes, usage, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, &t->buffer, &t->memory, NULL);
    if (st == AULE_OK && !live_add(t)) {
        aule__buffer_destroy(ctx, t->buffer, t->memory);
        if (ctx->cpu)
            host_free(t->map, t->bytes);
        st = aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    if (st != AULE_OK) {
        free(t);
        return st;
    }
    *out = t;
    return AULE_OK;
}

void aule_tensor_destroy(aule_tensor *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&live_lock);
    size_t i = live_find(t);
    if (i != SIZE_MAX)
        live[i] = TOMBSTONE;
    pthread_mutex_unlock(&live_lock);
    if (i == SIZE_MAX)
        return;                     /* destroyed already: nothing to do, nothing to touch */
    aule_context *ctx = t->ctx;
    if (ctx) {                      /* NULL: an orphan, its memory went with its context */
        /* A later buffer may reuse this handle: descriptor sets must not think they
         * hold it. Slots compare their epoch with this one when next acquired (a
         * busy slot's arrays belong to the thread running it: not touched here). */
        pthread_mutex_lock(&ctx->slot_lock);
        ctx->buffer_epoch++;
        pthread_mutex_unlock(&ctx->slot_lock);
        if (ctx->cpu)
            host_free(t->map, t->bytes);
        else
            aule__buffer_destroy(ctx, t->buffer, t->memory);
    }
    free(t);
}

static bool tensor_live(const aule_tensor *t)
{
    pthread_mutex_lock(&live_lock);
    bool found = live_find(t) != SIZE_MAX && t->ctx;
    pthread_mutex_unlock(&live_lock);
    return found;
}

const aule_tensor_desc *aule_tensor_get_desc(const aule_tensor *t) { return tensor_live(t) ? &t->desc : NULL; }
size_t aule_tensor_bytes(const aule_tensor *t) { return tensor_live(t) ? t->bytes : 0; }

/* Copies between a tensor and host memory through the staging buffer. */
static aule_status staged_copy(aule_context *ctx, VkBuffer device_buffer, void *host, size_t bytes, bool upload)
{
    pthread_mutex_lock(&ctx->transfer_lock);
    aule_status st = AULE_OK;
    VkDeviceSize chunk = bytes < STAGING_MAX ? bytes : STAGING_MAX;
    if (ctx->staging_size < chunk) {
        aule__buffer_destroy(ctx, ctx->staging, ctx->staging_memory);
        ctx->staging = VK_NULL_HANDLE;
        ctx->staging_memory = VK_NULL_HANDLE;
        ctx->staging_size = 0;
        st = aule__buffer_create(ctx, chunk, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                           VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT
                               | VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                           VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                           &ctx->staging, &ctx->staging_memory, &ctx->staging_map);
        if (st == AULE_OK)
            ctx->staging_size = chunk;
    }
    for (size_t done = 0; st == AULE_OK && done < bytes; done += chunk) {
        size_t n = bytes - done < chunk ? bytes - done : chunk;
        if (upload)
            memcpy(ctx->staging_map, (const char *)host + done, n);
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                       .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        VkResult r = ctx->vk.vkBeginCommandBuffer(ctx->transfer_cb, &bi);
        VkBufferCopy region = {.srcOffset = upload ? 0 : done, .dstOffset = upload ? done : 0, .size = n};
        if (r == VK_SUCCESS) {
            if (upload)
                ctx->vk.vkCmdCopyBuffer(ctx->transfer_cb, ctx->staging, device_buffer, 1, &region);
            else
                ctx->vk.vkCmdCopyBuffer(ctx->transfer_cb, device_buffer, ctx->staging, 1, &region);
            r = ctx->vk.vkEndCommandBuffer(ctx->transfer_cb);
        }
        if (r == VK_SUCCESS) {
            VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                               .pCommandBuffers = &ctx->transfer_cb};
            pthread_mutex_lock(&ctx->queue_lock);
            r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->transfer_fence);
            pthread_mutex_unlock(&ctx->queue_lock);
        }
        if (r == VK_SUCCESS)
            r = ctx->vk.vkWaitForFences(ctx->device, 1, &ctx->transfer_fence, VK_TRUE, UINT64_MAX);
        if (r == VK_SUCCESS)
            r = ctx->vk.vkResetFences(ctx->device, 1, &ctx->transfer_fence);
        if (r != VK_SUCCESS)
            st = aule_fail(ctx, aule_vk_status(r), "buffer transfer failed: %s", aule_vk_result_string(r));
        else if (!upload)
            memcpy((char *)host + done, ctx->staging_map, n);
    }
    pthread_mutex_unlock(&ctx->transfer_lock);
    return st;
}

aule_status aule_tensor_write(aule_tensor *t, const void *data, size_t bytes)
{
    if (!t || !data)
        return aule_fail(NULL, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_write: NULL argument");
    if (!tensor_live(t))
        return aule_fail(NULL, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_write: not a live tensor (destroyed, "
                         "never created, or its context was destroyed)");
    if (bytes != t->bytes)
        return aule_fail(t->ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_write: %zu bytes given, the tensor holds %zu",
                         bytes, t->bytes);
    if (t->map) {
        memcpy(t->map, data, bytes);
        return AULE_OK;
    }
    return staged_copy(t->ctx, t->buffer, (void *)data, bytes, true);
}

aule_status aule_tensor_read(const aule_tensor *t, void *data, size_t bytes)
{
    if (!t || !data)
        return aule_fail(NULL, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_read: NULL argument");
    if (!tensor_live(t))
        return aule_fail(NULL, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_read: not a live tensor (destroyed, "
                         "never created, or its context was destroyed)");
    if (bytes != t->bytes)
        return aule_fail(t->ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_tensor_read: %zu bytes asked, the tensor holds %zu",
                         bytes, t->bytes);
    if (t->map) {
        memcpy(data, t->map, bytes);
        return AULE_OK;
    }
    return staged_copy(t->ctx, t->buffer, data, bytes, false);
}
