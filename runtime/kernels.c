/* SPDX-License-Identifier: MIT */
/*
 * kernels.c - from a spec to a ready pipeline. Lookup order: kernels already
 * made in this context (memory), kernels linked in from generated/ when they
 * are exactly what this device would get (builtin), the disk cache, and
 * finally the generator in-process (JIT), whose SPIR-V is stored on disk.
 * Keys come from auegen_prepare with the live device's capabilities.
 * Vulkan's pipeline cache is kept on disk per device and driver.
 */
#include "runtime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pipeline_cache_name(const aule_context *ctx, char *out, size_t size)
{
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(ctx->physical, &p);
    int n = snprintf(out, size, "%08x-%08x-%08x-", p.vendorID, p.deviceID, p.driverVersion);
    for (int i = 0; i < (int)VK_UUID_SIZE && n > 0 && (size_t)n + 2 < size; i++)
        n += snprintf(out + n, size - (size_t)n, "%02x", p.pipelineCacheUUID[i]);
}

aule_status aule__kernels_init(aule_context *ctx)
{
    void *data = NULL;
    size_t size = 0;
    pipeline_cache_name(ctx, ctx->pipeline_cache_name, sizeof ctx->pipeline_cache_name);
    if (ctx->disk)
        aule__disk_cache_load_blob(ctx->disk, ctx->pipeline_cache_name, &data, &size);
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = data ? size : 0, .pInitialData = data};
    VkResult r = ctx->vk.vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    if (r != VK_SUCCESS && data) {
        /* A cache the driver rejects is only a slower start. */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = ctx->vk.vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    }
    free(data);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreatePipelineCache: %s", aule_vk_result_string(r));
    return AULE_OK;
}

void aule__entry_destroy(aule_context *ctx, kernel_entry *e)
{
    if (!e)
        return;
    if (e->pipeline)
        ctx->vk.vkDestroyPipeline(ctx->device, e->pipeline, NULL);
    if (e->module)
        ctx->vk.vkDestroyShaderModule(ctx->device, e->module, NULL);
    free(e);
}

void aule__kernels_release(aule_context *ctx)
{
    if (ctx->pipeline_cache && ctx->disk) {
        size_t size = 0;
        if (ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL) == VK_SUCCESS && size) {
            void *data = malloc(size);
            if (data && ctx->vk.vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data) == VK_SUCCESS)
                aule__disk_cache_store_blob(ctx->disk, ctx->pipeline_cache_name, data, size);
            free(data);
        }
    }
    for (int i = 0; i < ctx->kernel_count; i++)
        aule__entry_destroy(ctx, ctx->kernels[i]);
    free(ctx->kernels);
    ctx->kernels = NULL;
    ctx->kernel_count = ctx->kernel_cap = 0;
    aule__entry_destroy(ctx, ctx->empty_kernel);
    ctx->empty_kernel = NULL;
    if (ctx->pipeline_cache)
        ctx->vk.vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
    ctx->pipeline_cache = VK_NULL_HANDLE;
}

/* Shader module + compute pipeline; pins the subgroup size a cooperative-matrix plan needs. */
aule_status aule__pipeline_create(aule_context *ctx, kernel_entry *e, const uint32_t *words, size_t count)
{
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = count * sizeof *words, .pCode = words};
    VkResult r = ctx->vk.vkCreateShaderModule(ctx->device, &mi, NULL, &e->module);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreateShaderModule: %s", aule_vk_result_string(r));
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo sz = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
        .requiredSubgroupSize = (uint32_t)e->plan.subgroup_size};
    VkComputePipelineCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .flags = VK_PIPELINE_CREATE_DISPATCH_BASE_BIT
                 | (ctx->info.pipeline_statistics ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0),
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = e->module, .pName = "main"},
        .layout = ctx->pipeline_layout,
    };
    if (e->plan.variant == AUEGEN_VARIANT_COOPMAT) {
        const auegen_target *t = &ctx->info.caps;
        if (ctx->info.subgroup_size_control && t->subgroup_min != t->subgroup_max) {
            pi.stage.pNext = &sz;
            pi.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
        } else if (ctx->info.subgroup_size_control) {
            pi.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
        }
    }
    r = ctx->vk.vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &pi, NULL, &e->pipeline);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkCreateComputePipelines: %s", aule_vk_result_string(r));
    return AULE_OK;
}

