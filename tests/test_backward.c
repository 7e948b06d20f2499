/* SPDX-License-Identifier: MIT */
/*
 * test_backward.c - the backward kernels (dQ, dK, dV) on the default Vulkan
 * device by FlashAttention's rule for gradients against float64, the float64
 * backward itself against central finite differences, a seeded sweep of
 * random configurations, and bad arguments. With AULE_DEVICE=cpu the same
 * checks (and CPU cases of their own) run on the native CPU backend.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aule.h"
#include "test_device.h"
#include "aule_check.h"
#include "aule_reference.h"
#include "llama3_8b_train.bwd_dq.portable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static aule_context *ctx;
static int checks;

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double uniform(uint64_t *s) { return ((double)(next(s) >> 11) + 0.5) / 9007199254740992.0 * 2.0 - 1.0; }

/* The float64 backward against central differences of L = sum(dO * O). */
static void finite_case(int d, int dv, int h, int hkv, int sq, int sk, int left, int right, double cap, bool sinks,
                        uint64_t seed)
{
    float sink[8] = {0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -0.5f, 0.25f, -2.0f};
    aule_ref_problem p = {.batch = 2, .heads = h, .kv_heads = hkv, .seq_q = sq, .seq_k = sk, .head_dim = d,
                          .head_dim_v = dv, .window_left = left, .window_right = right, .softcap = cap,
                          .scale = 1.0 / sqrt((double)d), .threads = 1, .sinks = sinks ? sink : NULL};
    double dsink[8];
    aule_ref_counts n;
    assert_int_equal(aule_ref_problem_counts(&p, &n), 0);
    double *x[3], *g[3], *dout = malloc(n.o * 8), *o = malloc(n.o * 8), *lse = malloc(n.lse * 8);
    size_t cnt[3] = {n.q, n.k, n.v};
    uint64_t rng = seed;
    for (int i = 0; i < 3; i++) {
        x[i] = malloc(cnt[i] * 8);
        g[i] = malloc(cnt[i] * 8);
        for (size_t j = 0; j < cnt[i]; j++)
            x[i][j] = uniform(&rng);
    }
    for (size_t j = 0; j < n.o; j++)
        dout[j] = uniform(&rng);
    assert_int_equal(aule_reference_backward_f64(&p, x[0], x[1], x[2], dout, g[0], g[1], g[2], dsink), 0);
    double worst = 0;
    /* The sinks are fp32 in the problem: central differences in steps of 2^-10
     * (exact in float), so their truncation error is about 1e-7 here. */
    double worst_sink = 0;
    for (int hh = 0; sinks && hh < h; hh++) {
        const float keep = sink[hh], step = 1.0f / 1024;
        double l[2];
        for (int s = 0; s < 2; s++) {
            sink[hh] = keep + (s ? -step : step);
            assert_int_equal(aule_reference_forward_f64(&p, x[0], x[1], x[2], o, lse), 0);
            l[s] = 0;
            for (size_t m = 0; m < n.o; m++)
                l[s] += dout[m] * o[m];
        }
        sink[hh] = keep;
        double fd = (l[0] - l[1]) / (2.0 * step), e = fabs(fd - dsink[hh]) / (1.0 + fabs(fd));
        worst_sink = e > worst_sink ? e : worst_sink;
    }
    assert_true(worst_sink < 1e-5);
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < cnt[i]; j++) {
            double keep = x[i][j], l[2];
            for (int s = 0; s < 2; s++) {
                x[i][j] = keep + (s ? -1e-6 : 1e-6);
                assert_int_equal(aule_reference_forward_f64(&p, x[0], x[1], x[2], o, lse), 0);
                l[s] = 0;
                for (size_t m = 0; m < n.o; m++)
                    l[s] += dout[m] * o[m];
            }
            x[i][j] = keep;
            double fd = (l[0] - l[1]) / 2e-6, e = fabs(fd - g[i][j]) / (1.0 + fabs(fd));
            worst = e > worst ? e : worst;
        }
    print_message("finite differences D%d/%d H%d/%d Sq%d Sk%d window %d,%d softcap %g%s: worst relative error %.2e%s\n",
                  d, dv, h, hkv, sq, sk, left, right, cap, sinks ? " sinks" : "", worst, sinks ? " (dQ/dK/dV)" : "");
    if (sinks)
        print_message("  dsinks: worst relative error %.2e\n", worst_sink);
    assert_true(worst < 1e-6);
    for (int i = 0; i < 3; i++) {
        free(x[i]);
        free(g[i]);
    }
    free(dout);
    free(o);
    free(lse);
}

