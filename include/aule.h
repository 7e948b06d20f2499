/* SPDX-License-Identifier: MIT */
/*
 * aule.h - libaule, the runtime: runs generated attention kernels through Vulkan,
 * or on the CPU's own SIMD units (the native CPU backend).
 *
 * A context owns one device: a Vulkan device, or the native CPU. Tensors live
 * on that device (host memory for the CPU) and are created once, written and
 * read explicitly, and reused across calls.
 * aule_attention_forward() finds the kernel for a spec (memory, kernels linked
 * in from generated/, the disk cache, or the generator in-process) and runs it.
 * Every call returns an aule_status; the text of the last error is kept per
 * context (aule_context_last_error). The library never prints: messages go to
 * the log callback of aule_context_desc when one is set.
 *
 * Shape letters: B batch, H query heads, Hkv KV heads, Sq, Sk, D, Dv.
 * Tensors are 4-D [B][H][S][D] in logical order with element strides, so
 * a BSHD buffer is passed as a strided view without copies.
 */
#ifndef AULE_H
#define AULE_H

#include "auegen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum aule_status {
    AULE_OK = 0,
    AULE_ERROR_INVALID_ARGUMENT,   /* NULLs, bad shapes, dtypes, strides or sizes */
    AULE_ERROR_NO_DEVICE,          /* no Vulkan loader, driver or usable device */
    AULE_ERROR_UNSUPPORTED,        /* the device lacks a feature the kernel needs */
    AULE_ERROR_OUT_OF_MEMORY,      /* host memory */
    AULE_ERROR_DEVICE_MEMORY,      /* device memory */
    AULE_ERROR_VULKAN,             /* a Vulkan call failed */
    AULE_ERROR_DEVICE_LOST,
    AULE_ERROR_GENERATOR,          /* the spec is invalid or could not be compiled */
    AULE_ERROR_IO
} aule_status;

AULE_API const char *aule_status_string(aule_status status);

/* "aule 0.1.0 (auegen 0.1.0, glslang 15.2.0, SPIRV-Tools v2025.1)": this
 * library's version and the generator and compilers linked into it. */
AULE_API const char *aule_version_string(void);
#define AULE_VERSION_STRING AUEGEN_VERSION_STRING

typedef enum aule_dtype {
    AULE_DTYPE_F32 = AUEGEN_DTYPE_F32,
    AULE_DTYPE_F16 = AUEGEN_DTYPE_F16,
    AULE_DTYPE_BF16 = AUEGEN_DTYPE_BF16,
    AULE_DTYPE_I32 = 16,           /* cumulative sequence lengths */
    AULE_DTYPE_I8 = 17             /* int8 KV caches */
} aule_dtype;

AULE_API size_t aule_dtype_size(aule_dtype dtype);   /* 0 for an unknown dtype */

typedef enum aule_log_level { AULE_LOG_DEBUG, AULE_LOG_INFO, AULE_LOG_WARN, AULE_LOG_ERROR } aule_log_level;
typedef void (*aule_log_fn)(void *user, aule_log_level level, const char *message);

typedef struct aule_context aule_context;
typedef struct aule_tensor aule_tensor;

/* Zero-initialized means defaults. */
typedef struct aule_context_desc {
    const char *device;            /* NULL: $AULE_DEVICE, else the default order (below) */
    const char *cache_dir;         /* NULL: $AULE_CACHE_DIR, $XDG_CACHE_HOME/aule, ~/.cache/aule */
    bool disable_disk_cache;
    bool disable_jit;              /* only kernels linked in (generated/, aule_register_kernels) */
    bool disable_builtin;          /* ignore the kernels linked in (generated/ and registered) */
    bool profile;                  /* time each submission on the device (aule_context_last_gpu_ms) */
    bool emulate_coopmat;          /* no tensor cores: run the coopmat kernels on emulated matrices
                                      (testing; also $AULE_COOPMAT_EMULATE=1) */
    aule_log_fn log;
    void *log_user;
} aule_context_desc;

/* Which device a context opens (aule_context_desc.device, else $AULE_DEVICE):
 *   unset or ""   a GPU through Vulkan (discrete, then integrated, then virtual);
 *                 without one, the native CPU backend. A Vulkan driver that runs
 *                 on the CPU (lavapipe) is never chosen by default.
 *   "cpu"         the native CPU backend (no Vulkan loader needed).
 *   "vulkan"      the best Vulkan device of any type, lavapipe included; never
 *                 the native CPU (AULE_ERROR_NO_DEVICE when there is none).
 *   an index      a device of aule_devices_list: the Vulkan devices first, the
 *                 native CPU last.
 *   other text    the first device whose name contains it (case-insensitive). */
