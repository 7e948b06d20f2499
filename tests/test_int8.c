/* SPDX-License-Identifier: MIT */
/*
 * test_int8.c - INT8 attention (int8 = true) on the default Vulkan device
 * (lavapipe in CI): the accuracy gate against the float64 reference on the
 * unquantized inputs (aule_check_int8_run), over dtypes, head dims 64/128/256
 * and an odd one, GQA, causal and windowed masks, BSHD views and a K quantized
 * beforehand, on the three input families; the same figures with smoothing off
 * are printed beside them (docs/kernels.md quotes the table), and a K
 * quantized once gives the same output as K quantized by the call. The
 * cooperative-matrix kernel (s8 x s8 -> s32) meets the same gate on emulated
 * matrices (or the device's own, where it has an int8 shape).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aule.h"
#include "test_device.h"
#include "aule_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static aule_context *ctx;

static auegen_spec make_spec(int d, int gqa, auegen_dtype dt, int left, int right)
{
    auegen_spec_desc desc = {.name = "q8", .head_dim = d, .gqa = gqa, .dtype = dt, .int8 = true,
                             .has_window = left >= 0 || right >= 0, .window_left = left, .window_right = right};
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_validate(&desc, &s, &diag) != AUEGEN_OK)
        fail_msg("bad test spec: %s", diag.errors[0].message);
    return s;
}

typedef struct gate_case {
    int d, gqa;
    auegen_dtype dt;
    int left, right;
    int sq, sk;
    bool bshd, k_first;
} gate_case;

/* Small shapes: lavapipe compiles and runs every kernel on two CPU cores. */
static const gate_case cases[] = {
    {64, 1, AUEGEN_DTYPE_F16, -1, -1, 37, 70, false, false},
    {128, 4, AUEGEN_DTYPE_BF16, -1, 0, 29, 77, false, false},
    {256, 2, AUEGEN_DTYPE_F32, 20, 3, 33, 61, false, false},
    {128, 4, AUEGEN_DTYPE_F16, 31, 0, 40, 90, true, false},
    {64, 2, AUEGEN_DTYPE_BF16, -1, 0, 45, 45, true, true},
    {59, 2, AUEGEN_DTYPE_F16, -1, 0, 17, 100, false, true},
};

static const char *dt_name(auegen_dtype dt)
{
    return dt == AUEGEN_DTYPE_F32 ? "f32" : dt == AUEGEN_DTYPE_BF16 ? "bf16" : "f16";
}

/* The gate: every configuration and input family with smoothing meets AULE_INT8_*
 * (cosine, relative L1 and LSE error); the figures without smoothing are printed
 * for the docs' comparison. */
static void test_accuracy_gate(void **state)
{
    (void)state;
    int failures = 0;
    printf("| D | gqa | dtype | mask | inputs | cosine | rel. L1 | LSE err | cosine, no smoothing | rel. L1, no smoothing | LSE err, no smoothing |\n");
    printf("| ---: | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const gate_case *c = &cases[i];
        auegen_spec s = make_spec(c->d, c->gqa, c->dt, c->left, c->right);
        char mask[32];
        if (c->left < 0 && c->right < 0)
            snprintf(mask, sizeof mask, "none");
        else if (c->left < 0)
            snprintf(mask, sizeof mask, "causal");
        else
            snprintf(mask, sizeof mask, "window %d,%d", c->left, c->right);
        for (int f = 0; f < AULE_INT8_INPUT_COUNT; f++) {
            aule_check_int8_result r[2];
            for (int off = 0; off < 2; off++) {
                aule_check_int8_shape sh = {
                    .shape = {.batch = 1, .heads = 2 * c->gqa, .seq_q = c->sq, .seq_k = c->sk, .lse = true,
                              .bshd = c->bshd, .seed = 1000 + i * 10 + (size_t)f},
                    .inputs = (aule_int8_inputs)f, .no_smoothing = off, .quantize_k_first = c->k_first};
                aule_status st = aule_check_int8_run(ctx, &s, &sh, &r[off]);
                if (st != AULE_OK)
                    fail_msg("D%d %s: %s: %s", c->d, aule_int8_inputs_name((aule_int8_inputs)f), aule_status_string(st),
                             aule_context_last_error(ctx));
            }
            printf("| %d | %d | %s | %s | %s | %.6f | %.4f | %.4f | %.6f | %.4f | %.4f |\n", c->d, c->gqa, dt_name(c->dt),
                   mask, aule_int8_inputs_name((aule_int8_inputs)f), r[0].worst_cosine, r[0].rel_l1, r[0].lse_err,
                   r[1].worst_cosine, r[1].rel_l1, r[1].lse_err);
            if (!r[0].pass) {
                failures++;
                print_error("FAIL D%d gqa%d %s %s %s: cosine %.6f rel L1 %.4f LSE err %.4f\n", c->d, c->gqa,
                            dt_name(c->dt), mask, aule_int8_inputs_name((aule_int8_inputs)f), r[0].worst_cosine,
                            r[0].rel_l1, r[0].lse_err);
            }
        }
    }
    assert_int_equal(failures, 0);
}

