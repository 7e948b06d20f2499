/* SPDX-License-Identifier: MIT */
/*
 * context.c - the context's life (device, layouts, caches, pools), status
 * codes, the per-context error text and the log callback.
 */
#define AULE_FAULT_DEFINE           /* this file defines the allocation wrappers */
#include "runtime_internal.h"

#include <stdatomic.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char create_error[1024];

/* --- failure injection (tests only; see runtime_internal.h) --------------------- */

static atomic_int fault_host_every, fault_vk_every;
static atomic_uint fault_host_count, fault_vk_count;

void aule__fault_injection(int host_every, int vk_every)
{
    atomic_store(&fault_host_count, 0);
    atomic_store(&fault_vk_count, 0);
    atomic_store(&fault_host_every, host_every > 0 ? host_every : 0);
    atomic_store(&fault_vk_every, vk_every > 0 ? vk_every : 0);
}

static bool fault_now(atomic_int *every, atomic_uint *count)
{
    int n = atomic_load_explicit(every, memory_order_relaxed);
    return n > 0 && atomic_fetch_add(count, 1u) % (unsigned)n == (unsigned)n - 1;
}

void *aule__fault_malloc(size_t n) { return fault_now(&fault_host_every, &fault_host_count) ? NULL : malloc(n); }

void *aule__fault_calloc(size_t n, size_t size)
{
    return fault_now(&fault_host_every, &fault_host_count) ? NULL : calloc(n, size);
}

void *aule__fault_realloc(void *p, size_t n)
{
    return n && fault_now(&fault_host_every, &fault_host_count) ? NULL : realloc(p, n);
}

bool aule__fault_vk(void) { return fault_now(&fault_vk_every, &fault_vk_count); }

static char version_text[160];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void version_fill(void)
{
    snprintf(version_text, sizeof version_text, "aule %s (auegen %s, %s, SPIRV-Tools %s)", AULE_VERSION_STRING,
             AUEGEN_VERSION_STRING, auegen_compiler_version(), auegen_spirv_tools_version());
}

const char *aule_version_string(void)
{
    pthread_once(&version_once, version_fill);
    return version_text;
}

const char *aule_status_string(aule_status status)
{
    switch (status) {
    case AULE_OK: return "ok";
    case AULE_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case AULE_ERROR_NO_DEVICE: return "no usable device";
    case AULE_ERROR_UNSUPPORTED: return "unsupported by the device";
    case AULE_ERROR_OUT_OF_MEMORY: return "out of host memory";
    case AULE_ERROR_DEVICE_MEMORY: return "out of device memory";
    case AULE_ERROR_VULKAN: return "Vulkan error";
    case AULE_ERROR_DEVICE_LOST: return "device lost";
    case AULE_ERROR_GENERATOR: return "kernel generation failed";
    case AULE_ERROR_IO: return "I/O error";
    }
    return "unknown status";
}

const char *aule_kernel_source_name(aule_kernel_source source)
{
    switch (source) {
    case AULE_SOURCE_MEMORY: return "memory";
    case AULE_SOURCE_BUILTIN: return "builtin";
    case AULE_SOURCE_DISK: return "disk";
    case AULE_SOURCE_JIT: return "jit";
    case AULE_SOURCE_GENERATED: return "generated";
    }
    return "?";
}

size_t aule_dtype_size(aule_dtype dtype)
{
    switch (dtype) {
    case AULE_DTYPE_F32: return 4;
    case AULE_DTYPE_F16: return 2;
    case AULE_DTYPE_BF16: return 2;
    case AULE_DTYPE_I32: return 4;
    case AULE_DTYPE_I8: return 1;
    }
    return 0;
}

const char *aule_vk_result_string(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
    }
}

aule_status aule_vk_status(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return AULE_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY: return AULE_ERROR_OUT_OF_MEMORY;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return AULE_ERROR_DEVICE_MEMORY;
    case VK_ERROR_DEVICE_LOST: return AULE_ERROR_DEVICE_LOST;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT: return AULE_ERROR_UNSUPPORTED;
    default: return AULE_ERROR_VULKAN;
    }
}

static void vlog(aule_context *ctx, aule_log_level level, const char *fmt, va_list ap)
{
    if (!ctx || !ctx->log)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ctx->log(ctx->log_user, level, msg);
}

void aule_log(aule_context *ctx, aule_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(ctx, level, fmt, ap);
    va_end(ap);
}

aule_status aule_fail(aule_context *ctx, aule_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx && (ctx->device || ctx->cpu)) {
        pthread_mutex_lock(&ctx->error_lock);
        snprintf(ctx->last_error, sizeof ctx->last_error, "%s", msg);
        pthread_mutex_unlock(&ctx->error_lock);
    } else {
        snprintf(create_error, sizeof create_error, "%s", msg);
        if (ctx)
            snprintf(ctx->last_error, sizeof ctx->last_error, "%s", msg);
    }
    aule_log(ctx, AULE_LOG_ERROR, "%s", msg);
    return st;
}