static void test_reference_finite_differences(void **state)
{
    (void)state;
    finite_case(3, 3, 2, 1, 3, 4, -1, -1, 0, false, 1);
    finite_case(4, 2, 4, 2, 4, 3, -1, 0, 0, false, 2);       /* causal, Sq > Sk: a row with no key */
    finite_case(5, 5, 2, 2, 3, 5, 1, 0, 5.0, false, 3);      /* window and softcap */
    finite_case(4, 4, 4, 2, 4, 3, -1, 0, 0, true, 4);        /* sinks, and a row with no key */
}

static auegen_spec make_s(int d, int dv, int gqa, auegen_dtype dt, int left, int right, double cap, bool sinks)
{
    auegen_spec_desc desc = {.name = "bwd", .head_dim = d, .head_dim_v = dv, .gqa = gqa, .dtype = dt,
                             .has_window = true, .window_left = left, .window_right = right, .softcap = cap,
                             .backward = true, .sinks = sinks};
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_validate(&desc, &s, &diag) != AUEGEN_OK)
        fail_msg("bad test spec: %s", diag.errors[0].message);
    return s;
}

static auegen_spec make(int d, int dv, int gqa, auegen_dtype dt, int left, int right, double cap)
{
    return make_s(d, dv, gqa, dt, left, right, cap, false);
}

static const char *const grad_name[4] = {"dQ", "dK", "dV", "dsinks"};
static double worst_ratio[4][4];       /* [gradient][dtype]: max err / err_naive */

static bool check(const auegen_spec *s, aule_check_shape sh, bool quiet)
{
    aule_check_grad_result r;
    aule_status st = aule_check_backward_run(ctx, s, &sh, &r);
    checks++;
    char canon[512];
    auegen_spec_canonical(s, canon, sizeof canon);
    if (st != AULE_OK)
        fail_msg("%s B%d H%d Sq%d Sk%d: %s: %s", canon, sh.batch, sh.heads, sh.seq_q, sh.seq_k, aule_status_string(st),
                 aule_context_last_error(ctx));
    for (int i = 0; i < 4; i++) {
        double ratio = r.err_naive[i] > 0 ? r.err[i] / r.err_naive[i] : 0;
        if (ratio > worst_ratio[i][s->dtype])
            worst_ratio[i][s->dtype] = ratio;
    }
    if (!r.pass || !quiet)
        print_message("%s %s B%d H%d Sq%d Sk%d%s%s seed %llu: dQ %.2e/%.2e dK %.2e/%.2e dV %.2e/%.2e dsinks %.2e/%.2e\n",
                      r.pass ? "ok  " : "FAIL", canon, sh.batch, sh.heads, sh.seq_q, sh.seq_k, sh.varlen ? " varlen" : "",
                      sh.bshd ? " bshd" : "", (unsigned long long)sh.seed, r.err[0], r.bound[0], r.err[1], r.bound[1],
                      r.err[2], r.bound[2], r.err[3], r.bound[3]);
    return r.pass;
}