/* Smoothing is what the mean-offset family needs: without it the same problem
 * is measurably worse (so the gate above measures the smoothing, not luck). */
static void test_smoothing_matters(void **state)
{
    (void)state;
    auegen_spec s = make_spec(64, 2, AUEGEN_DTYPE_F16, -1, 0);
    aule_check_int8_result r[2];
    for (int off = 0; off < 2; off++) {
        aule_check_int8_shape sh = {.shape = {.batch = 1, .heads = 4, .seq_q = 33, .seq_k = 64, .lse = true, .seed = 5},
                                    .inputs = AULE_INT8_MEAN_OFFSET, .no_smoothing = off};
        assert_int_equal(aule_check_int8_run(ctx, &s, &sh, &r[off]), AULE_OK);
    }
    assert_true(r[0].pass);
    assert_true(r[1].rel_l1 > 2 * r[0].rel_l1);
    assert_true(r[1].worst_cosine < r[0].worst_cosine);
}

/* A K quantized once (aule_int8_quantize_k) gives the same O and LSE, bit for bit. */
static void test_quantized_k_matches(void **state)
{
    (void)state;
    aule_check_int8_result r[2];
    auegen_spec s = make_spec(128, 4, AUEGEN_DTYPE_F16, -1, 0);
    for (int first = 0; first < 2; first++) {
        aule_check_int8_shape sh = {.shape = {.batch = 2, .heads = 8, .seq_q = 19, .seq_k = 50, .lse = true, .seed = 9},
                                    .inputs = AULE_INT8_OUTLIER_CHANNELS, .quantize_k_first = first};
        assert_int_equal(aule_check_int8_run(ctx, &s, &sh, &r[first]), AULE_OK);
    }
    assert_true(r[0].max_err == r[1].max_err && r[0].rel_l1 == r[1].rel_l1 && r[0].lse_err == r[1].lse_err);
}

/* The cooperative-matrix INT8 kernel: Q K^T on s8 x s8 -> s32 matrices, on the
 * device's own where it reports such a shape, else emulated (CI's lavapipe).
 * Every run must have been planned as coopmat and meet the gate on all three
 * input families. Few, small kernels: an emulated one takes tens of seconds
 * to compile on the CPU driver. D=59: the int8 words padded to a whole K step;
 * 32x16 tiles: two subgroups, two K scales per row's keys. */
static const gate_case coop_cases[] = {
    {64, 2, AUEGEN_DTYPE_F16, -1, 0, 33, 70, false, false},
    {59, 1, AUEGEN_DTYPE_BF16, 20, 3, 29, 61, true, true},
    {128, 4, AUEGEN_DTYPE_F32, -1, -1, 17, 50, false, false},
};

