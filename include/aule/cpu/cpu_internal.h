/* SPDX-License-Identifier: MIT */
/*
 * cpu_internal.h - the native CPU backend: what its files share.
 *
 * A CPU context runs the same launchers as a Vulkan one (the same argument
 * checks, push constants and split-K plan); aule__dispatch_run hands their
 * prepared calls to aule__cpu_run instead of recording them. The attention
 * itself is one FlashAttention-2 kernel (cpu_kernel.h), compiled once per
 * instruction set with the spec's values read from the call (cpu_kernel_avx512.c,
 * cpu_kernel_avx2.c, cpu_kernel_generic.c), and again by auegen's generated
 * files with a build-time spec's values as constants; the instruction set is
 * chosen at run time from the CPU's features. The
 * backward's bwd_dkdv and bwd_dq (cpu_kernel_backward.h) are compiled with the
 * generic kernels.
 *
 * Shape letters: B batch, H query heads, Hkv KV heads, Sq, Sk, D, Dv.
 *
 * Installed (aule/cpu/, with cpu_kernel.h) because a program's own generated
 * CPU kernels (aule_add_kernels with CPU profiles) are compiled against it: it
 * is not API, and AULE_CPU_KERNEL_ABI below guards what they bake in.
 */
#ifndef AULE_CPU_INTERNAL_H
#define AULE_CPU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The CPU-kernel ABI: what a kernel compiled outside libaule bakes in from this
 * header and cpu_kernel.h: the layouts of aule__cpu_attn, aule__cpu_isa and
 * aule__cpu_kernel, and the contract of the attend entry (one task, its
 * scratch, aule__cpu_attn_tasks). Bump it with any change to them (the
 * static_asserts in runtime/cpu_backend.c fail on a changed layout until the
 * sizes there are updated with it); aule_register_cpu_kernels refuses kernels
 * built against another value. */
#define AULE_CPU_KERNEL_ABI 1

/* --- thread pool (cpu_pool.c) --------------------------------------------------- */

typedef struct aule__cpu_pool aule__cpu_pool;
/* One task of a parallel loop; thread is 0..threads-1 (0: the calling thread). */
typedef void (*aule__cpu_task_fn)(void *arg, int64_t task, int thread);

/* threads >= 1 (threads - 1 workers are started; the caller is the last one). 0 on success. */
int aule__cpu_pool_create(int threads, aule__cpu_pool **out);
void aule__cpu_pool_destroy(aule__cpu_pool *p);
int aule__cpu_pool_threads(const aule__cpu_pool *p);
/* Runs fn(arg, t, thread) for t in 0..tasks-1, shared out dynamically in
 * increasing t; returns when all are done. Calls from several threads are
 * served one at a time. */
void aule__cpu_pool_run(aule__cpu_pool *p, int64_t tasks, aule__cpu_task_fn fn, void *arg);
/* Scratch memory of one pool thread (64-byte aligned, kept between runs and
 * grown on demand); only that thread may call this during a run. NULL when
 * out of memory. */
void *aule__cpu_pool_scratch(aule__cpu_pool *p, int thread, size_t bytes);

/* --- the attention kernel (cpu_kernel.h) ---------------------------------------- */

/* One attention launch, everything in elements. Q/O rows of query head h,
 * sequence b, position i: q + b*q_sb + h*q_sh + (q_off + i)*q_ss. Keys: a
 * contiguous cache or forward K/V (k + b*k_sb + h*k_sh + (k_off + j)*k_ss), or
 * a paged cache (page_size > 0): key j of sequence b is slot
 * table[b*bt_stride + j/page_size]*page_size + j%page_size, at
 * k + slot*k_ss + h*k_sh. */
typedef struct aule__cpu_attn {
    int dtype;                     /* auegen_dtype of Q, O, and K, V unless kv_int8 */
    bool kv_int8;                  /* K/V int8, value = q * scale[page][Hkv][channel] */
    int d, dv, gqa, heads, kv_heads, batch;
    float scale, softcap;
    int window_left, window_right; /* -1: unbounded */
    const void *q;
    void *o;
    float *lse;                    /* optional, [B][H][Sq] with unit stride along Sq */
    int64_t q_sb, q_sh, q_ss, o_sb, o_sh, o_ss, lse_sb, lse_sh;
    const void *k, *v;
    int64_t k_sb, k_sh, k_ss, v_sb, v_sh, v_ss;
    int page_size;
    const int32_t *table;
    int64_t bt_stride;
    const float *k_scale, *v_scale;
    const float *sinks;            /* optional [H]; ignored for split partials */
    int seq_q, seq_k;              /* lengths; varlen: the longest */
    const int32_t *cu_q, *cu_k;    /* varlen: [B+1] */
    const int32_t *seq_lens;       /* decode: keys per sequence [B] (seq_k is then the capacity) */
    int splits;                    /* > 1: partial O and LSE of each split into ws */
    int64_t split_len;
    float *ws;                     /* partial O [(b*H + h)*Sq + i][split][Dv], then LSE at ws + ws_lse */
    int64_t ws_lse;
    int tile_rows;                 /* query rows (position-major over the GQA group) per task */
    int row_tiles;
} aule__cpu_attn;