static void test_basic(void **state)
{
    (void)state;
    auegen_spec s = make(64, 0, 2, AUEGEN_DTYPE_F32, -1, -1, 0);
    assert_true(check(&s, (aule_check_shape){.batch = 2, .heads = 4, .seq_q = 37, .seq_k = 53, .seed = 1}, false));
    auegen_spec c = make(64, 0, 4, AUEGEN_DTYPE_F16, -1, 0, 0);
    assert_true(check(&c, (aule_check_shape){.batch = 1, .heads = 8, .seq_q = 70, .seq_k = 45, .seed = 2}, false));
}

/* A seeded sweep: 13 specs (dtypes, head dims, GQA, masks, softcap, sinks) x 24 shapes
 * each (Sq below, equal to and above Sk; varlen with empty sequences; BSHD). */
static void test_sweep(void **state)
{
    (void)state;
    uint64_t seed = getenv("AULE_BWD_SEED") ? strtoull(getenv("AULE_BWD_SEED"), NULL, 10) : 20261130;
    print_message("sweep seed %llu (AULE_BWD_SEED to change it)\n", (unsigned long long)seed);
    uint64_t rng = seed | 1;
    static const int dims[] = {16, 32, 40, 59, 64, 80, 96, 111, 128, 160, 256};
    static const auegen_dtype dts[] = {AUEGEN_DTYPE_F32, AUEGEN_DTYPE_F16, AUEGEN_DTYPE_BF16};
    static const int gqas[] = {1, 2, 4};
    int configs = 0, fails = 0;
    for (int si = 0; si < 13; si++) {
        int d = dims[next(&rng) % 11], dv = next(&rng) % 4 == 0 ? dims[next(&rng) % 6] : 0;
        auegen_dtype dt = dts[si % 3];
        int gqa = gqas[next(&rng) % 3];
        int mask = (int)(next(&rng) % 4);    /* none, causal, causal window, two-sided window */
        int left = mask == 2 ? 1 + (int)(next(&rng) % 40) : mask == 3 ? (int)(next(&rng) % 30) : -1;
        int right = mask == 1 || mask == 2 ? 0 : mask == 3 ? (int)(next(&rng) % 30) : -1;
        double cap = next(&rng) % 4 == 0 ? 20.0 + (double)(next(&rng) % 30) : 0.0;
        auegen_spec s = make_s(d, dv, gqa, dt, left, right, cap, si % 4 == 3);   /* a few with sinks */
        for (int k = 0; k < 24; k++, configs++) {
            int sk = 1 + (int)(next(&rng) % 90), rel = k % 3;
            int sq = rel == 0 ? 1 + (int)(next(&rng) % (uint64_t)sk) : rel == 1 ? sk : sk + 1 + (int)(next(&rng) % 40);
            /* B x H >= 8, as in FlashAttention's own tests: the max error of a handful
             * of elements is too noisy a yardstick for a ratio. */
            int heads = gqa * (1 + (int)(next(&rng) % 2));
            heads = heads < 4 ? 4 / gqa * gqa : heads;
            aule_check_shape sh = {.batch = 2 + (int)(next(&rng) % 2), .heads = heads,
                                   .seq_q = sq, .seq_k = sk, .varlen = k % 4 == 3, .bshd = k % 5 == 4,
                                   .seed = next(&rng) % 100000};
            fails += !check(&s, sh, true);
        }
    }
    print_message("sweep: %d configurations, %d failed; worst err / naive err per gradient (f32, f16, bf16):\n",
                  configs, fails);
    for (int i = 0; i < 4; i++)
        print_message("  %-6s  %.2f  %.2f  %.2f\n", grad_name[i], worst_ratio[i][AUEGEN_DTYPE_F32],
                      worst_ratio[i][AUEGEN_DTYPE_F16], worst_ratio[i][AUEGEN_DTYPE_BF16]);
    assert_true(configs >= 300);
    assert_int_equal(fails, 0);
}