static void test_coopmat_gate(void **state)
{
    (void)state;
    aule_context_desc desc = {.emulate_coopmat = true};
    aule_context *cctx;
    if (aule_context_create(&desc, &cctx) != AULE_OK)
        fail_msg("no Vulkan device: %s", aule_context_last_error(NULL));
    aule_device_info info;
    aule_context_device_info(cctx, &info);
    bool s8 = false;
    for (int i = 0; i < info.caps.coopmat_count; i++)
        s8 = s8 || info.caps.coopmat[i].a_type == AUEGEN_TYPE_S8;
    if (!s8) {
        aule_context_destroy(cctx);
        print_message("skip: %s has no s8 cooperative matrices and cannot emulate them\n", info.name);
        skip();
    }
    printf("%s: %s s8 cooperative matrices\n", info.name, info.coopmat_emulated ? "emulated" : "the device's");
    printf("| D | gqa | dtype | mask | inputs | tile | cosine | rel. L1 | LSE err |\n");
    printf("| ---: | ---: | --- | --- | --- | --- | ---: | ---: | ---: |\n");
    int failures = 0;
    for (size_t i = 0; i < sizeof coop_cases / sizeof *coop_cases; i++) {
        const gate_case *c = &coop_cases[i];
        auegen_spec s = make_spec(c->d, c->gqa, c->dt, c->left, c->right);
        char mask[32];
        if (c->left < 0 && c->right < 0)
            snprintf(mask, sizeof mask, "none");
        else if (c->left < 0)
            snprintf(mask, sizeof mask, "causal");
        else
            snprintf(mask, sizeof mask, "window %d,%d", c->left, c->right);
        for (int f = 0; f < AULE_INT8_INPUT_COUNT; f++) {
            aule_check_int8_result r;
            aule_check_int8_shape sh = {
                .shape = {.batch = 1, .heads = 2 * c->gqa, .seq_q = c->sq, .seq_k = c->sk, .lse = true,
                          .bshd = c->bshd, .seed = 2000 + i * 10 + (size_t)f},
                .inputs = (aule_int8_inputs)f, .quantize_k_first = c->k_first};
            aule_status st = aule_check_int8_run(cctx, &s, &sh, &r);
            if (st != AULE_OK)
                fail_msg("D%d %s: %s: %s", c->d, aule_int8_inputs_name((aule_int8_inputs)f), aule_status_string(st),
                         aule_context_last_error(cctx));
            const auegen_plan *pl = &r.kernel.plan;
            printf("| %d | %d | %s | %s | %s | %dx%d | %.6f | %.4f | %.4f |\n", c->d, c->gqa, dt_name(c->dt), mask,
                   aule_int8_inputs_name((aule_int8_inputs)f), pl->tile_q, pl->tile_kv, r.worst_cosine, r.rel_l1,
                   r.lse_err);
            if (!r.pass || pl->variant != AUEGEN_VARIANT_COOPMAT || pl->family != AUEGEN_FAMILY_INT8_FWD) {
                failures++;
                print_error("FAIL D%d gqa%d %s %s %s: variant %s, cosine %.6f rel L1 %.4f LSE err %.4f\n", c->d,
                            c->gqa, dt_name(c->dt), mask, aule_int8_inputs_name((aule_int8_inputs)f),
                            auegen_variant_name(pl->variant), r.worst_cosine, r.rel_l1, r.lse_err);
            }
        }
    }
    aule_context_destroy(cctx);
    assert_int_equal(failures, 0);
}

/* More outlier channels than fp32 slots: 12 channels 30x wider than the rest,
 * so 8 travel in fp32 and 4 in a group-1 int8 word with scales of their own
 * (the second int32 sum of the coopmat kernel; the gate's families have 4
 * outliers, all in fp32). One run of spec s on ctx c: O, LSE and the number
 * of outlier channels the quantizer found. */
enum { MO_H = 4, MO_SQ = 37, MO_SK = 53, MO_D = 128 };

