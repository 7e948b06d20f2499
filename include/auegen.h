/* SPDX-License-Identifier: MIT */
/*
 * auegen.h - the generator API: attention spec -> plan -> GLSL -> SPIR-V -> C stub.
 *
 * A spec describes one attention kernel (head_dim, GQA ratio, masks, dtype, ...).
 * Specs come from Lua files (auegen_spec_file_load) or are filled in C; both go
 * through the same validation. A zero-initialized auegen_spec_desc means
 * "every field at its default"; head_dim and name must still be set.
 *
 * Shape letters used across the project: B batch, H query heads, Hkv KV heads,
 * Sq query length, Sk key length, D head dim (Dv for V/O when it differs).
 */
#ifndef AUEGEN_H
#define AUEGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aule_export.h"
#include "auegen_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AUEGEN_VERSION_STRING "0.1.0"

typedef enum auegen_status {
    AUEGEN_OK = 0,
    AUEGEN_ERROR_SPEC,          /* the spec is invalid (messages in the diag list) */
    AUEGEN_ERROR_USAGE,         /* bad argument to an API call */
    AUEGEN_ERROR_PLAN,          /* the spec does not fit the target */
    AUEGEN_ERROR_COMPILE,       /* glslang rejected the generated GLSL (a generator bug) */
    AUEGEN_ERROR_VALIDATE,      /* SPIRV-Tools rejected the SPIR-V (a generator bug) */
    AUEGEN_ERROR_IO,            /* reading a spec or writing an output failed */
    AUEGEN_ERROR_UNSUPPORTED,   /* the toolchain lacks a needed feature */
    AUEGEN_ERROR_OUT_OF_MEMORY,
    AUEGEN_ERROR_INTERNAL
} auegen_status;

AUEGEN_API const char *auegen_status_string(auegen_status status);

typedef enum auegen_kind {
    AUEGEN_KIND_FORWARD = 0,
    AUEGEN_KIND_DECODE,
    AUEGEN_KIND_BACKWARD
} auegen_kind;

typedef enum auegen_dtype {
    AUEGEN_DTYPE_DEFAULT = 0,   /* f16 */
    AUEGEN_DTYPE_F32,
    AUEGEN_DTYPE_F16,
    AUEGEN_DTYPE_BF16
} auegen_dtype;

typedef enum auegen_coopmat {
    AUEGEN_COOPMAT_AUTO = 0,    /* tensor cores where the target has them */
    AUEGEN_COOPMAT_KHR,         /* require VK_KHR_cooperative_matrix */
    AUEGEN_COOPMAT_NONE         /* scalar/subgroup path only */
} auegen_coopmat;

/* Unbounded side of a sliding window. */
#define AUEGEN_WINDOW_UNBOUNDED (-1)

/* Limits of the spec language (docs/spec.md). */
#define AUEGEN_MAX_HEAD_DIM 256
#define AUEGEN_MAX_GQA 256
#define AUEGEN_MAX_TILE 256
#define AUEGEN_MAX_NAME 63
#define AUEGEN_MAX_ERRORS 20

/* What a spec says. Zero means "default" for every field but name/head_dim.
 * The members come from the field table in auegen_spec_fields.h, in its order:
 * one member per field named like it (int, bool, double or the enum above), but
 * for name (const char *), window (bool has_window; int window_left,
 * window_right) and tile (int tile_q, tile_kv, tile_rows). docs/spec.md, "The
 * same spec from C", says what each means and what zero means. */
typedef struct auegen_spec_desc {
#define AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, ...) AUEGEN_SPEC_DESC_MEMBERS_##KIND(FIELD, CTYPE)
#include "auegen_spec_fields.h"
} auegen_spec_desc;

/* A validated spec: every field explicit. Produced by auegen_spec_validate.
 * Members as in auegen_spec_desc, less causal (causal <=> window_right == 0)
 * and has_window (no window: both sides -1, unbounded); name is a copy;
 * tile_rows is 0 (= 16) or 32. */
typedef struct auegen_spec {
#define AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, ...) AUEGEN_SPEC_MEMBERS_##KIND(FIELD, CTYPE)
#include "auegen_spec_fields.h"
} auegen_spec;