/* The native CPU backend's backward (AULE_DEVICE=cpu): odd and large head dims,
 * Dv != D, GQA and MQA, causal and windowed masks, softcap, sinks, every storage
 * dtype, on shapes that are short (one row, rows with no key), ragged (partial
 * row and key tiles of every instruction set), varlen (empty sequences) and BSHD. */
static void test_cpu_cases(void **state)
{
    (void)state;
    struct { int d, dv, gqa, heads, left, right; double cap; bool sinks; auegen_dtype dt; } kc[] = {
        {1, 0, 1, 4, -1, -1, 0, false, AUEGEN_DTYPE_F32},
        {1, 7, 2, 4, -1, 0, 0, false, AUEGEN_DTYPE_F16},
        {36, 0, 2, 4, -1, 0, 0, false, AUEGEN_DTYPE_F16},        /* causal */
        {80, 0, 4, 4, 16, 0, 0, false, AUEGEN_DTYPE_BF16},       /* MQA, causal window */
        {256, 0, 1, 4, 7, 5, 30, false, AUEGEN_DTYPE_F16},       /* two-sided window, softcap */
        {40, 24, 2, 4, -1, 0, 20, true, AUEGEN_DTYPE_BF16},      /* Dv < D, causal, softcap, sinks */
        {128, 64, 8, 8, -1, -1, 0, true, AUEGEN_DTYPE_F32},      /* MQA of 8, sinks */
        {256, 256, 2, 4, -1, 0, 0, false, AUEGEN_DTYPE_BF16},
        {59, 96, 4, 8, 30, 30, 0, false, AUEGEN_DTYPE_F32},      /* Dv > D */
    };
    static const aule_check_shape sc[] = {
        {.batch = 2, .seq_q = 1, .seq_k = 1, .seed = 31},
        {.batch = 2, .seq_q = 5, .seq_k = 3, .seed = 32},                         /* Sq > Sk: rows with no key */
        {.batch = 2, .seq_q = 37, .seq_k = 131, .seed = 33},                      /* partial key tiles */
        {.batch = 1, .seq_q = 150, .seq_k = 150, .seed = 34},                     /* several row tiles */
        {.batch = 3, .seq_q = 70, .seq_k = 70, .varlen = true, .seed = 35},
        {.batch = 2, .seq_q = 19, .seq_k = 83, .bshd = true, .seed = 36},
    };
    int runs = 0, fails = 0;
    for (size_t i = 0; i < sizeof kc / sizeof *kc; i++) {
        auegen_spec s = make_s(kc[i].d, kc[i].dv, kc[i].gqa, kc[i].dt, kc[i].left, kc[i].right, kc[i].cap,
                               kc[i].sinks);
        for (size_t j = 0; j < sizeof sc / sizeof *sc; j++) {
            aule_check_shape sh = sc[j];
            sh.heads = kc[i].heads;
            fails += !check(&s, sh, j != 2);
            runs++;
        }
    }
    /* atomic_dq = true: the CPU has no float atomics to plan them with; the same deterministic kernels run. */
    auegen_spec at = make(64, 0, 2, AUEGEN_DTYPE_F16, -1, 0, 0);
    at.atomic_dq = true;
    for (size_t j = 0; j < sizeof sc / sizeof *sc; j++) {
        aule_check_shape sh = sc[j];
        sh.heads = 4;
        aule_check_grad_result r;
        aule_status st = aule_check_backward_run(ctx, &at, &sh, &r);
        checks++;
        runs++;
        if (st != AULE_OK || !r.pass || r.dkdv.plan.atomic_dq || r.dq.plan.atomic_dq) {
            fails++;
            print_message("FAIL atomic_dq Sq%d Sk%d: %s, atomic %d/%d; dQ %.2e/%.2e dK %.2e/%.2e dV %.2e/%.2e\n",
                          sh.seq_q, sh.seq_k, st == AULE_OK ? "ran" : aule_context_last_error(ctx),
                          r.dkdv.plan.atomic_dq, r.dq.plan.atomic_dq, r.err[0], r.bound[0], r.err[1], r.bound[1],
                          r.err[2], r.bound[2]);
        }
    }
    print_message("CPU backward: %d checks, %d failed\n", runs, fails);
    assert_int_equal(fails, 0);
}