AULE_API aule_status aule_context_create(const aule_context_desc *desc, aule_context **out);
AULE_API void aule_context_destroy(aule_context *ctx);
/* The last error of ctx; with ctx NULL, the last aule_context_create failure of this thread. */
AULE_API const char *aule_context_last_error(const aule_context *ctx);

typedef enum aule_device_type {
    AULE_DEVICE_OTHER = 0, AULE_DEVICE_INTEGRATED, AULE_DEVICE_DISCRETE, AULE_DEVICE_VIRTUAL, AULE_DEVICE_CPU
} aule_device_type;

/* What runs a context's kernels. */
typedef enum aule_backend {
    AULE_BACKEND_VULKAN = 0,       /* generated SPIR-V through a Vulkan driver */
    AULE_BACKEND_CPU               /* the native CPU backend: SIMD C kernels on a thread pool */
} aule_backend;

typedef struct aule_device_info {
    int index;                     /* in aule_devices_list; -1: the native CPU opened as "cpu" (not listed) */
    char name[256];
    char driver[256];              /* driver name and info */
    aule_device_type type;
    uint32_t vendor_id, device_id, driver_version, api_version;
    uint64_t device_local_bytes;
    bool unified_memory;           /* all device-local memory is host-visible */
    uint64_t max_storage_buffer_range;
    uint32_t max_workgroup_count_x;
    bool subgroup_size_control;
    bool coopmat_khr;              /* VK_KHR_cooperative_matrix enabled */
    bool coopmat_emulated;         /* coopmat kernels run on emulated matrices (emulate_coopmat) */
    bool pipeline_statistics;      /* VK_KHR_pipeline_executable_properties enabled (profiling contexts) */
    float timestamp_period_ns;
    auegen_target caps;            /* what the planner sees */
    aule_backend backend;          /* Vulkan, or the native CPU (type AULE_DEVICE_CPU, like lavapipe) */
    char isa[32];                  /* native CPU: the instruction set its kernels use ("avx512-bf16",
                                      "avx2-fma", "generic"); empty for Vulkan */
    int threads;                   /* native CPU: worker threads ($AULE_CPU_THREADS, else one per online CPU) */
} aule_device_info;

/* Lists the devices (for `aule info`): the Vulkan devices, then the native CPU
 * (always present); *count gets how many exist. Without a Vulkan loader or
 * driver only the CPU is listed. */
AULE_API aule_status aule_devices_list(aule_device_info *out, int max, int *count);
AULE_API aule_status aule_context_device_info(const aule_context *ctx, aule_device_info *out);

/* --- tensors ------------------------------------------------------------------ */

#define AULE_MAX_DIMS 4

/* strides all 0: contiguous (row-major). Strides are in elements, >= 0. */
typedef struct aule_tensor_desc {
    aule_dtype dtype;
    int ndim;                      /* 1..4 */
    int64_t shape[AULE_MAX_DIMS];
    int64_t strides[AULE_MAX_DIMS];
} aule_tensor_desc;

/* Lifetimes. A context outlives every call made on it and should outlive its
 * tensors; a tensor outlives every call it is passed to (a call returns only
 * when the device is done with it). Specs are copied by each call. A context
 * may be used from several threads at once; one tensor may be read by several
 * calls at once but written by one at a time. What is caught with a clear
 * status (AULE_ERROR_INVALID_ARGUMENT) instead of undefined behaviour:
 *   - a destroyed tensor passed to a call, aule_tensor_write or _read
 *     (a handle whose memory a later tensor happens to reuse cannot be told
 *     apart: it is that tensor);
 *   - a tensor of another context;
 *   - tensors that outlive their context: aule_context_destroy frees their
 *     device memory (and logs a warning); using one is an error and
 *     aule_tensor_destroy on it only frees the handle;
 *   - aule_tensor_destroy twice on the same handle is a no-op.
 * Destroying a context while another thread uses it, or a tensor while a call
 * on another thread uses it, is not caught. Errors about a tensor that is not
 * live are reported as the thread's error (aule_context_last_error(NULL)) by
 * aule_tensor_write and _read, which have no context to record them in. */
