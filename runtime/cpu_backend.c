/* SPDX-License-Identifier: MIT */
/*
 * cpu_backend.c - the native CPU backend: opens the CPU as a device (its name,
 * instruction set and thread count), plans its kernels, and runs the calls the
 * launchers prepared (forward, decode and its split merge, cache append, the
 * backward's four parts) on host memory with the thread pool. The
 * instruction set is chosen once from
 * the CPU's features: AVX-512, else AVX2 with FMA and F16C, else the generic
 * kernel; $AULE_CPU_ISA=avx512|avx2|generic forces one (tests, benchmarks).
 * A spec with a kernel auegen generated for it and that instruction set
 * (generated/index_cpu.c, or registered) runs that kernel instead
 * (aule__cpu_generated_find; $AULE_CPU_GENERATED=0 turns them off).
 */
#include "runtime_internal.h"
#include "aule_reference.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(AULE_CPU_X86)
#define HAVE_X86_KERNELS 1
#else
#define HAVE_X86_KERNELS 0
#endif

static const aule__cpu_isa *isa_by_name(const char *name)
{
#if HAVE_X86_KERNELS
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                       && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
                   ? &aule__cpu_isa_avx512
                   : NULL;
    if (strcmp(name, "avx2") == 0 || strcmp(name, "avx2-fma") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &aule__cpu_isa_avx2 : NULL;
#endif
    if (strcmp(name, "generic") == 0)
        return &aule__cpu_isa_generic;
    return NULL;
}

static const aule__cpu_isa *isa_best(void)
{
    static const char *const order[] = {"avx512", "avx2", "generic"};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const aule__cpu_isa *isa = isa_by_name(order[i]);
        if (isa)
            return isa;
    }
    return &aule__cpu_isa_generic;
}

/* Whether the CPU has a generated kernel's extra feature (__builtin_cpu_supports takes literals only). */
static bool feature_ok(const char *feature)
{
    if (!feature)
        return true;
#if HAVE_X86_KERNELS
    if (strcmp(feature, "avx512bf16") == 0)
        return __builtin_cpu_supports("avx512bf16");
#endif
    return false;
}

/* Generated kernels registered at run time (a program's own, aule_register_cpu_kernels;
 * tests: aule__cpu_register_kernels), besides generated/'s. */
enum { CPU_REGISTERED_MAX = 256 };
static pthread_mutex_t cpu_registered_lock = PTHREAD_MUTEX_INITIALIZER;
static const aule__cpu_kernel *cpu_registered[CPU_REGISTERED_MAX];
static int cpu_registered_count;
/* Kernels refused for another CPU-kernel ABI: told to every CPU context opened after. */
static int cpu_refused_count;
static uint32_t cpu_refused_abi;

/* A kernel compiled outside libaule bakes in these layouts (AULE_CPU_KERNEL_ABI):
 * when one fails, bump AULE_CPU_KERNEL_ABI in aule/cpu/cpu_internal.h and update
 * the sizes here with it. Checked on LP64 targets, where they are known. */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(AULE_CPU_KERNEL_ABI == 1 && sizeof(aule__cpu_attn) == 320 && sizeof(aule__cpu_isa) == 64
                   && sizeof(aule__cpu_kernel) == 64 && offsetof(aule__cpu_attn, row_tiles) == 316
                   && offsetof(aule__cpu_isa, attend) == 24 && offsetof(aule__cpu_kernel, kernel) == 56,
               "the CPU-kernel ABI changed: bump AULE_CPU_KERNEL_ABI and update these sizes");
#endif

aule_status aule__cpu_register_kernels(const aule__cpu_kernel *const *kernels, int count)
{
    aule_status st = AULE_OK;
    pthread_mutex_lock(&cpu_registered_lock);
    for (int i = 0; i < count; i++) {
        if (!kernels[i])
            continue;
        if (cpu_registered_count == CPU_REGISTERED_MAX) {
            st = AULE_ERROR_OUT_OF_MEMORY;
            break;
        }
        cpu_registered[cpu_registered_count++] = kernels[i];
    }
    pthread_mutex_unlock(&cpu_registered_lock);
    return st;
}

aule_status aule_register_cpu_kernels(const void *const *kernels, int count, uint32_t abi_version)
{
    if (count < 0 || (count > 0 && !kernels))
        return AULE_ERROR_INVALID_ARGUMENT;
    if (abi_version != AULE_CPU_KERNEL_ABI) {
        int given = 0;
        for (int i = 0; i < count; i++)
            given += kernels[i] != NULL;
        count = given;
        pthread_mutex_lock(&cpu_registered_lock);
        cpu_refused_count += count;
        cpu_refused_abi = abi_version;
        pthread_mutex_unlock(&cpu_registered_lock);
        return aule_fail(NULL, AULE_ERROR_UNSUPPORTED, "%d native CPU kernel(s) were compiled against CPU-kernel "
                         "ABI %u, this libaule has ABI %d: refused (their specs run the generic CPU kernel; "
                         "rebuild the program against this libaule's aule/cpu/ headers)",
                         count, (unsigned)abi_version, AULE_CPU_KERNEL_ABI);
    }
    return aule__cpu_register_kernels((const aule__cpu_kernel *const *)kernels, count);
}

