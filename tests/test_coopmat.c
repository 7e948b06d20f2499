/* SPDX-License-Identifier: MIT */
/*
 * test_coopmat.c - the cooperative-matrix kernels by FlashAttention's rule.
 *
 * On a device with VK_KHR_cooperative_matrix: the full grid, on the device's
 * own matrices (tensor cores). On one without (lavapipe in CI): a smaller
 * grid on emulated matrices (aule_context_desc.emulate_coopmat), which checks
 * the kernels' logic - tiles, masks, GQA packing, the softmax in registers
 * through a lane layout other than NVIDIA's - though not the driver's
 * matrices. Exits 77 (skipped) only where neither can run. Every f16 kernel
 * here must actually be planned as coopmat, and the fast kernel (softmax in
 * registers) must be used wherever the layout is known (D up to 256).
 */
#include "aule.h"
#include "test_device.h"
#include "aule_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kernel_case {
    int head_dim, gqa;
    bool causal;
    int window_left;               /* -1: none */
    double softcap;
    int tile_q, tile_kv;           /* 0: the planner's */
    int tile_rows;                 /* tile.rows_per_subgroup: 0 (16) or 32 */
    bool sinks;                    /* attention sinks (spec sinks = true) */
    bool bf16;                     /* bf16 storage and matrices (else f16) */
} kernel_case;

typedef struct shape_case {
    int seq_q, seq_k;
    bool bshd, varlen;
} shape_case;

/* expect_p: 1 = P built in registers, 0 = through shared memory, -1 = either. */
static int run_grid(aule_context *ctx, const kernel_case *kc, size_t nk, const shape_case *sc, size_t ns,
                    bool fast_known, int expect_p, int *runs)
{
    int fails = 0;
    for (size_t i = 0; i < nk; i++) {
        auegen_spec_desc d = {.name = "c", .head_dim = kc[i].head_dim, .gqa = kc[i].gqa, .causal = kc[i].causal,
                              .softcap = kc[i].softcap, .dtype = kc[i].bf16 ? AUEGEN_DTYPE_BF16 : AUEGEN_DTYPE_F16, .coopmat = AUEGEN_COOPMAT_KHR,
                              .tile_q = kc[i].tile_q, .tile_kv = kc[i].tile_kv, .tile_rows = kc[i].tile_rows,
                              .sinks = kc[i].sinks};
        if (kc[i].window_left >= 0) {   /* causal: (W, 0); else symmetric (W, W) */
            d.has_window = true;
            d.window_left = kc[i].window_left;
            d.window_right = kc[i].causal ? 0 : kc[i].window_left;
        }
        auegen_spec spec;
        char why[256];
        if (auegen_spec_validate(&d, &spec, NULL) != AUEGEN_OK) {
            printf("FAIL D=%d: the spec does not validate\n", kc[i].head_dim);
            fails++;
            continue;
        }
        for (size_t s = 0; s < ns; s++) {
            aule_check_shape sh = {.batch = 2, .heads = 2 * kc[i].gqa, .seq_q = sc[s].seq_q, .seq_k = sc[s].seq_k,
                                   .lse = !sc[s].varlen, .bshd = sc[s].bshd, .varlen = sc[s].varlen,
                                   .seed = (uint64_t)(i * 10 + s)};
            aule_check_result r;
            aule_status st = aule_check_run(ctx, &spec, &sh, &r);
            (*runs)++;
            bool fast_ok = !fast_known || r.kernel.plan.register_softmax;
            if (kc[i].tile_rows == 32)
                fast_ok = fast_ok && r.kernel.plan.register_softmax && r.kernel.plan.row_blocks == 2;
            if (r.kernel.plan.register_softmax && expect_p >= 0)
                fast_ok = fast_ok && r.kernel.plan.p_in_registers == (expect_p == 1);
            snprintf(why, sizeof why, "%s", st ? aule_context_last_error(ctx) : "ran");
            if (st == AULE_OK && r.pass)
                printf("ok   %s D=%d gqa=%d causal=%d window=%d softcap=%g%s Sq=%d Sk=%d%s%s: err %.3e bound %.3e, "
                       "%.0f ms (%s%s)\n", kc[i].bf16 ? "bf16" : "f16", kc[i].head_dim, kc[i].gqa, kc[i].causal, kc[i].window_left, kc[i].softcap,
                       kc[i].sinks ? " sinks" : "", sh.seq_q, sh.seq_k, sh.bshd ? " bshd" : "",
                       sh.varlen ? " varlen" : "", r.err, r.bound,
                       r.run_ms, !r.kernel.plan.register_softmax ? "softmax in shared memory"
                                 : r.kernel.plan.p_in_registers ? "softmax and P in registers" : "softmax in registers",
                       r.kernel.plan.q_in_shared ? ", Q in shared memory" : "");
            if (st != AULE_OK || r.kernel.plan.variant != AUEGEN_VARIANT_COOPMAT || !fast_ok || !r.pass) {
                fails++;
                printf("FAIL %s D=%d gqa=%d causal=%d window=%d softcap=%g Sq=%d Sk=%d%s%s: %s, variant %s%s, "
                       "err %.3e bound %.3e\n", kc[i].bf16 ? "bf16" : "f16", kc[i].head_dim, kc[i].gqa, kc[i].causal, kc[i].window_left,
                       kc[i].softcap, sh.seq_q, sh.seq_k, sh.bshd ? " bshd" : "", sh.varlen ? " varlen" : "", why,
                       auegen_variant_name(r.kernel.plan.variant),
                       r.kernel.plan.register_softmax ? " (softmax in registers)" : "", r.err, r.bound);
            }
        }
    }
    return fails;
}