AULE_API aule_status aule_tensor_create(aule_context *ctx, const aule_tensor_desc *desc, aule_tensor **out);
AULE_API void aule_tensor_destroy(aule_tensor *t);
AULE_API const aule_tensor_desc *aule_tensor_get_desc(const aule_tensor *t);
/* Bytes of storage: the span the strides address. */
AULE_API size_t aule_tensor_bytes(const aule_tensor *t);
/* Copies the whole storage; bytes must equal aule_tensor_bytes. */
AULE_API aule_status aule_tensor_write(aule_tensor *t, const void *data, size_t bytes);
AULE_API aule_status aule_tensor_read(const aule_tensor *t, void *data, size_t bytes);

/* --- attention ------------------------------------------------------------------ */

/*
 * Q [B][H][Sq][D], K [B][Hkv][Sk][D], V [B][Hkv][Sk][Dv], O [B][H][Sq][Dv] in the
 * spec's dtype; H / Hkv must equal the spec's gqa. LSE (optional) fp32
 * [B][H][Sq] with a unit stride along Sq.
 * Varlen (cu_seqlens_q and cu_seqlens_k set, int32 [B+1], non-decreasing from 0):
 * Q/O are [1][H][total_q][D], K/V [1][Hkv][total_k][D], LSE [1][H][total_q];
 * max_seqlen_q/k bound every sequence (0: taken from the totals).
 */
typedef struct aule_forward_args {
    const aule_tensor *q, *k, *v;
    aule_tensor *o;
    aule_tensor *lse;
    const aule_tensor *cu_seqlens_q, *cu_seqlens_k;
    int max_seqlen_q, max_seqlen_k;
    float scale;                   /* 0: 1/sqrt(D) */
    const aule_tensor *sinks;      /* specs with sinks = true: fp32 [H], one logit per query head */
} aule_forward_args;

/* Runs the forward kernel of spec; count > 1 records all calls in one submission. */
AULE_API aule_status aule_attention_forward(aule_context *ctx, const auegen_spec *spec, const aule_forward_args *args);
AULE_API aule_status aule_attention_forward_batch(aule_context *ctx, const auegen_spec *spec,
                                                  const aule_forward_args *args, int count);
/* Runs one kernel linked in from generated/ (the typed stubs call this). */
AULE_API aule_status aule_forward_launch(aule_context *ctx, const auegen_kernel_info *kernel, const aule_forward_args *args);

/*
 * INT8 attention (a forward spec with int8 = true): Q and K are quantized to
 * int8 by the spec's int8_quant part, one fp32 scale per tile of the kernel's
 * plan, K smoothed first: its mean over the tokens of each KV head subtracted
 * (the LSE is corrected for it) and its channels balanced against Q's by a
 * factor per channel (docs/kernels.md, "INT8 attention"); S = Q K^T runs on int8, P V in fp32 from
 * V in the storage dtype. aule_attention_forward takes such a spec with plain
 * args (smoothing on); aule_attention_forward_int8 also takes K quantized
 * beforehand (a K cache quantized once) and can turn smoothing off. Not with
 * varlen. The quantized Q and K live in the context's workspace.
 */
typedef struct aule_int8_k {
    aule_tensor *k8;               /* AULE_DTYPE_I8 [B][Hkv][Sk_pad][RW * 4], contiguous: Sk_pad is Sk rounded
                                      up to the kernel's key tile, RW = ceil(D / 4) + AUEGEN_INT8_FLOAT_SLOTS
                                      (int8 words, then the outlier channels in fp32); padding is zeros */
    aule_tensor *k_scale;          /* fp32 [B][Hkv][Sk_pad / key tile], contiguous */
    aule_tensor *k_mean;           /* fp32 [B][Hkv][2 * D], contiguous: what smoothing subtracted from K (zeros
                                      without), then each channel's factor (K divided, Q multiplied; ones without) */
} aule_int8_k;

typedef struct aule_int8_args {
    const aule_int8_k *k_quantized; /* K from aule_int8_quantize_k (args.k may then be NULL); NULL: args.k */
    bool no_smoothing;             /* quantize K as it is (args.k only; a quantized K says by its mean) */
} aule_int8_args;

/* The tensors aule_int8_quantize_k writes for B x Hkv x Sk keys (descs to create them with). */
AULE_API aule_status aule_int8_k_descs(aule_context *ctx, const auegen_spec *spec, int64_t batch, int64_t kv_heads,
                                       int64_t seq_k, aule_tensor_desc *k8, aule_tensor_desc *k_scale,
                                       aule_tensor_desc *k_mean);
/* Quantizes K [B][Hkv][Sk][D] (the spec's dtype) into out, smoothed unless no_smoothing. */
AULE_API aule_status aule_int8_quantize_k(aule_context *ctx, const auegen_spec *spec, const aule_tensor *k,
                                          bool no_smoothing, const aule_int8_k *out);