void aule_unregister_cpu_kernels(const void *const *kernels, int count)
{
    if (!kernels || count <= 0)
        return;
    pthread_mutex_lock(&cpu_registered_lock);
    for (int i = 0; i < count; i++)
        for (int j = 0; j < cpu_registered_count; j++)
            if (cpu_registered[j] == kernels[i]) {
                memmove(&cpu_registered[j], &cpu_registered[j + 1],
                        (size_t)(cpu_registered_count - j - 1) * sizeof cpu_registered[0]);
                cpu_registered_count--;
                break;
            }
    pthread_mutex_unlock(&cpu_registered_lock);
}

/* Whether g is a kernel for this spec's canonical form and family on the context's instruction set. */
static bool generated_fits(const aule_context *ctx, const aule__cpu_kernel *g, const char *canonical, int family)
{
    return g->family == family && strcmp(g->isa, ctx->cpu_isa->name) == 0 && strcmp(g->canonical, canonical) == 0
           && g->kernel->tile_rows == ctx->cpu_isa->tile_rows && g->kernel->lanes == ctx->cpu_isa->lanes
           && feature_ok(g->cpu_feature);
}

const aule__cpu_kernel *aule__cpu_generated_find(aule_context *ctx, const auegen_spec *spec, int family)
{
    const char *env = getenv("AULE_CPU_GENERATED");
    if (env && strcmp(env, "0") == 0)
        return NULL;
    char canonical[600];
    if (auegen_spec_canonical(spec, canonical, sizeof canonical) < 0)
        return NULL;
    /* The registered kernels first, then libaule's; of those that fit, the first that asks
     * the most of the CPU (a further feature). */
    const aule__cpu_kernel *best = NULL;
    pthread_mutex_lock(&cpu_registered_lock);
    for (int i = 0; i < cpu_registered_count; i++)
        if (generated_fits(ctx, cpu_registered[i], canonical, family)
            && (!best || (cpu_registered[i]->cpu_feature && !best->cpu_feature)))
            best = cpu_registered[i];
    pthread_mutex_unlock(&cpu_registered_lock);
    for (const aule__cpu_kernel *const *k = aule__cpu_generated_kernels; *k; k++)
        if (generated_fits(ctx, *k, canonical, family) && (!best || ((*k)->cpu_feature && !best->cpu_feature)))
            best = *k;
    return best;
}

/* The CPU's model name from /proc/cpuinfo, else a plain word. */
static void cpu_model(char *out, size_t size)
{
    snprintf(out, size, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            if (*v) {
                snprintf(out, size, "%s", v);
                break;
            }
        }
    }
    fclose(f);
}