static inline bool auegen_spec_causal(const auegen_spec *s) { return s->window_right == 0; }

/* One error: the spec field it concerns (or NULL) and the source line (0 = unknown). */
typedef struct auegen_error {
    char field[32];
    int line;
    char message[200];
} auegen_error;

/* A list of errors, each already formatted as "file:line: message". */
typedef struct auegen_diag {
    int count;                       /* errors recorded, at most AUEGEN_MAX_ERRORS */
    bool truncated;                  /* more errors existed than were recorded */
    auegen_error errors[AUEGEN_MAX_ERRORS];
} auegen_diag;

/* Formats error i of diag as "file:line: message" (file may be NULL). */
AUEGEN_API void auegen_error_format(const auegen_error *err, const char *file, char *buf, size_t size);

/* Checks desc and fills out with every default explicit. Returns AUEGEN_ERROR_SPEC
 * and appends to diag (which may be NULL) on a bad spec. */
AUEGEN_API auegen_status auegen_spec_validate(const auegen_spec_desc *desc, auegen_spec *out, auegen_diag *diag);

/* Validates an auegen_spec filled in by hand (or copied) and writes its
 * normalized form: the same checks as auegen_spec_validate. */
AUEGEN_API auegen_status auegen_spec_normalize(const auegen_spec *in, auegen_spec *out, auegen_diag *diag);

/* The canonical text of a spec: fixed field order, defaults explicit, one line.
 * Two specs that mean the same thing have the same canonical text. Returns the
 * length written (excluding NUL) or -1 when size is too small. */
AUEGEN_API int auegen_spec_canonical(const auegen_spec *spec, char *buf, size_t size);

/* --- spec files ----------------------------------------------------------- */

typedef struct auegen_spec_file auegen_spec_file;

/* Runs a Lua spec file in a sandbox and validates every kernel it declares.
 * display_name names the file in messages (NULL: path). On AUEGEN_ERROR_SPEC,
 * *out still holds the file so its diagnostics can be read; free it. */
AUEGEN_API auegen_status auegen_spec_file_load(const char *path, const char *display_name, auegen_spec_file **out);
/* Same, from text in memory. */
AUEGEN_API auegen_status auegen_spec_file_load_string(const char *text, size_t len, const char *display_name,
                                                      auegen_spec_file **out);
AUEGEN_API void auegen_spec_file_destroy(auegen_spec_file *file);
AUEGEN_API int auegen_spec_file_count(const auegen_spec_file *file);
AUEGEN_API const auegen_spec *auegen_spec_file_get(const auegen_spec_file *file, int index);
AUEGEN_API const auegen_spec *auegen_spec_file_find(const auegen_spec_file *file, const char *name);
AUEGEN_API const auegen_diag *auegen_spec_file_diag(const auegen_spec_file *file);
AUEGEN_API const char *auegen_spec_file_name(const auegen_spec_file *file);

/* --- targets ---------------------------------------------------------------- */

typedef enum auegen_scalar_type {
    AUEGEN_TYPE_F16 = 0,
    AUEGEN_TYPE_BF16,
    AUEGEN_TYPE_F32,
    AUEGEN_TYPE_S8,
    AUEGEN_TYPE_S32
} auegen_scalar_type;

/* One cooperative-matrix shape a device reports (VkCooperativeMatrixPropertiesKHR). */
typedef struct auegen_coopmat_shape {
    int m, n, k;
    auegen_scalar_type a_type, c_type;
} auegen_coopmat_shape;

#define AUEGEN_MAX_COOPMAT_SHAPES 16

/* How a 16x16 cooperative matrix sits in a subgroup: lane l holds `elems`
 * elements; element i is at
 *     row    = row_step * (l / cluster) + row_off[i]
 *     column = col_step * (l % cluster) + col_off[i].
 * So the `cluster` consecutive lanes l / cluster share their rows, and a row
 * reduction is a clustered subgroup reduction over them. lanes == 0: unknown.
 * NVIDIA's (probed on an H200): 32 lanes, cluster 4, row_step 1, col_step 2,
 * row_off {0,0,0,0,8,8,8,8}, col_off {0,1,8,9,0,1,8,9}. */