/* The cooperative-matrix backward kernels (f16, and bf16 on bf16 matrices): on the device's own matrices
 * when it has them, else on emulated ones (CI's lavapipe), where small head
 * dims keep the CPU driver's compiles short. Each check must have run the
 * coopmat dK/dV and dQ kernels. */
static void test_coopmat(void **state)
{
    (void)state;
    aule_context *c = ctx;
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    if (!info.coopmat_khr) {
        aule_context_desc cd = {.emulate_coopmat = true};
        assert_int_equal(aule_context_create(&cd, &c), AULE_OK);
        aule_context_device_info(c, &info);
        if (!info.coopmat_emulated)
            fail_msg("%s has no VK_KHR_cooperative_matrix and cannot emulate it", info.name);
    }
    print_message("%s: %s cooperative matrices\n", info.name, info.coopmat_khr ? "the device's" : "emulated");
    /* Two specs: each emulated coopmat kernel costs lavapipe tens of seconds of
     * compiling on a machine whose shader cache is cold (a fresh CI machine). */
    struct { int d, dv, gqa, left, right; double cap; bool sinks; auegen_dtype dt; } kc[] = {
        {32, 0, 4, -1, 0, 0, false, AUEGEN_DTYPE_F16},            /* causal, GQA 4 */
        /* Dv != D (both padded), window, softcap, sinks; bf16 matrices */
        {40, 24, 1, 30, 0, 20, true, AUEGEN_DTYPE_BF16},
    };
    static const aule_check_shape sc[] = {
        {.batch = 2, .heads = 4, .seq_q = 37, .seq_k = 53, .seed = 11},
        {.batch = 2, .heads = 4, .seq_q = 70, .seq_k = 20, .seed = 12},            /* Sq > Sk: rows with no key */
        {.batch = 3, .heads = 4, .seq_q = 33, .seq_k = 41, .varlen = true, .seed = 13},
        {.batch = 2, .heads = 4, .seq_q = 24, .seq_k = 24, .bshd = true, .seed = 14},
    };
    int runs = 0, fails = 0;
    for (size_t i = 0; i < sizeof kc / sizeof *kc; i++) {
        auegen_spec s = make_s(kc[i].d, kc[i].dv, kc[i].gqa, kc[i].dt, kc[i].left, kc[i].right, kc[i].cap,
                               kc[i].sinks);
        s.coopmat = AUEGEN_COOPMAT_KHR;
        for (size_t j = 0; j < sizeof sc / sizeof *sc; j++) {
            aule_check_shape sh = sc[j];
            if (sh.heads % kc[i].gqa)
                sh.heads = kc[i].gqa;
            aule_check_grad_result r;
            aule_status st = aule_check_backward_run(c, &s, &sh, &r);
            runs++;
            bool coop = st == AULE_OK && r.dkdv.plan.variant == AUEGEN_VARIANT_COOPMAT
                        && r.dq.plan.variant == AUEGEN_VARIANT_COOPMAT;
            if (st != AULE_OK || !coop || !r.pass) {
                fails++;
                print_message("FAIL %s D=%d Dv=%d gqa=%d Sq=%d Sk=%d%s%s: %s, dK/dV %s, dQ %s; dQ %.2e/%.2e dK %.2e/%.2e "
                              "dV %.2e/%.2e dsinks %.2e/%.2e\n", kc[i].dt == AUEGEN_DTYPE_BF16 ? "bf16" : "f16",
                              s.head_dim, s.head_dim_v, kc[i].gqa, sh.seq_q, sh.seq_k,
                              sh.varlen ? " varlen" : "", sh.bshd ? " bshd" : "",
                              st == AULE_OK ? "ran" : aule_context_last_error(c),
                              auegen_variant_name(r.dkdv.plan.variant), auegen_variant_name(r.dq.plan.variant),
                              r.err[0], r.bound[0], r.err[1], r.bound[1], r.err[2], r.bound[2], r.err[3], r.bound[3]);
                continue;
            }
            for (int g = 0; g < 4; g++) {
                double ratio = r.err_naive[g] > 0 ? r.err[g] / r.err_naive[g] : 0;
                if (ratio > worst_ratio[g][kc[i].dt])
                    worst_ratio[g][kc[i].dt] = ratio;
            }
            if (j == 0)
                print_message("ok   %s D=%d Dv=%d gqa=%d: dK/dV tile %dx%d, dQ tile %dx%d, %d subgroups; "
                              "dQ %.2e/%.2e dK %.2e/%.2e dV %.2e/%.2e\n",
                              kc[i].dt == AUEGEN_DTYPE_BF16 ? "bf16" : "f16", s.head_dim, s.head_dim_v, kc[i].gqa,
                              r.dkdv.plan.tile_kv, r.dkdv.plan.tile_q, r.dq.plan.tile_q, r.dq.plan.tile_kv,
                              r.dq.plan.subgroups, r.err[0], r.bound[0], r.err[1], r.bound[1], r.err[2], r.bound[2]);
        }
    }
    print_message("coopmat backward: %d checks, %d failed\n", runs, fails);
    if (c != ctx)
        aule_context_destroy(c);
    assert_int_equal(fails, 0);
}