const char *aule__kernel_part_name(int part)
{
    static const char *const names[] = {NULL, "reduce", "append", "bwd_dot", "bwd_dkdv", "bwd_dq", "bwd_dsink",
                                        "int8_quant"};
    return part > 0 && part < (int)(sizeof names / sizeof *names) ? names[part] : NULL;
}

/* Can this device run a kernel planned for another target? */
static bool plan_runs_here(const aule_context *ctx, const auegen_spec *s, const auegen_plan *p)
{
    const auegen_target *t = &ctx->info.caps;
    if (p->shared_memory_bytes > t->shared_memory_bytes || p->workgroup_size > t->max_workgroup_invocations)
        return false;
    if ((p->storage16 && !t->storage16) || (p->int8_dot && !t->int8_dot))
        return false;
    /* INT8 kernels and int8 KV caches read and write 8-bit storage buffers. */
    if ((s->int8 || s->kv_int8) && !t->storage8)
        return false;
    if (p->variant != AUEGEN_VARIANT_COOPMAT)
        return true;
    if (p->subgroup_size < t->subgroup_min || p->subgroup_size > t->subgroup_max)
        return false;
    for (int i = 0; i < t->coopmat_count; i++)
        if (t->coopmat[i].m == p->mma.m && t->coopmat[i].n == p->mma.n && t->coopmat[i].k == p->mma.k
            && t->coopmat[i].a_type == p->mma.a_type && t->coopmat[i].c_type == p->mma.c_type)
            return true;
    return false;
}

/* The linked-in kernel whose module key is key: the exact module this device
 * would get from the generator (same spec, plan, part, templates, toolchain). */
static const auegen_kernel_info *builtin_find(const char *key)
{
    for (const auegen_kernel_info *const *k = aule__linked_kernels(); *k; k++)
        if ((*k)->module_key && strcmp((*k)->module_key, key) == 0)
            return *k;
    return NULL;
}

/* With no generator: any linked-in kernel of this spec and family that this device can run. */
static const auegen_kernel_info *builtin_any(const aule_context *ctx, const char *canonical, auegen_family family)
{
    for (const auegen_kernel_info *const *k = aule__linked_kernels(); *k; k++)
        if (strcmp((*k)->canonical, canonical) == 0 && (*k)->plan.family == family
            && plan_runs_here(ctx, &(*k)->spec, &(*k)->plan))
            return *k;
    return NULL;
}

static kernel_entry *memo_find(aule_context *ctx, const auegen_spec *key, int part)
{
    for (int i = 0; i < ctx->kernel_count; i++)
        if (ctx->kernels[i]->part == part && memcmp(&ctx->kernels[i]->spec, key, sizeof *key) == 0)
            return ctx->kernels[i];
    return NULL;
}

static aule_status memo_add(aule_context *ctx, kernel_entry *e)
{
    if (ctx->kernel_count == ctx->kernel_cap) {
        int cap = ctx->kernel_cap ? ctx->kernel_cap * 2 : 16;
        kernel_entry **k = realloc(ctx->kernels, (size_t)cap * sizeof *k);
        if (!k)
            return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
        ctx->kernels = k;
        ctx->kernel_cap = cap;
    }
    ctx->kernels[ctx->kernel_count++] = e;
    return AULE_OK;
}

/* The memo key: the normalized spec with the label cleared, padding zeroed. */
static aule_status memo_key(aule_context *ctx, const auegen_spec *spec, auegen_spec *key)
{
    auegen_spec norm;
    auegen_diag diag = {0};
    if (auegen_spec_normalize(spec, &norm, &diag) != AUEGEN_OK)
        return aule_fail(ctx, AULE_ERROR_GENERATOR, "invalid spec: %s",
                         diag.count ? diag.errors[0].message : "bad argument");
    /* auegen_spec_validate zeroes its output first, so padding compares equal too. */
    *key = norm;
    memset(key->name, 0, sizeof key->name);
    return AULE_OK;
}

/* Whether the SPIR-V of a disk cache hit makes a pipeline (created in e). An
 * entry whose checksum is right but whose SPIR-V is not (a bit flip before the
 * checksum was taken, or a file written into the cache by someone else) fails
 * SPIRV-Tools' validator or pipeline creation: it is removed, named in the
 * log, and the kernel is generated and stored again as on any miss. */