const char *aule_context_last_error(const aule_context *ctx)
{
    /* The text is copied under the lock by writers; readers get the latest whole message
     * as long as no other thread fails at the same moment on the same context. */
    return ctx ? ctx->last_error : create_error;
}

double aule_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double aule_clock_ms(void) { return aule_now_ms(); }

double aule_context_last_gpu_ms(const aule_context *ctx)
{
    if (!ctx)
        return -1.0;
    pthread_mutex_lock((pthread_mutex_t *)&ctx->lock);
    double ms = ctx->last_gpu_ms;
    pthread_mutex_unlock((pthread_mutex_t *)&ctx->lock);
    return ms;
}

static aule_status layouts_create(aule_context *ctx)
{
    VkDescriptorSetLayoutBinding b[AUEGEN_BINDING_MAX];
    for (int i = 0; i < AUEGEN_BINDING_MAX; i++)
        b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                              .descriptorCount = 1,
                                              .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = AUEGEN_BINDING_MAX, .pBindings = b};
    VkResult r = ctx->vk.vkCreateDescriptorSetLayout(ctx->device, &dl, NULL, &ctx->set_layout);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreateDescriptorSetLayout: %s", aule_vk_result_string(r));
    VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = AUEGEN_PUSH_MAX_BYTES};
    VkPipelineLayoutCreateInfo pl = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                     .pSetLayouts = &ctx->set_layout, .pushConstantRangeCount = 1,
                                     .pPushConstantRanges = &pc};
    r = ctx->vk.vkCreatePipelineLayout(ctx->device, &pl, NULL, &ctx->pipeline_layout);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreatePipelineLayout: %s", aule_vk_result_string(r));
    return aule__buffer_create(ctx, 256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0,
                         &ctx->dummy, &ctx->dummy_memory, NULL);
}

/* Cooperative matrices emulated in plain GLSL (templates/coopmat_emulation.glsl),
 * on a device without them: the coopmat kernels then run, slowly, wherever
 * fp16 arithmetic, 16-bit storage and full subgroups of a fixed size are
 * available, which is how CI tests them on lavapipe. */
static void emulate_coopmat(aule_context *ctx, int level)
{
    auegen_target *t = &ctx->info.caps;
    if (t->coopmat_count > 0) {
        aule_log(ctx, AULE_LOG_INFO, "cooperative matrices: the device has them; not emulating");
        return;
    }
    auegen_lane_layout lay;
    if (!t->fp16_arith || !t->storage16 || t->subgroup_min != t->subgroup_max
        || !auegen_lane_layout_emulated(t->subgroup_size, &lay)) {
        aule_log(ctx, AULE_LOG_WARN, "cooperative matrices cannot be emulated here (needs fp16, 16-bit storage "
                 "and one fixed subgroup size of 4..64)");
        return;
    }
    t->coopmat[0] = (auegen_coopmat_shape){16, 16, 16, AUEGEN_TYPE_F16, AUEGEN_TYPE_F32};
    t->coopmat[1] = (auegen_coopmat_shape){16, 16, 16, AUEGEN_TYPE_S8, AUEGEN_TYPE_S32};   /* the INT8 kernel's */
    t->coopmat[2] = (auegen_coopmat_shape){16, 16, 16, AUEGEN_TYPE_BF16, AUEGEN_TYPE_F32};
    t->coopmat_count = 3;
    t->coopmat_emulated = true;
    t->lane_layout = lay;
    /* The emulation lays A matrices out as accumulators. Level 2 hides that, and 3
     * the whole layout, so that the kernels take the paths of devices where A
     * matrices differ (P through shared memory) or the layout is unknown (the
     * softmax through shared memory). */
    t->lane_layout_a = level < 2;
    if (level >= 3)
        memset(&t->lane_layout, 0, sizeof t->lane_layout);
    ctx->info.coopmat_emulated = true;
    aule_log(ctx, AULE_LOG_INFO, "cooperative matrices: emulated 16x16x16 (f16 and bf16 -> f32, s8 -> s32) on %d lanes%s", lay.lanes,
             level >= 3 ? ", layout hidden" : level == 2 ? ", A layout hidden" : "");
}