static void many_outliers_run(aule_context *c, const auegen_spec *s, const float *q, const float *k, const float *v,
                              float *o, float *lse, int *outliers, auegen_variant *variant)
{
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, MO_H, MO_SQ, MO_D}};
    aule_tensor_desc kd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, 1, MO_SK, MO_D}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {1, MO_H, MO_SQ}};
    aule_tensor *tq, *tk, *tv, *to, *tl, *k8, *ks, *km;
    assert_int_equal(aule_tensor_create(c, &qd, &tq), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &kd, &tk), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &kd, &tv), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &qd, &to), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &ld, &tl), AULE_OK);
    assert_int_equal(aule_tensor_write(tq, q, sizeof(float) * MO_H * MO_SQ * MO_D), AULE_OK);
    assert_int_equal(aule_tensor_write(tk, k, sizeof(float) * MO_SK * MO_D), AULE_OK);
    assert_int_equal(aule_tensor_write(tv, v, sizeof(float) * MO_SK * MO_D), AULE_OK);
    aule_tensor_desc d8, ds, dm;
    assert_int_equal(aule_int8_k_descs(c, s, 1, 1, MO_SK, &d8, &ds, &dm), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &d8, &k8), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &ds, &ks), AULE_OK);
    assert_int_equal(aule_tensor_create(c, &dm, &km), AULE_OK);
    aule_int8_k qk = {.k8 = k8, .k_scale = ks, .k_mean = km};
    assert_int_equal(aule_int8_quantize_k(c, s, tk, false, &qk), AULE_OK);
    aule_forward_args a = {.q = tq, .v = tv, .o = to, .lse = tl};
    aule_int8_args i8 = {.k_quantized = &qk};
    if (aule_attention_forward_int8(c, s, &a, &i8) != AULE_OK)
        fail_msg("%s", aule_context_last_error(c));
    assert_int_equal(aule_tensor_read(to, o, sizeof(float) * MO_H * MO_SQ * MO_D), AULE_OK);
    assert_int_equal(aule_tensor_read(tl, lse, sizeof(float) * MO_H * MO_SQ), AULE_OK);
    float mean[3 * MO_D];
    assert_int_equal(aule_tensor_read(km, mean, sizeof mean), AULE_OK);
    *outliers = 0;
    for (int i = 0; i < MO_D; i++)
        *outliers += mean[2 * MO_D + i] < 0.0f;   /* the group row: -1 - channel for an outlier */
    aule_kernel_report rep;
    assert_int_equal(aule_kernel_prepare(c, s, &rep), AULE_OK);
    *variant = rep.plan.variant;
    aule_tensor *all[] = {tq, tk, tv, to, tl, k8, ks, km};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
}

/* The coopmat kernel against the scalar one on the same int8 inputs (the same
 * explicit tile, so the same quantization): both sum the same integers, so O
 * and LSE agree to float rounding, group-1 words included. */
static void test_coopmat_many_outliers(void **state)
{
    (void)state;
    aule_context_desc desc = {.emulate_coopmat = true};
    aule_context *cctx;
    if (aule_context_create(&desc, &cctx) != AULE_OK)
        fail_msg("no Vulkan device: %s", aule_context_last_error(NULL));
    auegen_spec s = make_spec(MO_D, MO_H, AUEGEN_DTYPE_F32, -1, 0);
    s.tile_q = 32;
    s.tile_kv = 16;
    auegen_spec scalar = s;
    scalar.coopmat = AUEGEN_COOPMAT_NONE;
    size_t nq = (size_t)MO_H * MO_SQ * MO_D, nk = (size_t)MO_SK * MO_D;
    float *q = malloc(nq * sizeof *q), *k = malloc(nk * sizeof *k), *v = malloc(nk * sizeof *v);
    float *o[2] = {malloc(nq * sizeof(float)), malloc(nq * sizeof(float))}, lse[2][MO_H * MO_SQ];
    assert_true(q && k && v && o[0] && o[1]);
    uint64_t x = 12345;
#define MO_RAND() (x = x * 6364136223846793005ull + 1442695040888963407ull, (float)((x >> 40) & 0xffff) / 32768.0f - 1.0f)
    for (size_t i = 0; i < nq; i++)
        q[i] = MO_RAND();
    for (size_t i = 0; i < nk; i++) {
        int ch = (int)(i % MO_D);
        k[i] = MO_RAND() * (ch % 10 == 3 && ch < 120 ? 30.0f : 1.0f);   /* channels 3, 13, ..., 113 */
        v[i] = MO_RAND();
    }
#undef MO_RAND
    int outliers[2];
    auegen_variant variant[2];
    many_outliers_run(ctx, &scalar, q, k, v, o[0], lse[0], &outliers[0], &variant[0]);
    many_outliers_run(cctx, &s, q, k, v, o[1], lse[1], &outliers[1], &variant[1]);
    aule_device_info info;
    aule_context_device_info(cctx, &info);
    aule_context_destroy(cctx);
    assert_int_equal(variant[0], AUEGEN_VARIANT_SCALAR);
    assert_int_equal(outliers[0], 12);
    assert_int_equal(outliers[1], 12);
    double d_o = 0, d_l = 0, mag = 0;
    for (size_t i = 0; i < nq; i++) {
        d_o = fmax(d_o, fabs((double)o[0][i] - o[1][i]));
        mag = fmax(mag, fabs((double)o[0][i]));
    }
    for (int i = 0; i < MO_H * MO_SQ; i++)
        d_l = fmax(d_l, fabs((double)lse[0][i] - lse[1][i]));
    printf("12 outlier channels, coopmat (%s) against scalar: max |dO| %.3g (max |O| %.3g), max |dLSE| %.3g\n",
           auegen_variant_name(variant[1]), d_o, mag, d_l);
    free(q), free(k), free(v), free(o[0]), free(o[1]);
    bool s8 = false;
    for (int i = 0; i < info.caps.coopmat_count; i++)
        s8 = s8 || info.caps.coopmat[i].a_type == AUEGEN_TYPE_S8;
    if (s8)
        assert_int_equal(variant[1], AUEGEN_VARIANT_COOPMAT);
    assert_true(d_o <= 1e-5 * mag && d_l <= 1e-5);
}

