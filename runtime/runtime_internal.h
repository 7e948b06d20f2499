/* SPDX-License-Identifier: MIT */
/*
 * runtime_internal.h - what libaule's files share: the context, tensors,
 * kernel entries and the Vulkan helpers.
 */
#ifndef AULE_RUNTIME_INTERNAL_H
#define AULE_RUNTIME_INTERNAL_H

#include "aule.h"

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#include "aule/cpu/cpu_internal.h"
#include "disk_cache.h"

#if defined(__GNUC__)
#define AULE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AULE_PRINTF(a, b)
#endif

/* VK_KHR_cooperative_matrix, declared here because older Vulkan headers lack it. */
#define AULE_VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR ((VkStructureType)1000506000)
#define AULE_VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR ((VkStructureType)1000506001)
#define AULE_VK_COOPERATIVE_MATRIX_EXTENSION "VK_KHR_cooperative_matrix"
typedef struct aule_vk_coopmat_properties {
    VkStructureType sType;
    void *pNext;
    uint32_t MSize, NSize, KSize;
    uint32_t AType, BType, CType, ResultType;   /* VkComponentTypeKHR */
    VkBool32 saturatingAccumulation;
    uint32_t scope;                              /* VkScopeKHR */
} aule_vk_coopmat_properties;
typedef struct aule_vk_coopmat_features {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrix;
    VkBool32 cooperativeMatrixRobustBufferAccess;
} aule_vk_coopmat_features;
/* VK_KHR_shader_bfloat16 (bf16 cooperative matrices), likewise. */
#define AULE_VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_BFLOAT16_FEATURES_KHR ((VkStructureType)1000141000)
#define AULE_VK_SHADER_BFLOAT16_EXTENSION "VK_KHR_shader_bfloat16"
typedef struct aule_vk_bf16_features {
    VkStructureType sType;
    void *pNext;
    VkBool32 shaderBFloat16Type;
    VkBool32 shaderBFloat16DotProduct;
    VkBool32 shaderBFloat16CooperativeMatrix;
} aule_vk_bf16_features;
typedef VkResult(VKAPI_PTR *aule_PFN_coopmat_properties)(VkPhysicalDevice, uint32_t *, aule_vk_coopmat_properties *);

/* A kernel ready to dispatch. */
typedef struct kernel_entry {
    auegen_spec spec;              /* normalized, name cleared: the memo key (with part) */
    int part;                      /* KERNEL_MAIN, or one of the spec's parts (kernel_part_name) */
    auegen_plan plan;
    char key[33];
    aule_kernel_source source;
    const aule__cpu_isa *cpu_kernel;  /* native CPU: the kernel that runs it (generic or generated) */
    const char *cpu_profile;       /* native CPU: the generated kernel's profile ("cpu-avx512"), or NULL */
    VkShaderModule module;
    VkPipeline pipeline;
} kernel_entry;

enum { KERNEL_MAIN = 0, KERNEL_REDUCE, KERNEL_APPEND, KERNEL_BWD_DOT, KERNEL_BWD_DKDV, KERNEL_BWD_DQ, KERNEL_BWD_DSINK,
       KERNEL_INT8_QUANT };
/* The generator's name of a part ("reduce", ...; NULL for KERNEL_MAIN). */
const char *aule__kernel_part_name(int part);

/* One command buffer with its fence and descriptor sets, for one submission. */
typedef struct dispatch_slot {
    VkCommandBuffer cb;
    VkFence fence;
    VkDescriptorPool pool;
    VkDescriptorSet *sets;
    VkBuffer (*bound)[AUEGEN_BINDING_MAX];   /* what each set holds: rewritten only on change */
    VkQueryPool timestamps;        /* two queries, when the context profiles */
    int set_count;
    uint64_t epoch;                /* the buffer_epoch that bound[] is valid for */
    bool busy;                     /* guarded by slot_lock; a busy slot's arrays are its owner's alone */
} dispatch_slot;