static int thread_count(void)
{
    const char *env = getenv("AULE_CPU_THREADS");
    long n = env && *env ? strtol(env, NULL, 10) : 0;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/* The CPU's device info, as aule_devices_list and a CPU context report it. */
aule_status aule__cpu_info(aule_device_info *out, const aule__cpu_isa **isa_out)
{
    memset(out, 0, sizeof *out);
    const aule__cpu_isa *isa = isa_best();
    const char *forced = getenv("AULE_CPU_ISA");
    if (forced && *forced) {
        isa = isa_by_name(forced);
        if (!isa)
            return aule_fail(NULL, AULE_ERROR_UNSUPPORTED, "AULE_CPU_ISA=%s: not one this CPU and build can run "
                             "(avx512, avx2, generic)", forced);
    }
    cpu_model(out->name, sizeof out->name);
    out->type = AULE_DEVICE_CPU;
    out->backend = AULE_BACKEND_CPU;
    out->threads = thread_count();
    bool bf16 = false;
#if HAVE_X86_KERNELS
    bf16 = __builtin_cpu_supports("avx512bf16");
#endif
    snprintf(out->isa, sizeof out->isa, "%s", isa->name);
    int generated = 0;             /* kernels generated for build-time specs that this instruction set runs */
    for (const aule__cpu_kernel *const *k = aule__cpu_generated_kernels; *k; k++)
        generated += strcmp((*k)->isa, isa->name) == 0 && feature_ok((*k)->cpu_feature);
    snprintf(out->driver, sizeof out->driver, "aule native CPU backend, %s kernels (%d lanes; %d generated for "
             "build-time specs), %d threads%s", isa->name, isa->lanes, generated, out->threads,
             bf16 ? "; the CPU has AVX-512 BF16" : "");
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    out->device_local_bytes = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    out->unified_memory = true;
    /* A tensor larger than the machine's memory is refused up front, as a GPU
     * refuses one larger than its buffer range. */
    out->max_storage_buffer_range = out->device_local_bytes ? out->device_local_bytes : (uint64_t)1 << 40;
    out->max_workgroup_count_x = UINT32_MAX;
    auegen_target *t = &out->caps;
    snprintf(t->name, sizeof t->name, "cpu-%s", isa->name);
    t->subgroup_size = t->subgroup_min = t->subgroup_max = isa->lanes;
    t->shared_memory_bytes = 1 << 20;
    t->max_workgroup_invocations = 1;
    t->compute_units = out->threads;
    t->storage16 = t->storage8 = true;
    t->cpu = true;
    if (isa_out)
        *isa_out = isa;
    return AULE_OK;
}

aule_status aule__cpu_open(aule_context *ctx, int index)
{
    aule_status st = aule__cpu_info(&ctx->info, &ctx->cpu_isa);
    if (st != AULE_OK)
        return aule_fail(ctx, st, "%s", aule_context_last_error(NULL));
    ctx->info.index = index;
    if (aule__cpu_pool_create(ctx->info.threads, &ctx->cpu_pool) != 0)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory starting the CPU threads");
    ctx->info.threads = aule__cpu_pool_threads(ctx->cpu_pool);
    ctx->cpu = true;
    aule_log(ctx, AULE_LOG_INFO, "device %d: %s (%s)", index, ctx->info.name, ctx->info.driver);
    pthread_mutex_lock(&cpu_registered_lock);
    int refused = cpu_refused_count;
    uint32_t refused_abi = cpu_refused_abi;
    pthread_mutex_unlock(&cpu_registered_lock);
    if (refused)
        aule_log(ctx, AULE_LOG_WARN, "%d native CPU kernel(s) the program registered were compiled against CPU-kernel "
                 "ABI %u, this libaule has ABI %d: refused, their specs run the generic CPU kernel", refused,
                 (unsigned)refused_abi, AULE_CPU_KERNEL_ABI);
    return AULE_OK;
}

void aule__cpu_close(aule_context *ctx)
{
    aule__cpu_pool_destroy(ctx->cpu_pool);
    ctx->cpu_pool = NULL;
    free(ctx->cpu_workspace);
    ctx->cpu_workspace = NULL;
    ctx->cpu_workspace_bytes = 0;
}

aule_status aule__cpu_workspace_reserve(aule_context *ctx, size_t bytes)
{
    if (ctx->cpu_workspace_bytes >= bytes)
        return AULE_OK;
    free(ctx->cpu_workspace);
    ctx->cpu_workspace_bytes = 0;
    size_t size = (bytes < (1 << 20) ? (1 << 20) : bytes + 63) / 64 * 64;
    ctx->cpu_workspace = aligned_alloc(64, size);
    if (!ctx->cpu_workspace)
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory for the decode workspace (%zu bytes)", size);
    ctx->cpu_workspace_bytes = size;
    return AULE_OK;
}

/* The plan a CPU kernel entry reports: the tile sizes the launchers need (row
 * tiles of a decode grid, the split length's granularity). */
aule_status aule__cpu_plan(aule_context *ctx, const auegen_spec *spec, int part, auegen_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    switch (part) {
    case KERNEL_MAIN: plan->family = spec->kind == AUEGEN_KIND_DECODE ? AUEGEN_FAMILY_DECODE : AUEGEN_FAMILY_FORWARD; break;
    case KERNEL_REDUCE: plan->family = AUEGEN_FAMILY_REDUCE; break;
    case KERNEL_APPEND: plan->family = AUEGEN_FAMILY_APPEND; break;
    case KERNEL_BWD_DOT: plan->family = AUEGEN_FAMILY_BWD_DOT; break;
    case KERNEL_BWD_DKDV: plan->family = AUEGEN_FAMILY_BWD_DKDV; break;
    case KERNEL_BWD_DQ: plan->family = AUEGEN_FAMILY_BWD_DQ; break;
    case KERNEL_BWD_DSINK: plan->family = AUEGEN_FAMILY_BWD_DSINK; break;
    default:
        return aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "the native CPU backend has no %s kernel yet (it runs on "
                         "Vulkan devices: AULE_DEVICE=vulkan)", aule__kernel_part_name(part));
    }
    plan->tile_q = ctx->cpu_isa->tile_rows;
    plan->tile_kv = ctx->cpu_isa->tile_keys;
    plan->workgroup_size = 1;
    plan->subgroup_size = ctx->cpu_isa->lanes;
    plan->variant = AUEGEN_VARIANT_SCALAR;
    return AULE_OK;
}

/* --- running prepared calls ------------------------------------------------------------ */

typedef struct attn_run {
    const aule__cpu_attn *a;
    aule__cpu_pool *pool;
    size_t scratch;
    const aule__cpu_isa *isa;
    bool failed;                   /* scratch could not be allocated (only ever set to true) */
} attn_run;

static void attn_task(void *arg, int64_t task, int thread)
{
    attn_run *r = arg;
    void *scratch = aule__cpu_pool_scratch(r->pool, thread, r->scratch);
    if (!scratch) {
        __atomic_store_n(&r->failed, true, __ATOMIC_RELAXED);
        return;
    }
    r->isa->attend(r->a, task, scratch);
}