/* The forward of an int8 spec; int8 NULL: defaults (K from args->k, smoothed). */
AULE_API aule_status aule_attention_forward_int8(aule_context *ctx, const auegen_spec *spec,
                                                 const aule_forward_args *args, const aule_int8_args *int8);

/*
 * Backward (a forward spec with backward = true): FlashAttention-2's, from the
 * forward's O and LSE. Q, K, V, O, LSE as in aule_forward_args (LSE required),
 * dO like O; writes dQ like Q, dK like K and dV like V (dK/dV summed over the
 * query heads of each KV head). Deterministic: no atomics. Varlen as in the
 * forward (rows that no sequence covers are left as they were). The
 * preprocess D = rowsum(dO * O) lives in the context's workspace.
 */
typedef struct aule_backward_args {
    const aule_tensor *q, *k, *v, *o, *dout, *lse;
    aule_tensor *dq, *dk, *dv;
    const aule_tensor *cu_seqlens_q, *cu_seqlens_k;
    int max_seqlen_q, max_seqlen_k;
    float scale;                     /* 0: 1/sqrt(D); must be the forward's */
    const aule_tensor *sinks;        /* specs with sinks: the forward's, fp32 [H] */
    aule_tensor *dsinks;             /* specs with sinks: their gradient, fp32 [H] (NULL: not computed) */
} aule_backward_args;

/* Runs the backward kernels of spec; count > 1 records all calls in one submission. */
AULE_API aule_status aule_attention_backward(aule_context *ctx, const auegen_spec *spec, const aule_backward_args *args);
AULE_API aule_status aule_attention_backward_batch(aule_context *ctx, const auegen_spec *spec, const aule_backward_args *args,
                                          int count);

/*
 * Decode: Sq (1..16) new query tokens per sequence against a KV cache, split
 * over the KV length (split-K) and merged by log-sum-exp. The spec's kind is
 * "decode"; its page_size says the cache layout:
 *   page_size > 0: K/V caches [pages][page_size][Hkv][D|Dv] (vLLM's and FlashInfer's
 *                  layout) and block_table int32 [B][max_pages]: page p of sequence b
 *                  is cache page block_table[b][p];
 *   page_size = 0: K/V caches [B][Hkv][S_max][D|Dv] (any strides, last dim contiguous).
 * seq_lens int32 [B]: the keys of each sequence (its new tokens included); queries
 * are aligned to the end (query i sees keys up to seq_len - Sq + i when causal).
 * Block tables and lengths are read and checked before any kernel runs.
 */
typedef struct aule_decode_args {
    const aule_tensor *q;            /* [B][H][Sq][D] */
    const aule_tensor *k_cache, *v_cache;
    const aule_tensor *block_table;  /* paged only */
    const aule_tensor *seq_lens;
    const aule_tensor *k_scale, *v_scale;   /* kv_int8 specs: fp32 [pages][Hkv][D|Dv]; caches are AULE_DTYPE_I8 */
    aule_tensor *o;                  /* [B][H][Sq][Dv] */
    aule_tensor *lse;                /* optional fp32 [B][H][Sq] */
    float scale;                     /* 0: 1/sqrt(D) */
    int num_splits;                  /* 0: planned from the device and the lengths; 1: no split */
    const aule_tensor *sinks;        /* specs with sinks = true: fp32 [H], one logit per query head */
} aule_decode_args;

AULE_API aule_status aule_attention_decode(aule_context *ctx, const auegen_spec *spec, const aule_decode_args *args);

/* Writes n new tokens' K and V ([B][Hkv][n][D|Dv]) into the cache of a decode
 * spec at positions[b] .. positions[b] + n - 1 (int32 [B]); the block table
 * must already map those positions to pages. Checked before anything runs. */
typedef struct aule_append_args {
    const aule_tensor *k_new, *v_new;
    aule_tensor *k_cache, *v_cache;
    const aule_tensor *block_table;  /* paged only */
    const aule_tensor *positions;
    aule_tensor *k_scale, *v_scale;  /* kv_int8 specs: fp32 [pages][Hkv][D|Dv], updated as pages fill */
} aule_append_args;

AULE_API aule_status aule_kv_append(aule_context *ctx, const auegen_spec *spec, const aule_append_args *args);

/* Typed launches of linked-in decode kernels (what the generated .h of a decode
 * spec calls): the decode kernel itself, and its append part. The split merge
 * is found among the linked-in kernels (or generated, when JIT is on). */