enum { AULE_MAX_SLOTS = 32 };

struct aule_context {
    aule_device_info info;
    bool cpu;                      /* the native CPU backend: no Vulkan object below exists */
    aule__cpu_pool *cpu_pool;
    const aule__cpu_isa *cpu_isa;
    void *cpu_workspace;           /* guarded by workspace_lock, like workspace */
    size_t cpu_workspace_bytes;
    aule_log_fn log;
    void *log_user;
    bool disable_jit, disable_builtin;
    bool profile;
    double last_gpu_ms;            /* guarded by lock */

    VkInstance instance;
    VkPhysicalDevice physical;
    VkDevice device;
    struct VolkDeviceTable vk;     /* this device's entry points (contexts may differ) */
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceMemoryProperties memory;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipeline_layout;
    VkPipelineCache pipeline_cache;
    VkCommandPool command_pool;    /* guarded by slot_lock */
    VkBuffer dummy;                /* bound where an optional buffer is absent */
    VkDeviceMemory dummy_memory;

    pthread_mutex_t lock;          /* kernels, stats */
    pthread_mutex_t error_lock;    /* last_error */
    pthread_mutex_t queue_lock;
    pthread_mutex_t slot_lock;
    pthread_cond_t slot_free;
    dispatch_slot slots[AULE_MAX_SLOTS];
    int slot_count;
    uint64_t buffer_epoch;         /* guarded by slot_lock; bumped by every tensor destroy */

    pthread_mutex_t transfer_lock; /* staging buffer and its command buffer */
    VkBuffer staging;
    VkDeviceMemory staging_memory;
    void *staging_map;
    VkDeviceSize staging_size;
    VkCommandBuffer transfer_cb;
    VkFence transfer_fence;

    kernel_entry **kernels;
    int kernel_count, kernel_cap;
    kernel_entry *empty_kernel;

    pthread_mutex_t workspace_lock; /* decode split-K partials */
    VkBuffer workspace;
    VkDeviceMemory workspace_memory;
    VkDeviceSize workspace_size;

    disk_cache *disk;
    char pipeline_cache_name[160];
    aule_context_stats stats;
    char last_error[1024];
};

struct aule_tensor {
    aule_context *ctx;
    aule_tensor_desc desc;
    size_t bytes;
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *map;                     /* host-visible memory: written directly */
};

/* Records an error in ctx (NULL: the thread's creation error), logs it, returns st. */
aule_status aule_fail(aule_context *ctx, aule_status st, const char *fmt, ...) AULE_PRINTF(3, 4);
void aule_log(aule_context *ctx, aule_log_level level, const char *fmt, ...) AULE_PRINTF(3, 4);
aule_status aule_vk_status(VkResult r);
const char *aule_vk_result_string(VkResult r);

/* device.c */
/* Opens the device selector names (aule.h, aule_context_create); *cpu set: the
 * native CPU was chosen and nothing of Vulkan is open. */
aule_status aule__device_open(aule_context *ctx, const char *selector, bool *cpu);
void aule__device_close(aule_context *ctx);
int aule__device_find_memory(const aule_context *ctx, uint32_t type_bits, VkMemoryPropertyFlags want);

/* memory.c */
aule_status aule__buffer_create(aule_context *ctx, VkDeviceSize size, VkBufferUsageFlags usage,
                          VkMemoryPropertyFlags want, VkMemoryPropertyFlags fallback, VkBuffer *buffer,
                          VkDeviceMemory *memory, void **map);
void aule__buffer_destroy(aule_context *ctx, VkBuffer buffer, VkDeviceMemory memory);
/* AULE_OK when t is a live tensor of ctx; else an error naming the argument. */
aule_status aule__tensor_check_live(aule_context *ctx, const aule_tensor *t, const char *name);
/* Frees the device memory of ctx's tensors that are still alive and detaches
 * them (at context destroy); returns how many there were. */
