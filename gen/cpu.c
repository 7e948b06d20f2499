/* SPDX-License-Identifier: MIT */
/*
 * cpu.c - the native CPU profiles and their generated kernels. A CPU profile
 * is an instruction set as the CPU backend's kernel (include/aule/cpu/cpu_kernel.h)
 * uses it: vector width, register blocking, tiles, compiler flags. For a spec
 * and a profile auegen writes one C file that defines the spec's values as
 * constants and includes cpu_kernel.h: the specialized kernel and the generic
 * one (head dim and masks read at run time) are one source (docs/cpu.md).
 */
#include "gen_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -ffp-contract=fast: a*b+c is one FMA (C11 mode turns contraction off). */
#define CPU_FLAGS_X86_AVX512 "-O3 -ffp-contract=fast -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c"

static const auegen_cpu_profile cpu_profiles[] = {
    {.name = "cpu-avx512-bf16", .arch = "x86_64", .isa = "avx512", .cpu_feature = "avx512bf16",
     .cflags = CPU_FLAGS_X86_AVX512 " -mavx512bf16", .lanes = 16, .row_vectors = 4, .tile_rows = 64, .tile_keys = 64,
     .description = "AVX-512 (F, BW, VL, DQ) with BF16 and F16C; runs only where the CPU has AVX-512 BF16"},
    {.name = "cpu-avx512", .arch = "x86_64", .isa = "avx512", .cpu_feature = NULL, .cflags = CPU_FLAGS_X86_AVX512,
     .lanes = 16, .row_vectors = 4, .tile_rows = 64, .tile_keys = 64,
     .description = "AVX-512 (F, BW, VL, DQ) with F16C: 16 lanes, 32 registers"},
    {.name = "cpu-avx2-fma", .arch = "x86_64", .isa = "avx2-fma", .cpu_feature = NULL,
     .cflags = "-O3 -ffp-contract=fast -mavx2 -mfma -mf16c", .lanes = 8, .row_vectors = 2, .tile_rows = 32,
     .tile_keys = 64, .description = "AVX2 with FMA and F16C: 8 lanes, 16 registers"},
    {.name = "cpu-generic", .arch = "x86_64", .isa = "generic", .cpu_feature = NULL, .cflags = "-O3 -ffp-contract=fast",
     .lanes = 4, .row_vectors = 2, .tile_rows = 16, .tile_keys = 64,
     .description = "the x86-64 baseline (SSE2): 4 lanes, 16 registers"},
    {.name = "cpu-neon", .arch = "aarch64", .isa = "generic", .cpu_feature = NULL, .cflags = "-O3 -ffp-contract=fast",
     .lanes = 4, .row_vectors = 4, .tile_rows = 16, .tile_keys = 64,
     .description = "AArch64 Advanced SIMD (NEON, the baseline): 4 lanes, 32 registers (not built or run here yet)"},
    {.name = "cpu-sve256", .arch = "aarch64", .isa = "sve256", .cpu_feature = "sve",
     .cflags = "-O3 -ffp-contract=fast -march=armv8.2-a+sve -msve-vector-bits=256", .lanes = 8, .row_vectors = 4,
     .tile_rows = 32, .tile_keys = 64,
     .description = "AArch64 SVE at 256 bits (Graviton3, A64FX halves): 8 lanes; the runtime does not choose it yet"},
};

int auegen_cpu_profile_count(void) { return (int)(sizeof cpu_profiles / sizeof cpu_profiles[0]); }

const auegen_cpu_profile *auegen_cpu_profile_get(int index)
{
    return index >= 0 && index < auegen_cpu_profile_count() ? &cpu_profiles[index] : NULL;
}

const auegen_cpu_profile *auegen_cpu_profile_find(const char *name)
{
    for (int i = 0; name && i < auegen_cpu_profile_count(); i++)
        if (strcmp(cpu_profiles[i].name, name) == 0)
            return &cpu_profiles[i];
    return NULL;
}

bool auegen_cpu_supports(const auegen_spec *spec)
{
    return spec && !spec->int8 && (spec->kind == AUEGEN_KIND_FORWARD || spec->kind == AUEGEN_KIND_DECODE);
}

/* "cpu-avx2-fma" -> "cpu_avx2_fma". */
static void ident(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        out[i] = (s[i] == '-' || s[i] == '.') ? '_' : s[i];
    out[i] = '\0';
}

static const char *dtype_constant(auegen_dtype d)
{
    switch (d) {
    case AUEGEN_DTYPE_F32: return "AUEGEN_DTYPE_F32";
    case AUEGEN_DTYPE_BF16: return "AUEGEN_DTYPE_BF16";
    default: return "AUEGEN_DTYPE_F16";
    }
}