static aule_status attn_launch(aule_context *ctx, const aule__cpu_isa *isa, aule__cpu_attn *a)
{
    a->tile_rows = isa->tile_rows;
    int64_t rows = (int64_t)a->seq_q * a->gqa;
    a->row_tiles = (int)((rows + a->tile_rows - 1) / a->tile_rows);
    if (a->splits < 1)
        a->splits = 1;
    attn_run r = {.a = a, .pool = ctx->cpu_pool, .scratch = isa->scratch_bytes(a), .isa = isa};
    aule__cpu_pool_run(ctx->cpu_pool, aule__cpu_attn_tasks(a), attn_task, &r);
    if (__atomic_load_n(&r.failed, __ATOMIC_RELAXED))
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory for the CPU kernel's scratch");
    return AULE_OK;
}

static void attn_common(aule__cpu_attn *a, const auegen_spec *spec, const auegen_forward_push *p)
{
    a->dtype = spec->dtype;
    a->d = spec->head_dim;
    a->dv = spec->head_dim_v;
    a->gqa = spec->gqa;
    a->softcap = (float)spec->softcap;
    a->window_left = spec->window_left;
    a->window_right = spec->window_right;
    a->heads = (int)p->heads;
    a->kv_heads = (int)p->kv_heads;
    a->batch = (int)p->batch;
    a->scale = p->scale;
    a->seq_q = (int)p->seq_q;
    a->seq_k = (int)p->seq_k;
    a->q_sb = p->q_stride_b; a->q_sh = p->q_stride_h; a->q_ss = p->q_stride_s;
    a->k_sb = p->k_stride_b; a->k_sh = p->k_stride_h; a->k_ss = p->k_stride_s;
    a->v_sb = p->v_stride_b; a->v_sh = p->v_stride_h; a->v_ss = p->v_stride_s;
    a->o_sb = p->o_stride_b; a->o_sh = p->o_stride_h; a->o_ss = p->o_stride_s;
    a->lse_sb = p->lse_stride_b; a->lse_sh = p->lse_stride_h;
    a->splits = 1;
}

static aule_status run_forward(aule_context *ctx, const aule__cpu_isa *isa, const auegen_spec *spec,
                               const prepared_call *c)
{
    const auegen_forward_push *p = &c->push.forward;
    aule__cpu_attn a = {0};
    attn_common(&a, spec, p);
    a.q = c->host[AUEGEN_FORWARD_BINDING_Q];
    a.k = c->host[AUEGEN_FORWARD_BINDING_K];
    a.v = c->host[AUEGEN_FORWARD_BINDING_V];
    a.o = c->host[AUEGEN_FORWARD_BINDING_O];
    if (p->flags & AUEGEN_FORWARD_WRITE_LSE)
        a.lse = c->host[AUEGEN_FORWARD_BINDING_LSE];
    if (p->flags & AUEGEN_FORWARD_VARLEN) {
        a.cu_q = c->host[AUEGEN_FORWARD_BINDING_CU_SEQLENS_Q];
        a.cu_k = c->host[AUEGEN_FORWARD_BINDING_CU_SEQLENS_K];
    }
    if (spec->sinks)
        a.sinks = c->host[AUEGEN_FORWARD_BINDING_SINKS];
    return attn_launch(ctx, isa, &a);
}

static aule_status run_decode(aule_context *ctx, const aule__cpu_isa *isa, const auegen_spec *spec,
                              const prepared_call *c)
{
    const auegen_decode_push *p = &c->push.decode;
    aule__cpu_attn a = {0};
    /* The decode push block starts with the forward's fields. */
    auegen_forward_push fp;
    memcpy(&fp, p, sizeof fp);
    attn_common(&a, spec, &fp);
    a.kv_int8 = spec->kv_int8;
    a.q = c->host[AUEGEN_DECODE_BINDING_Q];
    a.k = c->host[AUEGEN_DECODE_BINDING_K];
    a.v = c->host[AUEGEN_DECODE_BINDING_V];
    a.o = c->host[AUEGEN_DECODE_BINDING_O];
    a.seq_lens = c->host[AUEGEN_DECODE_BINDING_SEQ_LENS];
    a.page_size = spec->page_size;
    if (a.page_size) {
        a.table = c->host[AUEGEN_DECODE_BINDING_BLOCK_TABLE];
        a.bt_stride = p->bt_stride;
    }
    if (spec->kv_int8) {
        a.k_scale = c->host[AUEGEN_DECODE_BINDING_K_SCALE];
        a.v_scale = c->host[AUEGEN_DECODE_BINDING_V_SCALE];
    }
    a.splits = (int)p->splits;
    a.split_len = p->split_len;
    if (a.splits > 1) {
        a.ws = c->host[AUEGEN_DECODE_BINDING_LSE];
        a.ws_lse = p->ws_lse;
    } else {
        if (p->flags & AUEGEN_FORWARD_WRITE_LSE)
            a.lse = c->host[AUEGEN_DECODE_BINDING_LSE];
        if (spec->sinks)
            a.sinks = c->host[AUEGEN_DECODE_BINDING_SINKS];
    }
    return attn_launch(ctx, isa, &a);
}