int aule__tensors_orphan(aule_context *ctx);

/* kernels.c */
aule_status aule__pipeline_create(aule_context *ctx, kernel_entry *e, const uint32_t *words, size_t count);
void aule__entry_destroy(aule_context *ctx, kernel_entry *e);
aule_status aule__kernels_init(aule_context *ctx);
void aule__kernels_release(aule_context *ctx);
aule_status aule__kernel_get(aule_context *ctx, const auegen_spec *spec, kernel_entry **out, aule_kernel_report *report);
aule_status aule__kernel_get_part(aule_context *ctx, const auegen_spec *spec, int part, kernel_entry **out,
                            aule_kernel_report *report);
aule_status aule__kernel_for_info(aule_context *ctx, const auegen_kernel_info *info, kernel_entry **out);
aule_status aule__kernel_empty(aule_context *ctx, kernel_entry **out);
/* probe.c: finds how the device lays a 16x16 f32 accumulator over a subgroup (sets caps.lane_layout). */
void aule__kernels_probe_layout(aule_context *ctx);

/* dispatch.c */
aule_status aule__dispatch_init(aule_context *ctx);
/* One workgroup of e with every binding set to buffer (probes). */
aule_status aule__dispatch_raw(aule_context *ctx, const kernel_entry *e, VkBuffer buffer);

/* A checked call: its kernel, push constants, buffers and grid. The push
 * block and the bindings are those of the kernel's family (auegen_abi.h);
 * bindings the family does not use hold the context's dummy buffer. */
typedef struct prepared_call {
    const kernel_entry *kernel;    /* NULL: the kernel passed to dispatch_run */
    union {
        auegen_forward_push forward;
        auegen_decode_push decode;
        auegen_reduce_push reduce;
        auegen_append_push append;
        auegen_bwd_dot_push bwd_dot;
        auegen_bwd_dkdv_push bwd_dkdv;
        auegen_bwd_dq_push bwd_dq;
        auegen_bwd_dsink_push bwd_dsink;
        auegen_int8_quant_push int8_quant;
        auegen_int8_fwd_push int8_fwd;
        unsigned char bytes[AUEGEN_PUSH_MAX_BYTES];
    } push;
    uint32_t push_bytes;
    VkBuffer buffers[AUEGEN_BINDING_MAX];
    void *host[AUEGEN_BINDING_MAX];  /* the native CPU backend: the same bindings' host memory */
    uint32_t groups_x, groups_y, groups_z;
} prepared_call;

/* Binds tensor t at binding slot of call c (its buffer, and its memory for the CPU). */
#define AULE_BIND(c, slot, t) ((c)->buffers[slot] = (t)->buffer, (c)->host[slot] = (t)->map)

/* launch_forward.c: checks a forward call's arguments and prepares it (the backward
 * launcher checks the arguments it shares with the forward through it). */
aule_status aule__forward_prepare(aule_context *ctx, const auegen_spec *spec, const auegen_plan *plan,
                            const aule_forward_args *a, prepared_call *c);

/* launch_int8.c: the forward of an int8 = true spec (its quantizer part first). */
aule_status aule__int8_forward_batch(aule_context *ctx, const auegen_spec *spec, const aule_forward_args *args,
                                     const aule_int8_args *int8, int count);

/* Starts a call of family f: push constants zeroed, every binding the dummy buffer. */
void aule__call_init(aule_context *ctx, prepared_call *c, auegen_family f);

/* Records the calls in one command buffer (a barrier between each), submits, waits. */
aule_status aule__dispatch_run(aule_context *ctx, const kernel_entry *e, const prepared_call *calls, int count);
/* Shared checks of a tensor argument. */
aule_status aule__check_tensor(aule_context *ctx, const aule_tensor *t, const char *name, aule_dtype dtype, int ndim);
/* The sinks tensor a spec needs (fp32 [H], contiguous), or none when it has none. */
aule_status aule__check_sinks(aule_context *ctx, const auegen_spec *spec, const aule_tensor *sinks, int64_t heads);
void aule__dispatch_release(aule_context *ctx);