#define AUEGEN_LANE_MAX_ELEMS 64
typedef struct auegen_lane_layout {
    int lanes;                       /* subgroup size; 0 = unknown layout */
    int cluster, row_step, col_step, elems;
    signed char row_off[AUEGEN_LANE_MAX_ELEMS];
    signed char col_off[AUEGEN_LANE_MAX_ELEMS];
} auegen_lane_layout;

/* The layout the emulated cooperative matrices use on a subgroup of `lanes`
 * (4..64): cluster 4, row_off 4-wide blocks of lanes/4 rows apart, columns
 * 4 apart. Returns false for a subgroup size it has no layout for. */
AUEGEN_API bool auegen_lane_layout_emulated(int lanes, auegen_lane_layout *out);
/* NVIDIA's layout (above). */
AUEGEN_API void auegen_lane_layout_nvidia(auegen_lane_layout *out);
/* Fits the model above to a probed map: cell[l * elems + i] = row * 16 + column
 * of element i of lane l. False (and out->lanes = 0) when the map is not such a
 * layout, or a row is spread over more than one cluster. */
AUEGEN_API bool auegen_lane_layout_fit(const int *cell, int lanes, int elems, auegen_lane_layout *out);

/* What the planner needs to know about a device. */
typedef struct auegen_target {
    char name[64];
    int subgroup_size;               /* the size kernels are planned for */
    int subgroup_min, subgroup_max;  /* with subgroup size control */
    int shared_memory_bytes;         /* per workgroup */
    int max_workgroup_invocations;
    int compute_units;               /* SMs / CUs / Xe-cores; 0 = unknown */
    bool storage16;                  /* 16-bit storage buffer access */
    bool storage8;                   /* 8-bit storage buffer access (int8 KV caches) */
    bool fp16_arith;                 /* shaderFloat16 */
    bool int8_dot;                   /* packed 4x8-bit integer dot products (shaderIntegerDotProduct) */
    bool atomic_float_add;           /* shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): atomic dQ */
    bool cpu;                        /* a CPU device: one subgroup per workgroup (barriers are costly) */
    auegen_lane_layout lane_layout;  /* how a 16x16 f32 accumulator sits in a subgroup (probed) */
    bool lane_layout_a;              /* 16x16 f16 A matrices sit the same way (probed): P can be
                                        built in registers from S, element by element */
    bool coopmat_emulated;           /* the coopmat shapes are emulated in plain GLSL (testing) */
    int coopmat_count;
    auegen_coopmat_shape coopmat[AUEGEN_MAX_COOPMAT_SHAPES];
} auegen_target;

/* Named profiles in the repository, for devices a build machine can't reach. */
AUEGEN_API int auegen_target_profile_count(void);
AUEGEN_API const auegen_target *auegen_target_profile(int index);
AUEGEN_API const auegen_target *auegen_target_profile_find(const char *name);

/* Native CPU profiles (docs/cpu.md): an instruction set as libaule's CPU kernel
 * uses it. For a forward or decode spec, auegen_generate_cpu writes one C file
 * that defines the spec's values as constants and includes libaule's CPU kernel
 * (include/aule/cpu/cpu_kernel.h); libaule runs it instead of its generic kernel
 * when the running CPU has the profile's instruction set. */
typedef struct auegen_cpu_profile {
    const char *name;                /* "cpu-avx512", "cpu-avx2-fma", "cpu-generic", "cpu-neon", ... */
    const char *arch;                /* the machines that compile it: "x86_64" or "aarch64" */
    const char *isa;                 /* the runtime's instruction set it runs under (aule_device_info.isa) */
    const char *cpu_feature;         /* a further CPU feature it needs ("avx512bf16"), or NULL */
    const char *cflags;              /* compiler flags, space-separated */
    int lanes;                       /* f32 lanes of one vector */
    int row_vectors;                 /* row vectors one micro-kernel holds */
    int tile_rows, tile_keys;        /* query rows and keys of one tile */
    const char *description;
} auegen_cpu_profile;

