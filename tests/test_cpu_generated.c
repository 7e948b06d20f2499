/* SPDX-License-Identifier: MIT */
/*
 * test_cpu_generated.c - the native CPU kernels auegen generates per spec and
 * CPU profile (docs/cpu.md). ctest has auegen write them for the specs of
 * tests/cpu_generated.lua and compiles them into this program, each with its
 * profile's flags; this test registers them and, on the instruction set the
 * context chose ($AULE_CPU_ISA, else the best the CPU has), checks for every
 * spec that
 *   - the generated kernel is the one chosen (kernel source "generated", and the
 *     context's entry holds that kernel), unless no profile of this
 *     architecture matches the instruction set (then the test says so);
 *   - it passes FlashAttention's accuracy rule against the float64 reference
 *     (aule_check_run / aule_check_decode_run) on shapes with ragged tiles,
 *     GQA, BSHD strides, varlen, single rows and LSE;
 *   - with $AULE_CPU_GENERATED=0 the generic kernel runs the same spec and
 *     passes the same rule.
 * Exit 77 (skipped) when the context cannot open (an $AULE_CPU_ISA the CPU lacks).
 */
#include "runtime_internal.h"
#include "aule_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every (spec, profile) CMake may have compiled in: weak, so the profiles of
 * another architecture (or instruction sets not built) are simply absent. */
#define CG_SPECS(X)                                                                                                    \
    X(cg_d64_causal_f16) X(cg_d128_bf16) X(cg_d128_causal_bf16_gqa4) X(cg_d80_window_softcap_f32)                       \
    X(cg_d128_decode_f16) X(cg_d64_decode_bf16_sinks)
#define CG_PROFILES(X, s) X(s, cpu_avx512) X(s, cpu_avx2_fma) X(s, cpu_generic) X(s, cpu_neon)
#define CG_DECL(s, p) extern const aule__cpu_kernel aule__cpu_kernel_##s##_##p __attribute__((weak));
#define CG_DECL_ALL(s) CG_PROFILES(CG_DECL, s)
CG_SPECS(CG_DECL_ALL)
#define CG_REF(s, p) &aule__cpu_kernel_##s##_##p,
#define CG_REF_ALL(s) CG_PROFILES(CG_REF, s)
static const aule__cpu_kernel *const all_kernels[] = {CG_SPECS(CG_REF_ALL)};

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

/* Whether some compiled-in kernel of this spec runs under the context's instruction set. */
static const aule__cpu_kernel *compiled_for(const aule_context *ctx, const auegen_spec *s)
{
    char canonical[600];
    auegen_spec_canonical(s, canonical, sizeof canonical);
    for (size_t i = 0; i < sizeof all_kernels / sizeof *all_kernels; i++) {
        const aule__cpu_kernel *k = all_kernels[i];
        if (k && strcmp(k->canonical, canonical) == 0 && strcmp(k->isa, ctx->cpu_isa->name) == 0)
            return k;
    }
    return NULL;
}

/* The shapes of one spec; every result is printed, a failed one counted. */
static void run_shapes(aule_context *ctx, const auegen_spec *s, const char *which)
{
    if (s->kind == AUEGEN_KIND_DECODE) {
        static const int lens[] = {1, 17, 300, 1025};
        static const int sqs[] = {1, 3};
        for (int i = 0; i < 2; i++) {
            aule_check_decode_shape sh = {.batch = 4, .heads = 2 * s->gqa, .seq_q = sqs[i], .seq_lens = lens,
                                          .lse = true, .seed = 7 + (uint64_t)i};
            aule_check_result r;
            aule_status st = aule_check_decode_run(ctx, s, &sh, &r);
            CHECK(st == AULE_OK, "%s %s decode: %s", s->name, which, aule_context_last_error(ctx));
            if (st != AULE_OK)
                continue;
            printf("  %-26s %-9s decode Sq=%d      err %.3e bound %.3e lse %.3e  %s\n", s->name, which, sh.seq_q,
                   r.err, r.bound, r.lse_err, r.pass ? "pass" : "FAIL");
            CHECK(r.pass, "%s %s decode Sq=%d: err %.3e > bound %.3e", s->name, which, sh.seq_q, r.err, r.bound);
        }
        return;
    }
    static const struct { int b, h, sq, sk; bool varlen, bshd; } shapes[] = {
        {1, 2, 1, 1, false, false},   {2, 2, 77, 131, false, true}, {1, 2, 200, 200, false, false},
        {3, 2, 65, 129, true, false}, {1, 4, 5, 300, false, false},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        aule_check_shape sh = {.batch = shapes[i].b, .heads = shapes[i].h * s->gqa, .seq_q = shapes[i].sq,
                               .seq_k = shapes[i].sk, .varlen = shapes[i].varlen, .bshd = shapes[i].bshd,
                               .lse = true, .seed = 11 + (uint64_t)i};
        aule_check_result r;
        aule_status st = aule_check_run(ctx, s, &sh, &r);
        CHECK(st == AULE_OK, "%s %s: %s", s->name, which, aule_context_last_error(ctx));
        if (st != AULE_OK)
            continue;
        printf("  %-26s %-9s B%d H%d Sq%-4d Sk%-4d%s err %.3e bound %.3e lse %.3e  %s\n", s->name, which, sh.batch,
               sh.heads, sh.seq_q, sh.seq_k, sh.varlen ? " varlen" : sh.bshd ? " bshd  " : "       ", r.err, r.bound,
               r.lse_err, r.pass ? "pass" : "FAIL");
        CHECK(r.pass, "%s %s: err %.3e > bound %.3e (lse %.3e > %.3e)", s->name, which, r.err, r.bound, r.lse_err,
              r.lse_bound);
    }
}