auegen_status auegen_generate_cpu(const auegen_spec *spec, const auegen_cpu_profile *profile, const char *spec_file,
                                  char **text, char key[33], char *log, size_t log_size)
{
    if (text)
        *text = NULL;
    if (!spec || !profile || !text || !key) {
        if (log && log_size)
            snprintf(log, log_size, "spec, profile, text and key must not be NULL");
        return AUEGEN_ERROR_USAGE;
    }
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_normalize(spec, &s, &diag) != AUEGEN_OK) {
        if (log && log_size)
            snprintf(log, log_size, "%s", diag.errors[0].message);
        return AUEGEN_ERROR_SPEC;
    }
    if (!auegen_cpu_supports(&s)) {
        if (log && log_size)
            snprintf(log, log_size, "the native CPU backend runs forward and decode kernels only (not %s%s)",
                     auegen__kind_name(s.kind), s.int8 ? " int8" : "");
        return AUEGEN_ERROR_PLAN;
    }
    char canonical[1024];
    if (auegen_spec_canonical(&s, canonical, sizeof canonical) < 0) {
        if (log && log_size)
            snprintf(log, log_size, "canonical form too long");
        return AUEGEN_ERROR_INTERNAL;
    }
    auegen_family family = s.kind == AUEGEN_KIND_DECODE ? AUEGEN_FAMILY_DECODE : AUEGEN_FAMILY_FORWARD;
    /* The key: everything the file's text depends on. */
    char key_input[2048];
    int n = snprintf(key_input, sizeof key_input, "aule-cpu-key/1\n%s\nprofile %s arch=%s isa=%s feature=%s "
                     "lanes=%d rb=%d tile=%dx%d cflags=%s\ngenerator auegen %s\nfamily %d\n",
                     canonical, profile->name, profile->arch, profile->isa,
                     profile->cpu_feature ? profile->cpu_feature : "-", profile->lanes, profile->row_vectors,
                     profile->tile_rows, profile->tile_keys, profile->cflags, AUEGEN_VERSION_STRING, (int)family);
    if (n < 0 || (size_t)n >= sizeof key_input) {
        if (log && log_size)
            snprintf(log, log_size, "key input too long");
        return AUEGEN_ERROR_INTERNAL;
    }
    auegen__hash_hex(key_input, (size_t)n, key);

    char pid[64], sym[200];
    ident(profile->name, pid, sizeof pid);
    snprintf(sym, sizeof sym, "%s_%s", s.name, pid);
    const char *arch_macro = strcmp(profile->arch, "aarch64") == 0 ? "__aarch64__" : "__x86_64__";
    strbuf c = {0};
    auegen__sb_printf(&c, "/* generated by auegen %s from %s: kernel %s, target %s, key %s */\n", AUEGEN_VERSION_STRING,
                      spec_file ? spec_file : "(api)", s.name, profile->name, key);
    auegen__sb_puts(&c, "/* SPDX-License-Identifier: MIT */\n");
    auegen__sb_printf(&c, "/*\n * The native CPU kernel of %s for %s:\n * %s.\n", s.name, profile->name,
                      profile->description);
    auegen__sb_printf(&c, " * %d f32 lanes, %d row vectors per micro-kernel, tiles of %d query rows x %d keys.\n",
                      profile->lanes, profile->row_vectors, profile->tile_rows, profile->tile_keys);
    auegen__sb_printf(&c, " * Compile with %s\n"
                          " * and libaule's include folder on the include path (aule/cpu/cpu_kernel.h,\n"
                          " * the kernel; these constants specialize it).\n", profile->cflags);
    auegen__sb_printf(&c, " * %s\n */\n", canonical);
    auegen__sb_printf(&c, "#if !defined(%s)\n#error \"%s kernels are for %s\"\n#endif\n", arch_macro, profile->name,
                      profile->arch);
    auegen__sb_printf(&c, "#define AULE_CPU_W %d\n#define AULE_CPU_RB %d\n", profile->lanes, profile->row_vectors);
    auegen__sb_printf(&c, "#define AULE_CPU_ISA aule__cpu_isa_%s\n#define AULE_CPU_ISA_NAME \"%s\"\n", sym,
                      profile->isa);
    auegen__sb_printf(&c, "#define AULE_CPU_SPEC 1\n#define AULE_CPU_SPEC_D %d\n#define AULE_CPU_SPEC_DV %d\n",
                      s.head_dim, s.head_dim_v);
    auegen__sb_printf(&c, "#define AULE_CPU_SPEC_DTYPE %s\n#define AULE_CPU_SPEC_GQA %d\n", dtype_constant(s.dtype),
                      s.gqa);
    auegen__sb_printf(&c, "#define AULE_CPU_SPEC_WINDOW_LEFT (%d)\n#define AULE_CPU_SPEC_WINDOW_RIGHT (%d)\n",
                      s.window_left, s.window_right);
    /* The float the runtime passes ((float)softcap), written so that it reads back exactly. */
    auegen__sb_printf(&c, "#define AULE_CPU_SPEC_SOFTCAP %.8ef\n", (double)(float)s.softcap);
    auegen__sb_printf(&c, "#define AULE_CPU_SPEC_SINKS %d\n#define AULE_CPU_SPEC_KV_INT8 %d\n"
                          "#define AULE_CPU_SPEC_PAGE_SIZE %d\n", s.sinks ? 1 : 0,
                      s.kind == AUEGEN_KIND_DECODE && s.kv_int8 ? 1 : 0,
                      s.kind == AUEGEN_KIND_DECODE ? s.page_size : 0);
    auegen__sb_puts(&c, "#include \"aule/cpu/cpu_kernel.h\"\n\n");
    auegen__sb_printf(&c, "const aule__cpu_kernel aule__cpu_kernel_%s = {\n", sym);
    auegen__sb_printf(&c, "    .name = \"%s\",\n    .profile = \"%s\",\n    .isa = \"%s\",\n", s.name, profile->name,
                      profile->isa);
    if (profile->cpu_feature)
        auegen__sb_printf(&c, "    .cpu_feature = \"%s\",\n", profile->cpu_feature);
    auegen__sb_printf(&c, "    .canonical = \"%s\",\n    .key = \"%s\",\n    .family = %s,\n", canonical, key,
                      family == AUEGEN_FAMILY_DECODE ? "AUEGEN_FAMILY_DECODE" : "AUEGEN_FAMILY_FORWARD");
    auegen__sb_puts(&c, "    .kernel = &AULE_CPU_ISA,\n};\n");
    *text = auegen__sb_take(&c);
    if (!*text) {
        if (log && log_size)
            snprintf(log, log_size, "out of memory");
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    }
    return AUEGEN_OK;
}