AUEGEN_API int auegen_cpu_profile_count(void);
AUEGEN_API const auegen_cpu_profile *auegen_cpu_profile_get(int index);
AUEGEN_API const auegen_cpu_profile *auegen_cpu_profile_find(const char *name);
/* Whether the native CPU backend has a kernel of this spec's kind (forward and
 * decode, not INT8 or backward). */
AUEGEN_API bool auegen_cpu_supports(const auegen_spec *spec);
/* The C file of spec's kernel for profile (its first line names spec_file, the
 * kernel, the profile and the key): *text is malloc'd (free it), key its 32 hex
 * digits. AUEGEN_ERROR_PLAN (log says why) for a spec the CPU backend does not run. */
AUEGEN_API auegen_status auegen_generate_cpu(const auegen_spec *spec, const auegen_cpu_profile *profile,
                                             const char *spec_file, char **text, char key[33], char *log,
                                             size_t log_size);

/* --- plan --------------------------------------------------------------------- */

typedef enum auegen_variant {
    AUEGEN_VARIANT_SCALAR = 0,      /* any Vulkan 1.2 device */
    AUEGEN_VARIANT_COOPMAT          /* VK_KHR_cooperative_matrix */
} auegen_variant;

AUEGEN_API const char *auegen_variant_name(auegen_variant v);

/* Toolchain features the plan may use (what the linked glslang can compile). */
typedef struct auegen_toolchain {
    bool coopmat_khr;
} auegen_toolchain;

AUEGEN_API void auegen_toolchain_query(auegen_toolchain *out);

typedef struct auegen_plan {
    auegen_family family;            /* which kernel family (and so which ABI) the kernel belongs to */
    auegen_variant variant;
    int workgroup_size;              /* invocations */
    int subgroup_size;               /* required subgroup size, 0 = any */
    int tile_q;                      /* Br: packed query rows per workgroup */
    int tile_kv;                     /* Bc: keys per inner-loop step */
    int d_pad, dv_pad;               /* head dims padded for the kernel's loops */
    int q_stride, k_stride, v_stride;/* shared-memory row strides, in elements */
    int shared_memory_bytes;         /* what the kernel declares */
    int out_per_thread;              /* O elements each invocation accumulates */
    int scores_per_thread;           /* S elements each invocation computes */
    auegen_coopmat_shape mma;        /* coopmat variant: the shape used */
    int subgroups;                   /* workgroup_size / subgroup_size */
    auegen_lane_layout lane;         /* coopmat: the accumulator layout, where known */
    bool register_softmax;           /* coopmat: softmax in registers through `lane` (the fast kernel) */
    bool p_in_registers;             /* fast kernel: P becomes A matrices in registers, not via shared memory */
    bool q_in_shared;                /* fast kernel: Q stays in shared memory (head dims over 128) */
    int row_blocks;                  /* fast kernel: 16-row blocks per subgroup (spec tile.rows_per_subgroup / 16) */
    int lane_slots;                  /* fast kernel: distinct rows ("slots") a lane holds of a 16x16 tile */
    signed char lane_slot[AUEGEN_LANE_MAX_ELEMS];  /* fast kernel: the slot (0-based) of each lane element */
    signed char slot_row[AUEGEN_LANE_MAX_ELEMS];   /* fast kernel: each slot's row offset among the lane's rows */
    int kv_rows;                     /* coopmat kernel: rows of the shared K/V tile (max(2 Bc, Br): Q is staged there) */
    bool emulated;                   /* coopmat operations emulated in plain GLSL */
    bool storage16;                  /* kernel uses 16-bit storage buffers */
    bool atomic_dq;                  /* backward: bwd_dkdv adds dQ with float atomics, bwd_dq converts it */
    bool int8_dot;                   /* INT8 kernels and decode over an int8 KV cache: packed 4x8-bit dot
                                        products (OpSDot) rather than unpacking the bytes in plain GLSL */
} auegen_plan;

/* Chooses tiles and workgroup shape. On AUEGEN_ERROR_PLAN, why says why. */
AUEGEN_API auegen_status auegen_plan_make(const auegen_spec *spec, const auegen_target *target,
                                          const auegen_toolchain *tools, auegen_plan *out,
                                          char *why, size_t why_size);

/* --- kernels -------------------------------------------------------------------- */

/* Push constants, bindings and flags of every kernel family: auegen_abi.h. */