static bool disk_entry_usable(aule_context *ctx, kernel_entry *e, const char *key, const uint32_t *words,
                              size_t count)
{
    char log[256] = "";
    char path[512];
    bool ok = auegen_spirv_validate(words, count, log, sizeof log) == AUEGEN_OK;
    if (ok && aule__pipeline_create(ctx, e, words, count) != AULE_OK) {
        pthread_mutex_lock(&ctx->error_lock);
        snprintf(log, sizeof log, "%.200s", ctx->last_error);
        pthread_mutex_unlock(&ctx->error_lock);
        if (e->module)
            ctx->vk.vkDestroyShaderModule(ctx->device, e->module, NULL);
        e->module = VK_NULL_HANDLE;
        ok = false;
    }
    if (ok)
        return true;
    aule__disk_cache_entry_path(ctx->disk, key, path, sizeof path);
    for (char *nl = strchr(log, '\n'); nl; nl = strchr(nl, '\n'))
        *nl = ' ';
    aule_log(ctx, AULE_LOG_WARN, "disk cache entry %s is not a usable kernel (%s): removed; %s", path, log,
             ctx->disable_jit ? "JIT is disabled" : "generating it again");
    aule__disk_cache_remove(ctx->disk, key);
    return false;
}

/* A native CPU kernel entry: the spec and the CPU's plan (its kernels are compiled in). */
static aule_status cpu_entry_make(aule_context *ctx, const auegen_spec *key, int part, kernel_entry **out)
{
    auegen_plan plan;
    aule_status st = aule__cpu_plan(ctx, key, part, &plan);
    if (st != AULE_OK)
        return st;
    kernel_entry *e = calloc(1, sizeof *e);
    if (!e)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    e->spec = *key;
    e->part = part;
    e->plan = plan;
    e->source = AULE_SOURCE_BUILTIN;
    e->cpu_kernel = ctx->cpu_isa;
    /* A kernel auegen generated for this spec and instruction set, when one is linked in. */
    const aule__cpu_kernel *gen = NULL;
    if (!ctx->disable_builtin && part == KERNEL_MAIN)
        gen = aule__cpu_generated_find(ctx, key, plan.family);
    if (gen) {
        e->source = AULE_SOURCE_GENERATED;
        e->cpu_kernel = gen->kernel;
        e->cpu_profile = gen->profile;
        aule_log(ctx, AULE_LOG_DEBUG, "kernel %s: generated for %s (key %s)", gen->name, gen->profile, gen->key);
    }
    /* A key of the canonical spec, the part and the kernel (two 64-bit FNV-1a variants). */
    char text[600];
    int n = auegen_spec_canonical(key, text, sizeof text - 64);
    snprintf(text + (n > 0 ? n : 0), 64, " part=%d cpu=%s%s%s", part, ctx->cpu_isa->name, gen ? " gen=" : "",
             gen ? gen->profile : "");
    uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
    for (const char *c = text; *c; c++) {
        h1 = (h1 ^ (unsigned char)*c) * 0x100000001b3ull;
        h2 = (h2 ^ (unsigned char)*c) * 0x100000001b3ull + 1;
    }
    snprintf(e->key, sizeof e->key, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
    pthread_mutex_lock(&ctx->lock);
    ctx->stats.builtin_hits++;
    pthread_mutex_unlock(&ctx->lock);
    *out = e;
    return AULE_OK;
}

static aule_status kernel_make(aule_context *ctx, const auegen_spec *key, int part, kernel_entry **out)
{
    if (ctx->cpu)
        return cpu_entry_make(ctx, key, part, out);
    auegen_kernel k;
    auegen_generate_options opts = {.optimize = true, .skip_stub = true,
                                    .part = aule__kernel_part_name(part)};
    auegen_status gs = auegen_prepare(key, &ctx->info.caps, &opts, &k);
    if (gs != AUEGEN_OK)
        return aule_fail(ctx, gs == AUEGEN_ERROR_PLAN || gs == AUEGEN_ERROR_UNSUPPORTED ? AULE_ERROR_UNSUPPORTED
                                                                                       : AULE_ERROR_GENERATOR,
                         "no kernel for this spec on %s: %s", ctx->info.name, k.log);
    kernel_entry *e = calloc(1, sizeof *e);
    if (!e)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    e->spec = *key;
    e->part = part;
    e->plan = k.plan;
    memcpy(e->key, k.key, sizeof e->key);

    const auegen_kernel_info *builtin = ctx->disable_builtin ? NULL : builtin_find(k.module_key);
    uint32_t *words = NULL;
    size_t count = 0;
    aule_status st = AULE_OK;
    bool stored = false;
    double t0 = aule_now_ms(), t_found = t0;
    if (builtin) {
        e->source = AULE_SOURCE_BUILTIN;
        st = aule__pipeline_create(ctx, e, builtin->spirv, builtin->spirv_words);
    } else if (ctx->disk && aule__disk_cache_load(ctx->disk, k.key, k.key_input, &words, &count)
               && disk_entry_usable(ctx, e, k.key, words, count)) {
        e->source = AULE_SOURCE_DISK;
        t_found = aule_now_ms();
        free(words);
    } else if (!ctx->disable_jit) {
        free(words);
        words = NULL;
        auegen_kernel full;
        gs = auegen_generate(key, &ctx->info.caps, &opts, &full);
        t_found = aule_now_ms();
        if (gs != AUEGEN_OK) {
            st = aule_fail(ctx, AULE_ERROR_GENERATOR, "generating the kernel failed: %s", full.log);
        } else {
            e->source = AULE_SOURCE_JIT;
            st = aule__pipeline_create(ctx, e, full.spirv, full.spirv_words);
            if (st == AULE_OK && ctx->disk) {
                if (aule__disk_cache_store(ctx->disk, k.key, k.key_input, full.spirv, full.spirv_words))
                    stored = true;
                else
                    aule_log(ctx, AULE_LOG_WARN, "disk cache: %s", aule__disk_cache_last_error(ctx->disk));
            }
        }
        auegen_kernel_release(&full);
    } else {
        free(words);
        words = NULL;
        /* No generator: any linked-in kernel of this spec that this device can run. */
        builtin = ctx->disable_builtin ? NULL : builtin_any(ctx, k.canonical, k.plan.family);
        if (!builtin) {
            st = aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "JIT is disabled and no linked-in kernel matches %s",
                           k.canonical);
        } else {
            e->source = AULE_SOURCE_BUILTIN;
            e->plan = builtin->plan;
            st = aule__pipeline_create(ctx, e, builtin->spirv, builtin->spirv_words);
        }
    }
    if (st != AULE_OK) {
        aule__entry_destroy(ctx, e);
        return st;
    }
    aule_log(ctx, AULE_LOG_DEBUG, "kernel %s (%s, %s): %.2f ms to find or generate, %.2f ms to create the pipeline",
             k.key, k.canonical, aule_kernel_source_name(e->source), t_found - t0, aule_now_ms() - t_found);
    pthread_mutex_lock(&ctx->lock);
    switch (e->source) {
    case AULE_SOURCE_BUILTIN:
    case AULE_SOURCE_GENERATED: ctx->stats.builtin_hits++; break;
    case AULE_SOURCE_DISK: ctx->stats.disk_hits++; break;
    case AULE_SOURCE_JIT: ctx->stats.jit_compiles++; break;
    default: break;
    }
    if (stored)
        ctx->stats.disk_stores++;
    pthread_mutex_unlock(&ctx->lock);
    *out = e;
    return AULE_OK;
}