int main(void)
{
    test_device_init();
    aule_context *ctx;
    aule_status st = aule_context_create(NULL, &ctx);
    if (st != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", aule_context_last_error(NULL));
        return 1;
    }
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    int runs = 0, fails = 0;
    if (info.coopmat_khr) {
        bool fast_known = info.caps.lane_layout.lanes > 0;
        printf("%s: cooperative matrices of the device; accumulator layout %s\n", info.name,
               fast_known ? "known (softmax in registers)" : "unknown (softmax through shared memory)");
        static const int dims[] = {32, 40, 64, 80, 96, 111, 128, 160, 256};
        kernel_case kc[2 * sizeof dims / sizeof *dims];
        size_t nk = 0;
        for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
            for (int causal = 0; causal < 2; causal++)
                kc[nk++] = (kernel_case){dims[i], 2, causal, -1, 0.0, 0, 0, 0, false, false};
        static const shape_case sc[] = {{1, 239, false, false}, {113, 203, true, false}, {256, 512, false, false},
                                        {1023, 1024, false, false}, {300, 77, false, false}, {97, 150, false, true}};
        fails += run_grid(ctx, kc, nk, sc, sizeof sc / sizeof *sc, fast_known, -1, &runs);
        static const kernel_case extra[] = {
            {64, 4, true, 100, 0.0, 0, 0, 0, false, false}, {128, 8, false, -1, 30.0, 0, 0, 0, false, false}, {64, 1, false, 37, 0.0, 0, 0, 0, false, false},
            {128, 2, true, -1, 0.0, 128, 32, 0, false, false},
            /* two row blocks per subgroup */
            {128, 2, false, -1, 0.0, 64, 32, 32, false, false}, {128, 4, true, -1, 0.0, 128, 32, 32, false, false}, {256, 2, true, -1, 0.0, 32, 16, 32, false, false},
            /* attention sinks */
            {64, 8, true, 128, 0.0, 0, 0, 0, true, false}, {128, 2, false, -1, 0.0, 0, 0, 0, true, false},
        };
        fails += run_grid(ctx, extra, sizeof extra / sizeof *extra, sc, 3, fast_known, -1, &runs);
        /* bf16 matrices (VK_KHR_shader_bfloat16) where the device reports a shape. */
        bool bf16_shape = false;
        for (int i = 0; i < info.caps.coopmat_count; i++)
            bf16_shape |= info.caps.coopmat[i].a_type == AUEGEN_TYPE_BF16 && info.caps.coopmat[i].c_type == AUEGEN_TYPE_F32;
        if (bf16_shape) {
            kernel_case kb[2 * sizeof dims / sizeof *dims];
            for (size_t i = 0; i < nk; i++) {
                kb[i] = kc[i];
                kb[i].bf16 = true;
            }
            fails += run_grid(ctx, kb, nk, sc, sizeof sc / sizeof *sc, fast_known, -1, &runs);
        } else {
            printf("bf16: %s reports no bf16 x bf16 -> f32 shape; bf16 runs on the scalar kernel there\n", info.name);
        }
        aule_context_destroy(ctx);
        printf("%d passed, %d failed\n", runs - fails, fails);
        return fails ? 1 : 0;
    }
    aule_context_destroy(ctx);

    aule_context_desc desc = {.emulate_coopmat = true};
    st = aule_context_create(&desc, &ctx);
    if (st != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", aule_context_last_error(NULL));
        return 1;
    }
    aule_context_device_info(ctx, &info);
    if (!info.coopmat_emulated) {
        printf("skip: %s has no VK_KHR_cooperative_matrix and cannot emulate it\n", info.name);
        aule_context_destroy(ctx);
        return 77;
    }
    printf("%s: emulated cooperative matrices, %d lanes, clusters of %d\n", info.name,
           info.caps.lane_layout.lanes, info.caps.lane_layout.cluster);
    /* Small tiles keep the emulated kernels small: the CPU driver's compile time
     * grows fast with the number of matrix operations in a kernel. D=36: rows of
     * 72 bytes, so the unaligned (element by element) K/V path; D=160: Q in
     * shared memory (and, with the layout hidden below, the kernel with the
     * softmax through shared memory); 16x32: two S tiles per step; 64x16/r32:
     * two 16-row blocks per subgroup.
     * Measured with an empty driver cache, 2 cores: 7 to 62 s of compile each. */
    static const kernel_case kc[] = {
        {36, 2, false, 50, 20.0, 32, 16, 0, false, false},     /* unaligned rows, a symmetric window, softcap */
        {32, 4, true, -1, 0.0, 16, 32, 0, false, false},       /* two S tiles per step, GQA 4, causal */
        {160, 2, true, -1, 0.0, 16, 16, 0, false, false},      /* Q in shared memory */
        {48, 4, true, -1, 0.0, 64, 16, 32, false, false},      /* two row blocks per subgroup, two subgroups */
        {40, 2, true, 30, 0.0, 16, 16, 0, true, false}, /* attention sinks (a window too: rows with no key) */
        {32, 2, true, -1, 0.0, 16, 16, 0, false, true}, /* bf16 matrices */
    };
    static const shape_case sc[] = {{1, 239, false, false}, {113, 203, true, false}, {200, 77, false, false},
                                    {70, 130, false, true}};
    fails += run_grid(ctx, kc, sizeof kc / sizeof *kc, sc, sizeof sc / sizeof *sc, true, 1, &runs);
    aule_context_destroy(ctx);

    /* Devices whose A matrices sit differently from accumulators (AMD's, say) get
     * P through shared memory: AULE_COOPMAT_EMULATE=2 makes the emulation say so. */
    setenv("AULE_COOPMAT_EMULATE", "2", 1);
    st = aule_context_create(&desc, &ctx);
    unsetenv("AULE_COOPMAT_EMULATE");
    if (st != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", aule_context_last_error(NULL));
        return 1;
    }
    const kernel_case shared_p[] = {kc[0], kc[5]};
    fails += run_grid(ctx, shared_p, 2, sc, sizeof sc / sizeof *sc, true, 0, &runs);
    aule_context_destroy(ctx);

    /* Devices whose layout is unknown: the softmax through shared memory (=3). */
    setenv("AULE_COOPMAT_EMULATE", "3", 1);
    st = aule_context_create(&desc, &ctx);
    unsetenv("AULE_COOPMAT_EMULATE");
    if (st != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", aule_context_last_error(NULL));
        return 1;
    }
    const kernel_case unknown[] = {kc[2], kc[4], kc[5]};
    fails += run_grid(ctx, unknown, 3, sc, sizeof sc / sizeof *sc, false, -1, &runs);
    printf("%d passed, %d failed\n", runs - fails, fails);
    aule_context_destroy(ctx);
    return fails ? 1 : 0;
}