/* One backward launch of bwd_dkdv or bwd_dq (cpu_kernel_backward.h), everything in
 * elements; strides and row addressing as aule__cpu_attn's forward K/V. dK/dV of
 * key j: grad_k + b*dk_sb + kvh*dk_sh + (k_off + j)*dk_ss; dQ like Q. LSE and
 * D = rowsum(dO * O) fp32 [B][H][Sq] (varlen: [1][H][total]). */
typedef struct aule__cpu_bwd {
    int dtype;                     /* auegen_dtype of Q, K, V, dO and the gradients */
    int d, dv, gqa, heads, kv_heads, batch;
    float scale, softcap;
    int window_left, window_right; /* -1: unbounded */
    const void *q, *k, *v, *dout;
    const float *lse, *dd;         /* the forward's LSE; D */
    int64_t q_sb, q_sh, q_ss, k_sb, k_sh, k_ss, v_sb, v_sh, v_ss, do_sb, do_sh, do_ss;
    int64_t lse_sb, lse_sh, d_sb, d_sh;
    void *grad_q, *grad_k, *grad_v;  /* bwd_dq writes grad_q, bwd_dkdv grad_k and grad_v */
    int64_t dq_sb, dq_sh, dq_ss, dk_sb, dk_sh, dk_ss, dv_sb, dv_sh, dv_ss;
    float *dx;                     /* sinks (bwd_dq): sum_j P dP per row, D's layout; else NULL */
    int seq_q, seq_k;              /* lengths; varlen: the longest */
    const int32_t *cu_q, *cu_k;    /* varlen: [B+1] */
    int tiles;                     /* bwd_dkdv: key tiles of seq_k (fused: 1); bwd_dq: row tiles of seq_q * gqa */
    bool fused;                    /* bwd_dkdv also writes dQ (grad_q, dq strides), one task per (sequence, KV head) */
} aule__cpu_bwd;

/* The kernel of one instruction set: runs task t of a (tasks = aule__cpu_attn_tasks). */
typedef void (*aule__cpu_attend_fn)(const aule__cpu_attn *a, int64_t task, void *scratch);
/* A backward kernel: runs task t of a (tasks = aule__cpu_bwd_tasks). */
typedef void (*aule__cpu_bwd_fn)(const aule__cpu_bwd *a, int64_t task, void *scratch);
typedef struct aule__cpu_isa {
    const char *name;              /* "avx512-bf16", "avx512", "avx2-fma", "generic" */
    int lanes;                     /* f32 lanes of one vector */
    int tile_rows, tile_keys;      /* the kernel's query rows and keys per tile */
    aule__cpu_attend_fn attend;
    size_t (*scratch_bytes)(const aule__cpu_attn *a);
    aule__cpu_bwd_fn bwd_dkdv;     /* task: one key tile (tile_keys keys) of one (sequence, KV head) */
    aule__cpu_bwd_fn bwd_dq;       /* task: one row tile (tile_rows rows) of one (sequence, KV head) */
    size_t (*bwd_scratch_bytes)(const aule__cpu_bwd *a);
} aule__cpu_isa;

/* A kernel auegen generated for one spec and CPU profile (NAME.cpu-PROFILE.c: the
 * spec's values as constants, then cpu_kernel.h): found by the spec's canonical
 * form and family, and run instead of the generic kernel when the context's
 * instruction set is the one it was compiled for. */
typedef struct aule__cpu_kernel {
    const char *name;              /* the spec's kernel name */
    const char *profile;           /* auegen's CPU profile: "cpu-avx512", ... */
    const char *isa;               /* the aule__cpu_isa it runs under: "avx512", "avx2-fma", "generic" */
    const char *cpu_feature;       /* one more feature the CPU must have (__builtin_cpu_supports), or NULL */
    const char *canonical;         /* auegen_spec_canonical of its spec */
    const char *key;               /* the generated file's key */
    int family;                    /* AUEGEN_FAMILY_FORWARD or AUEGEN_FAMILY_DECODE */
    const aule__cpu_isa *kernel;   /* the specialized kernel */
} aule__cpu_kernel;

/* The generated kernels linked into libaule (generated/index_cpu.c): those of the
 * host's architecture, NULL-terminated. */
extern const aule__cpu_kernel *const aule__cpu_generated_kernels[];

extern const aule__cpu_isa aule__cpu_isa_avx512;
extern const aule__cpu_isa aule__cpu_isa_avx2;
extern const aule__cpu_isa aule__cpu_isa_generic;

static inline int64_t aule__cpu_attn_tasks(const aule__cpu_attn *a)
{
    return (int64_t)a->row_tiles * a->splits * a->batch * a->kv_heads;
}

static inline int64_t aule__cpu_bwd_tasks(const aule__cpu_bwd *a)
{
    return (int64_t)a->tiles * a->batch * a->kv_heads;
}

#endif