aule_status aule__kernel_get(aule_context *ctx, const auegen_spec *spec, kernel_entry **out, aule_kernel_report *report)
{
    return aule__kernel_get_part(ctx, spec, KERNEL_MAIN, out, report);
}

aule_status aule__kernel_get_part(aule_context *ctx, const auegen_spec *spec, int part, kernel_entry **out,
                            aule_kernel_report *report)
{
    double t0 = aule_now_ms();
    auegen_spec key;
    aule_status st = memo_key(ctx, spec, &key);
    if (st != AULE_OK)
        return st;
    /* The lock covers the lookup and the insertion, not the making: one thread's
     * JIT compile or pipeline creation never stalls other threads' calls. Two
     * threads missing on the same kernel both make it; the first to insert
     * wins and the other's copy is destroyed. */
    pthread_mutex_lock(&ctx->lock);
    kernel_entry *e = memo_find(ctx, &key, part);
    aule_kernel_source source = AULE_SOURCE_MEMORY;
    if (e)
        ctx->stats.memory_hits++;
    pthread_mutex_unlock(&ctx->lock);
    if (!e) {
        kernel_entry *made = NULL;
        st = kernel_make(ctx, &key, part, &made);
        if (st != AULE_OK)
            return st;
        source = made->source;
        pthread_mutex_lock(&ctx->lock);
        e = memo_find(ctx, &key, part);
        if (!e) {
            st = memo_add(ctx, made);
            e = st == AULE_OK ? made : NULL;
            made = st == AULE_OK ? NULL : made;
        }
        pthread_mutex_unlock(&ctx->lock);
        aule__entry_destroy(ctx, made);       /* lost the race, or could not be added */
        if (st != AULE_OK)
            return st;
    }
    if (report) {
        report->source = source;
        memcpy(report->key, e->key, sizeof report->key);
        report->plan = e->plan;
        report->milliseconds = aule_now_ms() - t0;
    }
    *out = e;
    return AULE_OK;
}