/* Merges the split partials of each row by log-sum-exp (sinks join the denominator). */
static aule_status run_reduce(aule_context *ctx, const auegen_spec *spec, const prepared_call *c)
{
    const auegen_reduce_push *p = &c->push.reduce;
    const float *ws = c->host[AUEGEN_REDUCE_BINDING_WORKSPACE];
    const float *sinks = spec->sinks ? c->host[AUEGEN_REDUCE_BINDING_SINKS] : NULL;
    float *lse = (p->flags & AUEGEN_FORWARD_WRITE_LSE) ? c->host[AUEGEN_REDUCE_BINDING_LSE] : NULL;
    void *o = c->host[AUEGEN_REDUCE_BINDING_O];
    int dv = spec->head_dim_v, splits = (int)p->splits;
    float acc[AUEGEN_MAX_HEAD_DIM];
    for (uint32_t b = 0; b < p->batch; b++)
        for (uint32_t h = 0; h < p->heads; h++)
            for (uint32_t i = 0; i < p->seq_q; i++) {
                int64_t row = ((int64_t)b * p->heads + h) * p->seq_q + i;
                const float *ls = ws + p->ws_lse + row * splits;
                float mx = sinks ? sinks[h] : -INFINITY;
                for (int s = 0; s < splits; s++)
                    mx = ls[s] > mx ? ls[s] : mx;
                float total = 0.0f;
                memset(acc, 0, (size_t)dv * sizeof *acc);
                if (mx != -INFINITY) {
                    for (int s = 0; s < splits; s++) {
                        if (ls[s] == -INFINITY)
                            continue;
                        float w = expf(ls[s] - mx);
                        const float *po = ws + ((size_t)row * splits + s) * dv;
                        total += w;
                        for (int x = 0; x < dv; x++)
                            acc[x] += w * po[x];
                    }
                }
                float denom = total + (sinks && mx != -INFINITY ? expf(sinks[h] - mx) : 0.0f);
                float mult = total > 0.0f ? 1.0f / denom : 0.0f;
                int64_t at = (int64_t)b * p->o_stride_b + (int64_t)h * p->o_stride_h + (int64_t)i * p->o_stride_s;
                for (int x = 0; x < dv; x++) {
                    float v = acc[x] * mult;
                    if (spec->dtype == AUEGEN_DTYPE_F32)
                        ((float *)o)[at + x] = v;
                    else if (spec->dtype == AUEGEN_DTYPE_BF16)
                        ((uint16_t *)o)[at + x] = aule_f32_to_bf16(v);
                    else
                        ((uint16_t *)o)[at + x] = aule_f32_to_f16(v);
                }
                if (lse)
                    lse[(int64_t)b * p->lse_stride_b + (int64_t)h * p->lse_stride_h + i] =
                        mx == -INFINITY ? -INFINITY : mx + logf(denom);
            }
    return AULE_OK;
}

static float load_value(int dtype, const void *base, int64_t at)
{
    if (dtype == AUEGEN_DTYPE_F32)
        return ((const float *)base)[at];
    if (dtype == AUEGEN_DTYPE_BF16)
        return aule_bf16_to_f32(((const uint16_t *)base)[at]);
    return aule_f16_to_f32(((const uint16_t *)base)[at]);
}

static int quantize(float x, float inv)
{
    float r = roundf(x * inv);
    return r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r;
}

/* New tokens into the cache; an int8 cache quantized per (page, KV head, channel)
 * with scales that only grow (the tokens already in a page are requantized). */