/* launch_decode.c: grows the context's workspace (split-K partials, the backward's D)
 * to at least bytes; the caller holds workspace_lock while it uses it. */
aule_status aule__workspace_reserve(aule_context *ctx, VkDeviceSize bytes);

/* kv_cache.c: the decode and append launchers' shared checks. */
aule_status aule__read_ints(aule_context *ctx, const aule_tensor *t, int32_t **out);
aule_status aule__check_cache(aule_context *ctx, const auegen_spec *spec, const aule_tensor *kc, const aule_tensor *vc,
                        const aule_tensor *table, int64_t batch, int64_t kv_heads, int64_t *capacity, int64_t *pages);
aule_status aule__check_scales(aule_context *ctx, const auegen_spec *spec, const aule_tensor *ks, const aule_tensor *vs,
                         int64_t pages, int64_t kv_heads);
aule_status aule__check_pages(aule_context *ctx, const auegen_spec *spec, const aule_tensor *table, const int32_t *entries,
                        int64_t b, int64_t first, int64_t count, int64_t pages);
aule_status aule__decode_spec(aule_context *ctx, const auegen_spec *in, const char *what, auegen_spec *out);
aule_status aule__linked_kernel(aule_context *ctx, const auegen_kernel_info *info, auegen_family f, const char *what,
                          kernel_entry **e);

/* cpu_backend.c: the native CPU backend. */
aule_status aule__cpu_info(aule_device_info *out, const aule__cpu_isa **isa);
/* The generated kernel (linked in, or registered) of this spec and family for the
 * context's instruction set; NULL when none, or when $AULE_CPU_GENERATED is 0. */
const aule__cpu_kernel *aule__cpu_generated_find(aule_context *ctx, const auegen_spec *spec, int family);
/* Adds generated kernels to those aule__cpu_generated_find looks at (for the process's
 * life; tests). NULL entries are skipped. */
aule_status aule__cpu_register_kernels(const aule__cpu_kernel *const *kernels, int count);
aule_status aule__cpu_open(aule_context *ctx, int index);
void aule__cpu_close(aule_context *ctx);
aule_status aule__cpu_workspace_reserve(aule_context *ctx, size_t bytes);
aule_status aule__cpu_plan(aule_context *ctx, const auegen_spec *spec, int part, auegen_plan *plan);
aule_status aule__cpu_run(aule_context *ctx, const kernel_entry *e, const prepared_call *calls, int count);
void aule__cpu_empty(aule_context *ctx);

/* The kernels linked in from generated/ (index.c). */
extern const auegen_kernel_info *const aule_generated_kernels[];
/* registry.c: those registered (aule_register_kernels), then generated/'s; NULL-terminated,
 * never changed or freed once returned. */
const auegen_kernel_info *const *aule__linked_kernels(void);

double aule_now_ms(void);

/* Failure injection, for tests only (tests/test_reliability.c): after
 * aule__fault_injection(n, m), every nth host allocation that libaule's
 * runtime makes and every mth vkAllocateMemory fail (0: never). The runtime's
 * files allocate through these wrappers (one atomic load when off). */
void aule__fault_injection(int host_every, int vk_every);
void *aule__fault_malloc(size_t n);
void *aule__fault_calloc(size_t n, size_t size);
void *aule__fault_realloc(void *p, size_t n);
bool aule__fault_vk(void);
#ifndef AULE_FAULT_DEFINE
#define malloc(n) aule__fault_malloc(n)
#define calloc(n, size) aule__fault_calloc(n, size)
#define realloc(p, n) aule__fault_realloc(p, n)
#endif

#endif