static kernel_entry *builtin_memo_find(aule_context *ctx, const char *key)
{
    for (int i = 0; i < ctx->kernel_count; i++)
        if (ctx->kernels[i]->source == AULE_SOURCE_BUILTIN && strcmp(ctx->kernels[i]->key, key) == 0)
            return ctx->kernels[i];
    return NULL;
}

aule_status aule__kernel_for_info(aule_context *ctx, const auegen_kernel_info *info, kernel_entry **out)
{
    if (ctx->cpu) {
        /* A linked-in Vulkan kernel's typed launch on the CPU: the CPU kernel of its spec and family. */
        auegen_spec key;
        aule_status st = memo_key(ctx, &info->spec, &key);
        int part = info->plan.family == AUEGEN_FAMILY_APPEND ? KERNEL_APPEND
                   : info->plan.family == AUEGEN_FAMILY_REDUCE ? KERNEL_REDUCE
                   : info->plan.family == AUEGEN_FAMILY_FORWARD || info->plan.family == AUEGEN_FAMILY_DECODE
                       ? KERNEL_MAIN : -1;
        if (st == AULE_OK && part < 0)
            st = aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "kernel %s: the native CPU backend has no such kernel",
                           info->name);
        return st == AULE_OK ? aule__kernel_get_part(ctx, &key, part, out, NULL) : st;
    }
    if (!plan_runs_here(ctx, &info->spec, &info->plan))
        return aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "kernel %s (planned for %s) cannot run on %s", info->name,
                         info->target, ctx->info.name);
    auegen_spec key;
    aule_status st = memo_key(ctx, &info->spec, &key);
    if (st != AULE_OK)
        return st;
    pthread_mutex_lock(&ctx->lock);
    kernel_entry *e = builtin_memo_find(ctx, info->key);
    pthread_mutex_unlock(&ctx->lock);
    if (e) {
        *out = e;
        return AULE_OK;
    }
    /* Made outside the lock (see kernel_get_part); the first insertion wins. */
    kernel_entry *made = calloc(1, sizeof *made);
    if (!made)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    /* Not in the spec memo: this entry is found by its key only. */
    memset(&made->spec, 0xff, sizeof made->spec);
    made->plan = info->plan;
    made->source = AULE_SOURCE_BUILTIN;
    memcpy(made->key, info->key, sizeof made->key);
    st = aule__pipeline_create(ctx, made, info->spirv, info->spirv_words);
    if (st != AULE_OK) {
        aule__entry_destroy(ctx, made);
        return st;
    }
    pthread_mutex_lock(&ctx->lock);
    e = builtin_memo_find(ctx, info->key);
    if (!e && (st = memo_add(ctx, made)) == AULE_OK) {
        e = made;
        made = NULL;
        ctx->stats.builtin_hits++;
    }
    pthread_mutex_unlock(&ctx->lock);
    aule__entry_destroy(ctx, made);
    *out = e;
    return st;
}