/* What an INT8 call refuses, with a message. */
static void test_bad_arguments(void **state)
{
    (void)state;
    auegen_spec s = make_spec(64, 1, AUEGEN_DTYPE_F16, -1, -1);
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 2, 8, 64}};
    aule_tensor_desc cd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {2}};
    aule_tensor *q, *k, *v, *o, *cu;
    assert_int_equal(aule_tensor_create(ctx, &qd, &q), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &k), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &v), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &o), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &cd, &cu), AULE_OK);
    aule_forward_args a = {.q = q, .k = k, .v = v, .o = o, .cu_seqlens_q = cu, .cu_seqlens_k = cu};
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "varlen"));
    /* A quantized K of another batch. */
    aule_tensor_desc d8, ds, dm;
    assert_int_equal(aule_int8_k_descs(ctx, &s, 2, 2, 8, &d8, &ds, &dm), AULE_OK);
    aule_tensor *k8, *ks, *km;
    assert_int_equal(aule_tensor_create(ctx, &d8, &k8), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &ds, &ks), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &dm, &km), AULE_OK);
    aule_int8_k qk = {.k8 = k8, .k_scale = ks, .k_mean = km};
    aule_forward_args b = {.q = q, .v = v, .o = o};
    aule_int8_args i8 = {.k_quantized = &qk};
    assert_int_equal(aule_attention_forward_int8(ctx, &s, &b, &i8), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "k8 must be a contiguous [1][2]"));
    /* A plain spec is not an INT8 one. */
    auegen_spec_desc plain = {.name = "p", .head_dim = 64};
    auegen_spec ps;
    assert_int_equal(auegen_spec_validate(&plain, &ps, NULL), AUEGEN_OK);
    assert_int_equal(aule_attention_forward_int8(ctx, &ps, &b, &i8), AULE_ERROR_INVALID_ARGUMENT);
    aule_tensor *all[] = {q, k, v, o, cu, k8, ks, km};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
}

static int setup(void **state)
{
    (void)state;
    if (aule_context_create(NULL, &ctx) != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", aule_context_last_error(NULL));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    aule_context_destroy(ctx);
    return 0;
}

int main(void)
{
    test_device_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy_gate),
        cmocka_unit_test(test_smoothing_matters),
        cmocka_unit_test(test_quantized_k_matches),
        cmocka_unit_test(test_coopmat_gate),
        cmocka_unit_test(test_coopmat_many_outliers),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