static aule_status run_append(aule_context *ctx, const auegen_spec *spec, const prepared_call *c)
{
    const auegen_append_push *p = &c->push.append;
    const int32_t *pos = c->host[AUEGEN_APPEND_BINDING_POSITIONS];
    const int32_t *table = spec->page_size ? c->host[AUEGEN_APPEND_BINDING_BLOCK_TABLE] : NULL;
    int ps = spec->page_size, dt = spec->dtype;
    size_t es = spec->dtype == AUEGEN_DTYPE_F32 ? 4 : 2;
    for (uint32_t b = 0; b < p->batch; b++)
        for (uint32_t h = 0; h < p->kv_heads; h++)
            for (int is_v = 0; is_v < 2; is_v++) {
                const void *src = c->host[is_v ? AUEGEN_APPEND_BINDING_V_NEW : AUEGEN_APPEND_BINDING_K_NEW];
                void *cache = c->host[is_v ? AUEGEN_APPEND_BINDING_V : AUEGEN_APPEND_BINDING_K];
                int dim = is_v ? spec->head_dim_v : spec->head_dim;
                int64_t nb = is_v ? p->vnew_stride_b : p->knew_stride_b, nh = is_v ? p->vnew_stride_h : p->knew_stride_h;
                int64_t ns = is_v ? p->vnew_stride_s : p->knew_stride_s;
                int64_t cb = is_v ? p->v_stride_b : p->k_stride_b, ch = is_v ? p->v_stride_h : p->k_stride_h;
                int64_t cs = is_v ? p->v_stride_s : p->k_stride_s;
                int64_t pos0 = pos[b];
                if (!spec->kv_int8) {
                    for (uint32_t t = 0; t < p->tokens; t++) {
                        int64_t j = pos0 + t, at;
                        if (ps)
                            at = ((int64_t)table[b * p->bt_stride + j / ps] * ps + j % ps) * cs + h * ch;
                        else
                            at = (int64_t)b * cb + h * ch + j * cs;
                        const char *from = (const char *)src + (size_t)(b * nb + h * nh + t * ns) * es;
                        memcpy((char *)cache + (size_t)at * es, from, (size_t)dim * es);
                    }
                    continue;
                }
                float *scales = c->host[is_v ? AUEGEN_APPEND_BINDING_V_SCALE : AUEGEN_APPEND_BINDING_K_SCALE];
                int8_t *q = cache;
                for (int64_t pidx = pos0 / ps; pidx * ps < pos0 + p->tokens; pidx++) {
                    int64_t start = pidx * ps, lo = pos0 > start ? pos0 : start;
                    int64_t hi = pos0 + p->tokens < start + ps ? pos0 + p->tokens : start + ps;
                    int64_t page = table[b * p->bt_stride + pidx];
                    bool filled = lo > start;
                    for (int x = 0; x < dim; x++) {
                        float mx = 0.0f;
                        for (int64_t j = lo; j < hi; j++)
                            mx = fmaxf(mx, fabsf(load_value(dt, src, b * nb + h * nh + (j - pos0) * ns + x)));
                        float *sc = &scales[(page * p->kv_heads + h) * dim + x];
                        float old_scale = filled ? *sc : 0.0f, new_scale = fmaxf(old_scale, mx / 127.0f);
                        float inv = new_scale > 0.0f ? 1.0f / new_scale : 0.0f;
                        if (filled && new_scale > old_scale)
                            for (int64_t j = start; j < lo; j++) {
                                int64_t at = (page * ps + j - start) * cs + h * ch + x;
                                q[at] = (int8_t)quantize((float)q[at] * old_scale, inv);
                            }
                        for (int64_t j = lo; j < hi; j++) {
                            int64_t at = (page * ps + j - start) * cs + h * ch + x;
                            q[at] = (int8_t)quantize(load_value(dt, src, b * nb + h * nh + (j - pos0) * ns + x), inv);
                        }
                        *sc = new_scale;
                    }
                }
            }
    return AULE_OK;
}

/* --- backward ------------------------------------------------------------------------- */

/* bwd_dot: D = rowsum(dO * O) per query row, fp32; one pool task per (batch, head). */
typedef struct dot_run {
    const auegen_spec *spec;
    const auegen_bwd_dot_push *p;
    const void *o, *dout;
    float *dd;
} dot_run;

static void dot_task(void *arg, int64_t task, int thread)
{
    (void)thread;
    const dot_run *r = arg;
    const auegen_bwd_dot_push *p = r->p;
    int64_t b = task / p->heads, h = task % p->heads;
    int dt = r->spec->dtype, dv = r->spec->head_dim_v;
    for (uint32_t i = 0; i < p->seq_q; i++) {
        int64_t ob = b * p->o_stride_b + h * p->o_stride_h + (int64_t)i * p->o_stride_s;
        int64_t db = b * p->do_stride_b + h * p->do_stride_h + (int64_t)i * p->do_stride_s;
        float x = 0.0f;
        for (int d = 0; d < dv; d++)
            x += load_value(dt, r->o, ob + d) * load_value(dt, r->dout, db + d);
        r->dd[b * p->d_stride_b + h * p->d_stride_h + i] = x;
    }
}

static aule_status run_bwd_dot(aule_context *ctx, const auegen_spec *spec, const prepared_call *c)
{
    dot_run r = {.spec = spec, .p = &c->push.bwd_dot, .o = c->host[AUEGEN_BWD_DOT_BINDING_O],
                 .dout = c->host[AUEGEN_BWD_DOT_BINDING_DO], .dd = c->host[AUEGEN_BWD_DOT_BINDING_D]};
    aule__cpu_pool_run(ctx->cpu_pool, (int64_t)r.p->batch * r.p->heads, dot_task, &r);
    return AULE_OK;
}

typedef struct bwd_run {
    const aule__cpu_bwd *a;
    aule__cpu_bwd_fn fn;
    aule__cpu_pool *pool;
    size_t scratch;
    bool failed;                   /* scratch could not be allocated (only ever set to true) */
} bwd_run;

static void bwd_task(void *arg, int64_t task, int thread)
{
    bwd_run *r = arg;
    void *scratch = aule__cpu_pool_scratch(r->pool, thread, r->scratch);
    if (!scratch) {
        __atomic_store_n(&r->failed, true, __ATOMIC_RELAXED);
        return;
    }
    r->fn(r->a, task, scratch);
}

/* Whether a bwd_dkdv call and the bwd_dq call after it run as one (FlashAttention-2's five matrix products
 * instead of seven: bwd_dq recomputes S and dP): one task per (sequence, KV head) holds the fp32 dQ of its
 * group's rows, so there must be enough such tasks for the threads and that accumulator must stay small
 * (8 MiB); not with sinks (bwd_dq also writes their DX). */