aule_status aule__kernel_empty(aule_context *ctx, kernel_entry **out)
{
    pthread_mutex_lock(&ctx->lock);
    aule_status st = AULE_OK;
    if (!ctx->empty_kernel) {
        static const char glsl[] = "#version 450\nlayout(local_size_x = 1) in;\nvoid main() {}\n";
        uint32_t *words = NULL;
        size_t count = 0;
        char log[512];
        kernel_entry *e = calloc(1, sizeof *e);
        if (!e) {
            st = AULE_ERROR_OUT_OF_MEMORY;
        } else if (auegen_compile_glsl(glsl, &words, &count, log, sizeof log) != AUEGEN_OK) {
            st = AULE_ERROR_GENERATOR;
            free(e);
        } else {
            e->plan.workgroup_size = 1;
            e->plan.tile_q = 1;
            st = aule__pipeline_create(ctx, e, words, count);
            if (st == AULE_OK)
                ctx->empty_kernel = e;
            else
                aule__entry_destroy(ctx, e);
        }
        free(words);
    }
    *out = ctx->empty_kernel;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

aule_status aule_kernel_prepare(aule_context *ctx, const auegen_spec *spec, aule_kernel_report *report)
{
    if (!ctx || !spec)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_kernel_prepare: NULL argument");
    kernel_entry *e;
    return aule__kernel_get(ctx, spec, &e, report);
}

aule_status aule_kernel_prepare_part(aule_context *ctx, const auegen_spec *spec, const char *part,
                                     aule_kernel_report *report)
{
    if (!ctx || !spec)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_kernel_prepare_part: NULL argument");
    if (!part)
        return aule_kernel_prepare(ctx, spec, report);
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_normalize(spec, &s, &diag) != AUEGEN_OK)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_kernel_prepare_part: invalid spec: %s",
                         diag.errors[0].message);
    for (const char *const *p = auegen_spec_parts(&s); *p; p++) {
        if (strcmp(*p, part) != 0)
            continue;
        for (int k = KERNEL_REDUCE; aule__kernel_part_name(k); k++) {
            kernel_entry *e;
            if (strcmp(aule__kernel_part_name(k), part) == 0)
                return aule__kernel_get_part(ctx, &s, k, &e, report);
        }
    }
    return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_kernel_prepare_part: this spec has no part '%s'", part);
}

aule_status aule_kernel_statistics(aule_context *ctx, const auegen_spec *spec, char *buf, size_t size)
{
    if (!ctx || !spec || !buf || size == 0)
        return aule_fail(ctx, AULE_ERROR_INVALID_ARGUMENT, "aule_kernel_statistics: NULL argument");
    buf[0] = '\0';
    if (!ctx->info.pipeline_statistics || !ctx->vk.vkGetPipelineExecutableStatisticsKHR)
        return aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "pipeline statistics need a profiling context on a device "
                         "with VK_KHR_pipeline_executable_properties");
    kernel_entry *e;
    aule_status st = aule__kernel_get(ctx, spec, &e, NULL);
    if (st != AULE_OK)
        return st;
    VkPipelineExecutableInfoKHR ei = {.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
                                      .pipeline = e->pipeline, .executableIndex = 0};
    uint32_t n = 0;
    VkResult r = ctx->vk.vkGetPipelineExecutableStatisticsKHR(ctx->device, &ei, &n, NULL);
    if (r != VK_SUCCESS || n == 0)
        return aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "the driver reports no statistics for this pipeline");
    VkPipelineExecutableStatisticKHR *stats = calloc(n, sizeof *stats);
    if (!stats)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory");
    for (uint32_t i = 0; i < n; i++)
        stats[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
    r = ctx->vk.vkGetPipelineExecutableStatisticsKHR(ctx->device, &ei, &n, stats);
    size_t used = 0;
    for (uint32_t i = 0; r == VK_SUCCESS && i < n && used + 1 < size; i++) {
        const VkPipelineExecutableStatisticKHR *s = &stats[i];
        int w = 0;
        switch (s->format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
            w = snprintf(buf + used, size - used, "%s = %s\n", s->name, s->value.b32 ? "true" : "false");
            break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
            w = snprintf(buf + used, size - used, "%s = %lld\n", s->name, (long long)s->value.i64);
            break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
            w = snprintf(buf + used, size - used, "%s = %llu\n", s->name, (unsigned long long)s->value.u64);
            break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
            w = snprintf(buf + used, size - used, "%s = %g\n", s->name, s->value.f64);
            break;
        default:
            break;
        }
        if (w < 0)
            break;
        used += (size_t)w < size - used ? (size_t)w : size - used - 1;
    }
    free(stats);
    if (r != VK_SUCCESS)
        return aule_fail(ctx, aule_vk_status(r), "vkGetPipelineExecutableStatisticsKHR: %s", aule_vk_result_string(r));
    return AULE_OK;
}