/* The log callback: counts the warnings about refused CPU kernels. */
static void count_abi_warnings(void *user, aule_log_level level, const char *message)
{
    if (level == AULE_LOG_WARN && strstr(message, "CPU-kernel ABI"))
        ++*(int *)user;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_cpu_generated SPEC_FILE (tests/cpu_generated.lua)\n");
        return 2;
    }
    setenv("AULE_DEVICE", "cpu", 1);
    auegen_spec_file *f = NULL;
    if (auegen_spec_file_load(argv[1], NULL, &f) != AUEGEN_OK) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    /* Kernels compiled against another CPU-kernel ABI (aule/cpu/ headers of another libaule):
     * refused with a message, told to every CPU context opened after through its log
     * callback, and their specs run the generic kernel. */
    int count = (int)(sizeof all_kernels / sizeof *all_kernels);
    CHECK(aule_register_cpu_kernels((const void *const *)all_kernels, count, AULE_CPU_KERNEL_ABI + 1)
              == AULE_ERROR_UNSUPPORTED, "a kernel of another CPU-kernel ABI was not refused");
    CHECK(strstr(aule_context_last_error(NULL), "CPU-kernel ABI") != NULL, "refusal message: %s",
          aule_context_last_error(NULL));
    printf("other ABI: %s\n", aule_context_last_error(NULL));
    {
        aule_context *old = NULL;
        int warned = 0;
        aule_context_desc desc = {.log = count_abi_warnings, .log_user = &warned};
        if (aule_context_create(&desc, &old) == AULE_OK) {
            aule_kernel_report rep;
            const auegen_spec *s = auegen_spec_file_get(f, 0);
            CHECK(warned == 1, "a CPU context opened after the refusal logged %d warnings about it, not 1", warned);
            CHECK(aule_kernel_prepare(old, s, &rep) == AULE_OK && rep.source == AULE_SOURCE_BUILTIN,
                  "%s: a refused kernel ran (source %s)", s->name, aule_kernel_source_name(rep.source));
            aule_context_destroy(old);
        }
    }
    CHECK(aule_register_cpu_kernels((const void *const *)all_kernels, count, AULE_CPU_KERNEL_ABI) == AULE_OK,
          "registering the kernels failed");
    aule_context *ctx = NULL;
    if (aule_context_create(NULL, &ctx) != AULE_OK) {
        fprintf(stderr, "skipped: no CPU context (%s)\n", aule_context_last_error(NULL));
        auegen_spec_file_destroy(f);
        return 77;
    }
    printf("instruction set %s (%d lanes)\n", ctx->cpu_isa->name, ctx->cpu_isa->lanes);
    int chosen = 0;
    for (int i = 0; i < auegen_spec_file_count(f); i++) {
        const auegen_spec *s = auegen_spec_file_get(f, i);
        const aule__cpu_kernel *want = compiled_for(ctx, s);
        /* The generated kernel: chosen, and the context's entry runs it. */
        unsetenv("AULE_CPU_GENERATED");
        aule_kernel_report rep;
        aule_status st = aule_kernel_prepare(ctx, s, &rep);
        CHECK(st == AULE_OK, "%s: prepare: %s", s->name, aule_context_last_error(ctx));
        kernel_entry *e = NULL;
        if (st == AULE_OK && aule__kernel_get(ctx, s, &e, NULL) == AULE_OK) {
            if (want) {
                CHECK(rep.source == AULE_SOURCE_GENERATED, "%s: kernel source %s, want generated", s->name,
                      aule_kernel_source_name(rep.source));
                CHECK(e->cpu_kernel == want->kernel, "%s: the entry does not hold %s's kernel", s->name, want->profile);
                chosen += e->cpu_kernel == want->kernel;
                printf("%s: generated %s kernel chosen\n", s->name, want->profile);
            } else {
                CHECK(rep.source == AULE_SOURCE_BUILTIN, "%s: kernel source %s, want builtin", s->name,
                      aule_kernel_source_name(rep.source));
                printf("%s: no generated kernel for %s compiled in: the generic kernel\n", s->name,
                       ctx->cpu_isa->name);
            }
        }
        run_shapes(ctx, s, want ? "generated" : "generic");
        /* The generic kernel of the same instruction set, on a context of its own. */
        setenv("AULE_CPU_GENERATED", "0", 1);
        aule_context *plain = NULL;
        if (aule_context_create(NULL, &plain) == AULE_OK) {
            CHECK(aule_kernel_prepare(plain, s, &rep) == AULE_OK && rep.source == AULE_SOURCE_BUILTIN,
                  "%s: AULE_CPU_GENERATED=0 did not give the generic kernel", s->name);
            run_shapes(plain, s, "generic");
            aule_context_destroy(plain);
        }
        unsetenv("AULE_CPU_GENERATED");
    }
    printf("%d generated kernel(s) chosen and checked; %d failure(s)\n", chosen, failures);
    aule_context_destroy(ctx);
    auegen_spec_file_destroy(f);
    return failures ? 1 : 0;
}