/* atomic_dq = true: bwd_dkdv adds dQ with float atomics, bwd_dq converts it. By
 * the same rule, on the scalar kernels of the default device and on the coopmat
 * ones (emulated where the device has none); where the device has no float
 * atomics, the deterministic kernels must run instead. */
static void test_atomic_dq(void **state)
{
    static const char *const dtype_name[] = {[AUEGEN_DTYPE_F32] = "f32", [AUEGEN_DTYPE_F16] = "f16",
                                             [AUEGEN_DTYPE_BF16] = "bf16"};
    (void)state;
    struct { int d, dv, gqa, left, right; double cap; auegen_dtype dt; bool coop; } kc[] = {
        {64, 0, 2, -1, 0, 0, AUEGEN_DTYPE_F32, false},
        {40, 24, 1, 30, 0, 20, AUEGEN_DTYPE_F16, false},
        {80, 0, 4, -1, -1, 0, AUEGEN_DTYPE_BF16, false},
        {32, 0, 4, -1, 0, 0, AUEGEN_DTYPE_F16, true},   /* the coopmat test's first spec, plus atomic_dq */
    };
    static const aule_check_shape sc[] = {
        {.batch = 2, .heads = 4, .seq_q = 37, .seq_k = 53, .seed = 21},
        {.batch = 2, .heads = 4, .seq_q = 70, .seq_k = 20, .seed = 22},
        {.batch = 3, .heads = 4, .seq_q = 33, .seq_k = 41, .varlen = true, .seed = 23},
        {.batch = 2, .heads = 4, .seq_q = 24, .seq_k = 24, .bshd = true, .seed = 24},
    };
    aule_context *emu = NULL;
    int runs = 0, fails = 0;
    for (size_t i = 0; i < sizeof kc / sizeof *kc; i++) {
        aule_context *c = ctx;
        aule_device_info info;
        aule_context_device_info(ctx, &info);
        if (kc[i].coop && !info.coopmat_khr) {
            aule_context_desc cd = {.emulate_coopmat = true};
            if (!emu)
                assert_int_equal(aule_context_create(&cd, &emu), AULE_OK);
            c = emu;
            aule_context_device_info(c, &info);
        }
        auegen_spec s = make(kc[i].d, kc[i].dv, kc[i].gqa, kc[i].dt, kc[i].left, kc[i].right, kc[i].cap);
        s.atomic_dq = true;
        if (kc[i].coop)
            s.coopmat = AUEGEN_COOPMAT_KHR;
        for (size_t j = 0; j < sizeof sc / sizeof *sc; j++) {
            aule_check_shape sh = sc[j];
            aule_check_grad_result r;
            aule_status st = aule_check_backward_run(c, &s, &sh, &r);
            runs++;
            bool variant_ok = st == AULE_OK && r.dkdv.plan.atomic_dq == info.caps.atomic_float_add
                              && r.dq.plan.atomic_dq == info.caps.atomic_float_add
                              && (!kc[i].coop || r.dkdv.plan.variant == AUEGEN_VARIANT_COOPMAT);
            if (st != AULE_OK || !variant_ok || !r.pass) {
                fails++;
                print_message("FAIL atomic_dq D=%d %s%s Sq=%d Sk=%d%s%s: %s, atomic %d/%d; dQ %.2e/%.2e dK %.2e/%.2e "
                              "dV %.2e/%.2e\n", kc[i].d, dtype_name[kc[i].dt], kc[i].coop ? " coopmat" : "",
                              sh.seq_q, sh.seq_k, sh.varlen ? " varlen" : "", sh.bshd ? " bshd" : "",
                              st == AULE_OK ? "ran" : aule_context_last_error(c), r.dkdv.plan.atomic_dq,
                              r.dq.plan.atomic_dq, r.err[0], r.bound[0], r.err[1], r.bound[1], r.err[2], r.bound[2]);
            } else if (j == 0) {
                print_message("ok   atomic_dq D=%d %s %s (%s): dQ %.2e/%.2e dK %.2e/%.2e dV %.2e/%.2e\n", kc[i].d,
                              dtype_name[kc[i].dt], auegen_variant_name(r.dkdv.plan.variant),
                              r.dkdv.plan.atomic_dq ? "float atomics" : "no float atomics: deterministic",
                              r.err[0], r.bound[0], r.err[1], r.bound[1], r.err[2], r.bound[2]);
            }
        }
    }
    if (emu)
        aule_context_destroy(emu);
    print_message("atomic dQ: %d checks, %d failed\n", runs, fails);
    assert_int_equal(fails, 0);
}