aule_status aule_context_create(const aule_context_desc *desc, aule_context **out)
{
    if (!out)
        return aule_fail(NULL, AULE_ERROR_INVALID_ARGUMENT, "aule_context_create: out is NULL");
    *out = NULL;
    aule_context_desc defaults = {0};
    if (!desc)
        desc = &defaults;
    aule_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return aule_fail(NULL, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    ctx->log = desc->log;
    ctx->log_user = desc->log_user;
    ctx->disable_jit = desc->disable_jit;
    ctx->disable_builtin = desc->disable_builtin;
    ctx->profile = desc->profile;
    ctx->last_gpu_ms = -1.0;
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_mutex_init(&ctx->error_lock, NULL);
    pthread_mutex_init(&ctx->queue_lock, NULL);
    pthread_mutex_init(&ctx->slot_lock, NULL);
    pthread_mutex_init(&ctx->transfer_lock, NULL);
    pthread_mutex_init(&ctx->workspace_lock, NULL);
    pthread_cond_init(&ctx->slot_free, NULL);

    const char *selector = desc->device ? desc->device : getenv("AULE_DEVICE");
    bool cpu = false;
    aule_status st = aule__device_open(ctx, selector, &cpu);
    if (st == AULE_OK && cpu) {
        /* The native CPU backend: no layouts, pipelines, pools or disk cache (its kernels are compiled in). */
        if (desc->emulate_coopmat)
            aule_log(ctx, AULE_LOG_INFO, "cooperative matrices: not emulated on the native CPU backend");
        *out = ctx;
        return AULE_OK;
    }
    if (st == AULE_OK)
        st = layouts_create(ctx);
    if (st == AULE_OK) {
        if (!desc->disable_disk_cache && aule__disk_cache_open(desc->cache_dir, &ctx->disk) != 0) {
            aule_log(ctx, AULE_LOG_WARN, "disk cache unavailable; kernels are compiled in every process");
            ctx->disk = NULL;
        }
        st = aule__kernels_init(ctx);
    }
    if (st == AULE_OK)
        st = aule__dispatch_init(ctx);
    if (st == AULE_OK) {
        /* $AULE_COOPMAT_EMULATE: unset, empty or "0" off; "2", "3" the levels above; else on. */
        const char *emu = getenv("AULE_COOPMAT_EMULATE");
        int level = !emu || !emu[0] || strcmp(emu, "0") == 0 ? 0 : atoi(emu) > 1 ? atoi(emu) : 1;
        if (desc->emulate_coopmat && level == 0)
            level = 1;
        if (level > 0)
            emulate_coopmat(ctx, level);
        aule__kernels_probe_layout(ctx);
    }
    if (st != AULE_OK) {
        char keep[sizeof create_error];
        snprintf(keep, sizeof keep, "%s", ctx->last_error[0] ? ctx->last_error : create_error);
        aule_context_destroy(ctx);
        snprintf(create_error, sizeof create_error, "%s", keep);
        return st;
    }
    *out = ctx;
    return AULE_OK;
}

void aule_context_destroy(aule_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->cpu) {
        int orphans = aule__tensors_orphan(ctx);
        if (orphans)
            aule_log(ctx, AULE_LOG_WARN, "%d tensors outlive their context: their memory is freed now; "
                     "any later use is an error, aule_tensor_destroy only frees the handle", orphans);
        aule__kernels_release(ctx);
        aule__cpu_close(ctx);
    }
    if (ctx->device) {
        ctx->vk.vkDeviceWaitIdle(ctx->device);
        int orphans = aule__tensors_orphan(ctx);
        if (orphans)
            aule_log(ctx, AULE_LOG_WARN, "%d tensors outlive their context: their device memory is freed now; "
                     "any later use is an error, aule_tensor_destroy only frees the handle", orphans);
        aule__dispatch_release(ctx);
        aule__kernels_release(ctx);
        aule__buffer_destroy(ctx, ctx->dummy, ctx->dummy_memory);
        aule__buffer_destroy(ctx, ctx->workspace, ctx->workspace_memory);
        if (ctx->pipeline_layout)
            ctx->vk.vkDestroyPipelineLayout(ctx->device, ctx->pipeline_layout, NULL);
        if (ctx->set_layout)
            ctx->vk.vkDestroyDescriptorSetLayout(ctx->device, ctx->set_layout, NULL);
    }
    aule__device_close(ctx);
    aule__disk_cache_close(ctx->disk);
    pthread_cond_destroy(&ctx->slot_free);
    pthread_mutex_destroy(&ctx->transfer_lock);
    pthread_mutex_destroy(&ctx->workspace_lock);
    pthread_mutex_destroy(&ctx->slot_lock);
    pthread_mutex_destroy(&ctx->queue_lock);
    pthread_mutex_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->error_lock);
    free(ctx);
}

aule_status aule_context_device_info(const aule_context *ctx, aule_device_info *out)
{
    if (!ctx || !out)
        return AULE_ERROR_INVALID_ARGUMENT;
    *out = ctx->info;
    return AULE_OK;
}

void aule_context_get_stats(const aule_context *ctx, aule_context_stats *out)
{
    if (!ctx || !out)
        return;
    pthread_mutex_lock((pthread_mutex_t *)&ctx->lock);
    *out = ctx->stats;
    pthread_mutex_unlock((pthread_mutex_t *)&ctx->lock);
}