/* A generated kernel: everything a runtime needs to run it. The C stubs that
 * auegen emits define one of these per kernel. */
typedef struct auegen_kernel_info {
    const char *name;                /* the spec's name */
    const char *target;              /* the profile it was planned for */
    const char *canonical;           /* canonical spec text */
    const char *key;                 /* 32 hex digits */
    const char *module_key;          /* what the SPIR-V depends on (spec, plan, templates, toolchain): lookup by this */
    auegen_spec spec;
    auegen_plan plan;
    const uint32_t *spirv;
    size_t spirv_words;
} auegen_kernel_info;

/* The result of generating one kernel. */
typedef struct auegen_kernel {
    auegen_spec spec;
    auegen_target target;
    auegen_plan plan;
    char canonical[512];
    char key[33];
    char key_input[2048];            /* everything the key hashes, one field a line */
    char module_key[33];             /* hash of what the SPIR-V depends on: canonical spec, plan, part,
                                        templates and toolchain (not the device's name or other caps) */
    char *glsl;                      /* NUL-terminated */
    uint32_t *spirv;
    size_t spirv_words;
    char *stub_c, *stub_h;           /* NUL-terminated */
    char log[2048];                  /* compiler/validator messages on failure */
} auegen_kernel;

typedef struct auegen_generate_options {
    const char *spec_file;           /* shown in the stub's first line; NULL = "(api)" */
    bool optimize;                   /* run SPIRV-Tools' performance passes (default on via auegen) */
    bool skip_stub;                  /* don't build the C stub text */
    const char *part;                /* NULL: the kernel; for decode specs "reduce" (the split-K
                                      * merge) or "append" (writes new tokens into the cache) */
} auegen_generate_options;

/* The parts a kernel of this kind comes with besides itself, NULL-terminated:
 * "reduce" (the split-K merge) and "append" (the cache append) for decode. */
AUEGEN_API const char *const *auegen_kind_parts(auegen_kind kind);
/* The parts this spec's kernel comes with: its kind's, plus "bwd_dot",
 * "bwd_dkdv" and "bwd_dq" (the backward kernels; and "bwd_dsink" with sinks)
 * for a forward spec with backward = true. NULL-terminated. */
AUEGEN_API const char *const *auegen_spec_parts(const auegen_spec *spec);

/* Validates, plans and computes the key without compiling: what a runtime
 * needs to look a kernel up in its caches. Fills spec, target, plan,
 * canonical, key and key_input; no buffers to release. */
AUEGEN_API auegen_status auegen_prepare(const auegen_spec *spec, const auegen_target *target,
                                        const auegen_generate_options *opts, auegen_kernel *out);

/* Plans, expands the template, compiles, validates and builds the stub text.
 * On failure out->log says why; auegen_kernel_release frees its buffers. */
AUEGEN_API auegen_status auegen_generate(const auegen_spec *spec, const auegen_target *target,
                                         const auegen_generate_options *opts, auegen_kernel *out);
AUEGEN_API void auegen_kernel_release(auegen_kernel *kernel);

/* Compiles a GLSL compute shader with the linked glslang (Vulkan 1.2 target,
 * 1.3 when it uses cooperative matrices). *words is malloc'd. */
AUEGEN_API auegen_status auegen_compile_glsl(const char *glsl, uint32_t **words, size_t *count, char *log, size_t log_size);

/* Validates SPIR-V with SPIRV-Tools for Vulkan 1.3. log may be NULL. */
AUEGEN_API auegen_status auegen_spirv_validate(const uint32_t *words, size_t count, char *log, size_t log_size);

/* What the linked compiler is: "glslang 15.2.0" and so on. */
AUEGEN_API const char *auegen_compiler_version(void);
/* What the linked SPIRV-Tools says its version is ("v2025.1"). */
AUEGEN_API const char *auegen_spirv_tools_version(void);

/* Writes data to path only when the file's content differs; *changed says whether
 * it wrote. Writes a temp file in the same folder and renames it. */
AUEGEN_API auegen_status auegen_write_if_changed(const char *path, const void *data, size_t size, bool *changed);

#ifdef __cplusplus
}
#endif
#endif
