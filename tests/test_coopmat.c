/*
 * test_coopmat.c - the cooperative-matrix kernels by FlashAttention's rule on a
 * device with VK_KHR_cooperative_matrix; exits 77 (skipped) on one without
 * (lavapipe). Every f16 kernel here must actually be planned as coopmat.
 */
#include "aule.h"
#include "aule_check.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    aule_context *ctx;
    aule_status st = aule_context_create(NULL, &ctx);
    if (st != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", aule_context_last_error(NULL));
        return 1;
    }
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    if (!info.coopmat_khr) {
        printf("skip: %s has no VK_KHR_cooperative_matrix\n", info.name);
        aule_context_destroy(ctx);
        return 77;
    }
    static const int dims[] = {32, 40, 64, 80, 96, 111, 128, 160, 256};
    static const int seqs[][2] = {{1, 239}, {113, 203}, {256, 512}, {1023, 1024}};
    int runs = 0, fails = 0;
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        for (int causal = 0; causal < 2; causal++) {
            auegen_spec_desc d = {.name = "c", .head_dim = dims[i], .gqa = 2, .causal = causal,
                                  .dtype = AUEGEN_DTYPE_F16, .coopmat = AUEGEN_COOPMAT_KHR};
            auegen_spec spec;
            if (auegen_spec_validate(&d, &spec, NULL) != AUEGEN_OK)
                return 1;
            for (int s = 0; s < 4; s++) {
                aule_check_shape sh = {.batch = 2, .heads = 4, .seq_q = seqs[s][0], .seq_k = seqs[s][1], .lse = true,
                                       .bshd = s == 1, .seed = (uint64_t)(i * 10 + s)};
                aule_check_result r;
                st = aule_check_run(ctx, &spec, &sh, &r);
                runs++;
                if (st != AULE_OK || r.kernel.plan.variant != AUEGEN_VARIANT_COOPMAT || !r.pass) {
                    fails++;
                    printf("FAIL D=%d causal=%d Sq=%d Sk=%d: %s, variant %s, err %.3e bound %.3e\n", dims[i], causal,
                           sh.seq_q, sh.seq_k, st ? aule_context_last_error(ctx) : "ran",
                           auegen_variant_name(r.kernel.plan.variant), r.err, r.bound);
                }
            }
        }
    }
    printf("%d passed, %d failed\n", runs - fails, fails);
    aule_context_destroy(ctx);
    return fails ? 1 : 0;
}