static bool bwd_fuses(aule_context *ctx, const auegen_spec *spec, const auegen_bwd_dkdv_push *p)
{
    uint64_t acc = ((uint64_t)p->seq_q * (uint64_t)spec->gqa + 64) * (uint64_t)(spec->head_dim + 16) * 4;
    return !spec->sinks && (uint64_t)p->batch * p->kv_heads >= 2 * (uint64_t)aule__cpu_pool_threads(ctx->cpu_pool)
           && acc <= ((uint64_t)8 << 20);
}

/* bwd_dkdv and bwd_dq: the two share their push constants' first fields and their first bindings. dkdv: the
 * bwd_dkdv call c, with dq_call its bwd_dq (NULL: none), both run by it when they fuse (*fused set); else
 * the bwd_dq call c. */
static aule_status run_bwd_grad(aule_context *ctx, const auegen_spec *spec, const prepared_call *c, bool dkdv,
                                const prepared_call *dq_call, bool *fused)
{
    const auegen_bwd_dkdv_push *kp = &c->push.bwd_dkdv;
    const auegen_bwd_dq_push *qp = &c->push.bwd_dq;
    aule__cpu_bwd a = {0};
#define BWD_COMMON(p)                                                                                        \
    do {                                                                                                     \
        a.heads = (int)(p)->heads, a.kv_heads = (int)(p)->kv_heads, a.batch = (int)(p)->batch;                \
        a.seq_q = (int)(p)->seq_q, a.seq_k = (int)(p)->seq_k, a.scale = (p)->scale;                           \
        a.q_sb = (p)->q_stride_b, a.q_sh = (p)->q_stride_h, a.q_ss = (p)->q_stride_s;                         \
        a.k_sb = (p)->k_stride_b, a.k_sh = (p)->k_stride_h, a.k_ss = (p)->k_stride_s;                         \
        a.v_sb = (p)->v_stride_b, a.v_sh = (p)->v_stride_h, a.v_ss = (p)->v_stride_s;                         \
        a.do_sb = (p)->do_stride_b, a.do_sh = (p)->do_stride_h, a.do_ss = (p)->do_stride_s;                   \
        a.lse_sb = (p)->lse_stride_b, a.lse_sh = (p)->lse_stride_h;                                           \
        a.d_sb = (p)->d_stride_b, a.d_sh = (p)->d_stride_h;                                                   \
        if ((p)->flags & AUEGEN_FORWARD_VARLEN) {                                                             \
            a.cu_q = c->host[AUEGEN_BWD_DKDV_BINDING_CU_SEQLENS_Q];                                           \
            a.cu_k = c->host[AUEGEN_BWD_DKDV_BINDING_CU_SEQLENS_K];                                           \
        }                                                                                                    \
    } while (0)
    if (dkdv)
        BWD_COMMON(kp);
    else
        BWD_COMMON(qp);
#undef BWD_COMMON
    a.dtype = spec->dtype;
    a.d = spec->head_dim;
    a.dv = spec->head_dim_v;
    a.gqa = spec->gqa;
    a.softcap = (float)spec->softcap;
    a.window_left = spec->window_left;
    a.window_right = spec->window_right;
    a.q = c->host[AUEGEN_BWD_DKDV_BINDING_Q];
    a.k = c->host[AUEGEN_BWD_DKDV_BINDING_K];
    a.v = c->host[AUEGEN_BWD_DKDV_BINDING_V];
    a.dout = c->host[AUEGEN_BWD_DKDV_BINDING_DO];
    a.lse = c->host[AUEGEN_BWD_DKDV_BINDING_LSE];
    a.dd = c->host[AUEGEN_BWD_DKDV_BINDING_D];
    const aule__cpu_isa *isa = ctx->cpu_isa;
    if (dkdv) {
        a.grad_k = c->host[AUEGEN_BWD_DKDV_BINDING_DK];
        a.grad_v = c->host[AUEGEN_BWD_DKDV_BINDING_DV];
        a.dk_sb = kp->dk_stride_b, a.dk_sh = kp->dk_stride_h, a.dk_ss = kp->dk_stride_s;
        a.dv_sb = kp->dv_stride_b, a.dv_sh = kp->dv_stride_h, a.dv_ss = kp->dv_stride_s;
        a.tiles = (a.seq_k + isa->tile_keys - 1) / isa->tile_keys;
        if (dq_call && bwd_fuses(ctx, spec, kp)) {
            const auegen_bwd_dq_push *fq = &dq_call->push.bwd_dq;
            a.fused = *fused = true;
            a.tiles = 1;
            a.grad_q = dq_call->host[AUEGEN_BWD_DQ_BINDING_DQ];
            a.dq_sb = fq->dq_stride_b, a.dq_sh = fq->dq_stride_h, a.dq_ss = fq->dq_stride_s;
        }
    } else {
        a.grad_q = c->host[AUEGEN_BWD_DQ_BINDING_DQ];
        a.dq_sb = qp->dq_stride_b, a.dq_sh = qp->dq_stride_h, a.dq_ss = qp->dq_stride_s;
        if (spec->sinks)
            a.dx = (float *)c->host[AUEGEN_BWD_DQ_BINDING_DX] + qp->dx_offset;
        a.tiles = (int)(((int64_t)a.seq_q * a.gqa + isa->tile_rows - 1) / isa->tile_rows);
    }
    bwd_run r = {.a = &a, .fn = dkdv ? isa->bwd_dkdv : isa->bwd_dq, .pool = ctx->cpu_pool,
                 .scratch = isa->bwd_scratch_bytes(&a)};
    aule__cpu_pool_run(ctx->cpu_pool, aule__cpu_bwd_tasks(&a), bwd_task, &r);
    if (__atomic_load_n(&r.failed, __ATOMIC_RELAXED))
        return aule_fail(ctx, AULE_ERROR_OUT_OF_MEMORY, "out of memory for the CPU kernel's scratch");
    return AULE_OK;
}