AULE_API aule_status aule_decode_launch(aule_context *ctx, const auegen_kernel_info *kernel, const aule_decode_args *args);
AULE_API aule_status aule_append_launch(aule_context *ctx, const auegen_kernel_info *kernel, const aule_append_args *args);

/*
 * Kernels a program links in itself (auegen's .c stubs, e.g. from the CMake
 * helper aule_add_kernels, which calls this from a constructor): registered,
 * they are found by spec like those linked in from generated/, also with JIT
 * disabled. The kernels (not the array) must stay valid until unregistered;
 * a library that may be unloaded unregisters the same array first.
 */
AULE_API aule_status aule_register_kernels(const auegen_kernel_info *const *kernels, int count);
AULE_API void aule_unregister_kernels(const auegen_kernel_info *const *kernels, int count);

/*
 * Native CPU kernels a program compiled itself (auegen's NAME.cpu-PROFILE.c
 * files, e.g. from aule_add_kernels with CPU profiles; docs/cpu.md): each
 * element points to the file's kernel (aule__cpu_kernel_NAME_PROFILE). They
 * are compiled against aule/cpu/cpu_kernel.h, which lays out libaule's
 * internal kernel call; abi_version is the AULE_CPU_KERNEL_ABI of that header
 * (aule/cpu/cpu_internal.h). A libaule with another CPU-kernel ABI refuses
 * them all (AULE_ERROR_UNSUPPORTED, logged through the log callback), and the
 * specs run its generic CPU kernel. Registered kernels are found by spec on CPU
 * contexts whose instruction set they were compiled for. The kernels (not the
 * array) must stay valid until unregistered.
 */
AULE_API aule_status aule_register_cpu_kernels(const void *const *kernels, int count, uint32_t abi_version);
AULE_API void aule_unregister_cpu_kernels(const void *const *kernels, int count);

/* Where a kernel came from. On the native CPU backend: BUILTIN, libaule's generic
 * kernel for the instruction set; GENERATED, a kernel auegen specialized for this
 * spec and instruction set at build time (a CPU profile, docs/cpu.md). */
typedef enum aule_kernel_source {
    AULE_SOURCE_MEMORY = 0, AULE_SOURCE_BUILTIN, AULE_SOURCE_DISK, AULE_SOURCE_JIT, AULE_SOURCE_GENERATED
} aule_kernel_source;

AULE_API const char *aule_kernel_source_name(aule_kernel_source source);

/* What aule_kernel_prepare found. */
typedef struct aule_kernel_report {
    aule_kernel_source source;
    char key[33];
    auegen_plan plan;
    double milliseconds;           /* lookup + compile + pipeline creation */
} aule_kernel_report;

/* Makes the pipeline for spec ready without running it. report may be NULL. */
AULE_API aule_status aule_kernel_prepare(aule_context *ctx, const auegen_spec *spec, aule_kernel_report *report);

/* The same for one part of spec (auegen_spec_parts: "reduce" and "append" of a
 * decode spec, "bwd_dot", "bwd_dkdv", "bwd_dq" (and "bwd_dsink") of a spec with
 * backward = true); part NULL: the main kernel. A part the spec does not have
 * is AULE_ERROR_INVALID_ARGUMENT. */
AULE_API aule_status aule_kernel_prepare_part(aule_context *ctx, const auegen_spec *spec, const char *part,
                                              aule_kernel_report *report);

typedef struct aule_context_stats {
    uint64_t memory_hits, builtin_hits, disk_hits, jit_compiles, disk_stores, dispatches;
} aule_context_stats;

AULE_API void aule_context_get_stats(const aule_context *ctx, aule_context_stats *out);

/* Device time of this context's last submission, in milliseconds, from GPU
 * timestamps (aule_context_desc.profile); a negative value when not measured. */
AULE_API double aule_context_last_gpu_ms(const aule_context *ctx);

/* The driver's statistics of the pipeline of spec (registers, spills, ...:
 * whatever VK_KHR_pipeline_executable_properties reports), one "name = value"
 * a line, into buf. Needs a profiling context on a device with the extension;
 * AULE_ERROR_UNSUPPORTED otherwise. */
AULE_API aule_status aule_kernel_statistics(aule_context *ctx, const auegen_spec *spec, char *buf, size_t size);

/* Milliseconds of a monotonic clock (for benchmarks). */
AULE_API double aule_clock_ms(void);

/* Runs an empty kernel count times, each submitted and waited on its own: the
 * floor a per-call overhead is measured against (bench/). */
AULE_API aule_status aule_empty_dispatch(aule_context *ctx, int count);

#ifdef __cplusplus
}
#endif
#endif