/* Mismatched shapes, a missing LSE, wrong dtypes, a spec without backward. */
static void test_bad_arguments(void **state)
{
    (void)state;
    auegen_spec s = make(32, 0, 2, AUEGEN_DTYPE_F16, -1, 0, 0);
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 4, 8, 32}};
    aule_tensor_desc kd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 2, 8, 32}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {1, 4, 8}};
    aule_tensor_desc wd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, 4, 8, 32}};
    aule_tensor *q, *k, *v, *o, *dout, *lse, *dq, *dk, *dv, *wrong, *small;
    aule_tensor_desc sd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 2, 7, 32}};
    assert_int_equal(aule_tensor_create(ctx, &qd, &q), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &k), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &v), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &o), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &dout), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &ld, &lse), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &dq), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &dk), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &dv), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &wd, &wrong), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &sd, &small), AULE_OK);
    aule_forward_args fa = {.q = q, .k = k, .v = v, .o = o, .lse = lse};
    assert_int_equal(aule_attention_forward(ctx, &s, &fa), AULE_OK);
    aule_backward_args ok = {.q = q, .k = k, .v = v, .o = o, .dout = dout, .lse = lse, .dq = dq, .dk = dk, .dv = dv};
    assert_int_equal(aule_attention_backward(ctx, &s, &ok), AULE_OK);
    aule_backward_args a = ok;
    a.lse = NULL;
    assert_int_equal(aule_attention_backward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "lse is required"));
    a = ok;
    a.dk = small;
    assert_int_equal(aule_attention_backward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "dk must have k's shape"));
    a = ok;
    a.dout = wrong;
    assert_int_equal(aule_attention_backward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "dtype"));
    a = ok;
    a.dq = NULL;
    assert_int_equal(aule_attention_backward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_attention_backward(ctx, &s, NULL), AULE_ERROR_INVALID_ARGUMENT);
    auegen_spec_desc nd = {.name = "fwd", .head_dim = 32, .gqa = 2, .causal = true};
    auegen_spec plain;
    assert_int_equal(auegen_spec_validate(&nd, &plain, NULL), AUEGEN_OK);
    assert_int_equal(aule_attention_backward(ctx, &plain, &ok), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "backward = true"));
    /* A batch: two calls in one submission give what two single calls give. */
    aule_backward_args two[2] = {ok, ok};
    assert_int_equal(aule_attention_backward_batch(ctx, &s, two, 2), AULE_OK);
    aule_tensor *all[] = {q, k, v, o, dout, lse, dq, dk, dv, wrong, small};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
}