/* bwd_dsink: d(sink_h) = -sum over h's rows of exp(sink_h - LSE) * DX (bwd_dq's sum_j P dP), in a fixed order. */
static aule_status run_bwd_dsink(const prepared_call *c)
{
    const auegen_bwd_dsink_push *p = &c->push.bwd_dsink;
    const float *lse = c->host[AUEGEN_BWD_DSINK_BINDING_LSE], *sinks = c->host[AUEGEN_BWD_DSINK_BINDING_SINKS];
    const float *dx = (const float *)c->host[AUEGEN_BWD_DSINK_BINDING_DX] + p->dx_offset;
    const int32_t *cu = c->host[AUEGEN_BWD_DSINK_BINDING_CU_SEQLENS_Q];
    float *dsinks = c->host[AUEGEN_BWD_DSINK_BINDING_DSINKS];
    uint32_t rows = (p->flags & AUEGEN_FORWARD_VARLEN) ? (uint32_t)cu[p->sequences] : p->seq_q;
    for (uint32_t h = 0; h < p->heads; h++) {
        double x = 0.0;
        for (uint32_t b = 0; b < p->batch; b++)
            for (uint32_t i = 0; i < rows; i++)
                x += exp((double)sinks[h] - lse[(int64_t)b * p->lse_stride_b + (int64_t)h * p->lse_stride_h + i])
                     * dx[(int64_t)b * p->d_stride_b + (int64_t)h * p->d_stride_h + i];
        dsinks[h] = (float)-x;
    }
    return AULE_OK;
}

aule_status aule__cpu_run(aule_context *ctx, const kernel_entry *e, const prepared_call *calls, int count)
{
    aule_status st = AULE_OK;
    for (int i = 0; i < count && st == AULE_OK; i++) {
        const kernel_entry *k = calls[i].kernel ? calls[i].kernel : e;
        /* The entry's kernel: generated for its spec, or the generic one of the instruction set. */
        const aule__cpu_isa *isa = k->cpu_kernel ? k->cpu_kernel : ctx->cpu_isa;
        switch (k->plan.family) {
        case AUEGEN_FAMILY_FORWARD: st = run_forward(ctx, isa, &k->spec, &calls[i]); break;
        case AUEGEN_FAMILY_DECODE: st = run_decode(ctx, isa, &k->spec, &calls[i]); break;
        case AUEGEN_FAMILY_REDUCE: st = run_reduce(ctx, &k->spec, &calls[i]); break;
        case AUEGEN_FAMILY_APPEND: st = run_append(ctx, &k->spec, &calls[i]); break;
        case AUEGEN_FAMILY_BWD_DOT: st = run_bwd_dot(ctx, &k->spec, &calls[i]); break;
        case AUEGEN_FAMILY_BWD_DKDV: {
            /* The launcher's bwd_dq call of the same backward comes next: when the two fuse, it is done here. */
            const kernel_entry *nk = i + 1 < count ? (calls[i + 1].kernel ? calls[i + 1].kernel : e) : NULL;
            bool fused = false;
            st = run_bwd_grad(ctx, &k->spec, &calls[i], true,
                              nk && nk->plan.family == AUEGEN_FAMILY_BWD_DQ ? &calls[i + 1] : NULL, &fused);
            i += fused;
            break;
        }
        case AUEGEN_FAMILY_BWD_DQ: st = run_bwd_grad(ctx, &k->spec, &calls[i], false, NULL, NULL); break;
        case AUEGEN_FAMILY_BWD_DSINK: st = run_bwd_dsink(&calls[i]); break;
        default:
            st = aule_fail(ctx, AULE_ERROR_UNSUPPORTED, "the native CPU backend cannot run a %s kernel",
                           auegen_family_abi_get(k->plan.family) ? auegen_family_abi_get(k->plan.family)->name : "?");
        }
    }
    if (st == AULE_OK) {
        pthread_mutex_lock(&ctx->lock);
        ctx->stats.dispatches += (uint64_t)count;
        pthread_mutex_unlock(&ctx->lock);
    }
    return st;
}

static void empty_task(void *arg, int64_t task, int thread)
{
    (void)arg;
    (void)task;
    (void)thread;
}

void aule__cpu_empty(aule_context *ctx) { aule__cpu_pool_run(ctx->cpu_pool, aule__cpu_pool_threads(ctx->cpu_pool), empty_task, NULL); }