/* specs/llama3.lua's training kernels, linked in from generated/, with the
 * generator switched off: forward and the three backward parts by spec. */
static void test_linked_without_jit(void **state)
{
    (void)state;
    char dir[] = "/tmp/aule-linked-bwd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    aule_context *c2;
    aule_context_desc cd = {.disable_jit = true, .cache_dir = dir};
    assert_int_equal(aule_context_create(&cd, &c2), AULE_OK);
    const auegen_spec *s = &aule_kernel_llama3_8b_train_bwd_dq_portable.spec;
    aule_check_grad_result r;
    aule_check_shape sh = {.batch = 2, .heads = 8, .seq_q = 33, .seq_k = 47, .seed = 5};
    aule_status st = aule_check_backward_run(c2, s, &sh, &r);
    if (st != AULE_OK)
        fail_msg("linked llama3_8b_train: %s", aule_context_last_error(c2));
    print_message("linked llama3_8b_train, JIT off: dQ %.2e/%.2e dK %.2e/%.2e dV %.2e/%.2e\n", r.err[0], r.bound[0],
                  r.err[1], r.bound[1], r.err[2], r.bound[2]);
    assert_true(r.pass);
    aule_context_stats stats;
    aule_context_get_stats(c2, &stats);
    assert_int_equal(stats.jit_compiles, 0);
    assert_true(stats.builtin_hits >= 4);       /* the forward and the three backward parts */
    /* The typed launcher checks its arguments like the entry point it wraps. */
    assert_int_equal(aule_llama3_8b_train_backward_portable(c2, NULL), AULE_ERROR_INVALID_ARGUMENT);
    aule_context_destroy(c2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    aule_status st = aule_context_create(NULL, &ctx);
    if (st != AULE_OK) {
        fprintf(stderr, "no Vulkan device: %s: %s\n", aule_status_string(st), aule_context_last_error(NULL));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    print_message("%d gradient checks by the correctness rule (3x the naive error + %g)\n", checks, AULE_GRAD_ATOL);
    aule_context_destroy(ctx);
    return 0;
}

int main(void)
{
    test_device_init();
    /* The native CPU backend (AULE_DEVICE=cpu, ctest's backward_cpu*): its own cases; it has
     * no cooperative matrices and no float atomics, so those tests are Vulkan's alone. */
    const char *device = getenv("AULE_DEVICE");
    if (device && strcmp(device, "cpu") == 0) {
        const struct CMUnitTest cpu_tests[] = {
            cmocka_unit_test(test_basic),
            cmocka_unit_test(test_cpu_cases),
            cmocka_unit_test(test_sweep),
            cmocka_unit_test(test_bad_arguments),
            cmocka_unit_test(test_linked_without_jit),
        };
        return cmocka_run_group_tests(cpu_tests, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_finite_differences),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_coopmat),
        cmocka_unit_test(test_atomic_dq),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_linked_without_jit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
