/* SPDX-License-Identifier: MIT */
/*
 * test_reference.c - the CPU reference attention (hand-computed cases, masks,
 * GQA, varlen, a brute-force cross-check), the f16/bf16 conversions and the
 * error rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aule_reference.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-12

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, want %.17g (tol %g)", got, want, tol);
}

static void assert_neg_inf(double x)
{
    if (!(isinf(x) && x < 0))
        fail_msg("got %.17g, want -inf", x);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double uniform(void)   /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2 - 1;
}

static double *random_array(size_t n)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    assert_non_null(a);
    for (size_t i = 0; i < n; i++)
        a[i] = uniform();
    return a;
}

static aule_ref_problem problem(int h, int hkv, int sq, int sk, int d, int dv)
{
    return (aule_ref_problem){.batch = 1, .heads = h, .kv_heads = hkv, .seq_q = sq, .seq_k = sk, .head_dim = d,
                              .head_dim_v = dv, .window_left = -1, .window_right = -1, .scale = 1.0};
}

/* --- hand-computed cases -------------------------------------------------------------- */

static void test_single_key_gives_v(void **state)
{
    (void)state;
    aule_ref_problem p = problem(1, 1, 1, 1, 3, 2);
    p.scale = 0.5;
    double q[] = {1, 2, 3}, k[] = {4, -5, 6}, v[] = {7.25, -8.5}, o[2], lse[1];
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_close(o[0], 7.25, EPS);
    assert_close(o[1], -8.5, EPS);
    assert_close(lse[0], 0.5 * (4 - 10 + 18), EPS);
}

static void test_uniform_scores_give_mean(void **state)
{
    (void)state;
    aule_ref_problem p = problem(1, 1, 2, 4, 2, 0);   /* Dv 0 = D */
    double q[] = {0.3, -0.7, 1, 2};
    double k[] = {1, 1, 1, 1, 1, 1, 1, 1};              /* every key the same */
    double v[] = {1, 10, 2, 20, 3, 30, 6, 60};
    double o[4], lse[2];
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_close(o[0], 3, EPS);
    assert_close(o[1], 30, EPS);
    assert_close(o[2], 3, EPS);
    assert_close(o[3], 30, EPS);
    assert_close(lse[0], -0.4 + log(4), EPS);
    assert_close(lse[1], 3 + log(4), EPS);
}

static void test_two_keys_by_hand(void **state)
{
    (void)state;
    /* Scores 0 and log 3: weights 1/4 and 3/4, LSE log 4. */
    aule_ref_problem p = problem(1, 1, 1, 2, 1, 1);
    p.scale = 2;
    double q[] = {1}, k[] = {0, log(3) / 2}, v[] = {4, 8}, o[1], lse[1];
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_close(o[0], 0.25 * 4 + 0.75 * 8, EPS);
    assert_close(lse[0], log(4), EPS);
}

static void test_large_scores_are_stable(void **state)
{
    (void)state;
    aule_ref_problem p = problem(1, 1, 1, 2, 1, 1);
    double q[] = {1}, k[] = {1000, 1001}, v[] = {0, 1}, o[1], lse[1];
    float qf[] = {1}, kf[] = {1000, 1001}, vf[] = {0, 1}, of[1], lsef[1];
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_int_equal(aule_reference_forward_f32(&p, qf, kf, vf, of, lsef), 0);
    double e = exp(1.0);
    assert_close(o[0], e / (1 + e), EPS);
    assert_close(lse[0], 1001 + log(1 + 1 / e), 1e-9);
    assert_close(of[0], e / (1 + e), 1e-6);
    assert_close(lsef[0], 1001 + log(1 + 1 / e), 1e-3);
}

/* Q = 0 makes every visible score equal: O is the mean of the visible V rows. */
static void check_visible(aule_ref_problem p, const int *lo, const int *hi)
{
    int sq = p.seq_q, sk = p.seq_k;
    double *q = calloc((size_t)sq, sizeof *q), *k = calloc((size_t)sk, sizeof *k);
    double *v = malloc((size_t)sk * sizeof *v), *o = malloc((size_t)sq * sizeof *o);
    double *lse = malloc((size_t)sq * sizeof *lse);
    float *qf = calloc((size_t)sq, sizeof *qf), *kf = calloc((size_t)sk, sizeof *kf);
    float *vf = malloc((size_t)sk * sizeof *vf), *of = malloc((size_t)sq * sizeof *of);
    float *lsef = malloc((size_t)sq * sizeof *lsef);
    for (int j = 0; j < sk; j++)
        v[j] = vf[j] = (float)(1 << j);
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_int_equal(aule_reference_forward_f32(&p, qf, kf, vf, of, lsef), 0);
    for (int i = 0; i < sq; i++) {
        if (lo[i] > hi[i]) {
            assert_true(o[i] == 0 && of[i] == 0);
            assert_neg_inf(lse[i]);
            assert_neg_inf(lsef[i]);
            continue;
        }
        double mean = 0;
        for (int j = lo[i]; j <= hi[i]; j++)
            mean += (double)(1 << j);
        mean /= hi[i] - lo[i] + 1;
        assert_close(o[i], mean, EPS);
        assert_close(of[i], mean, 1e-5 * mean);
        assert_close(lse[i], log(hi[i] - lo[i] + 1), EPS);
        assert_close(lsef[i], log(hi[i] - lo[i] + 1), 1e-6);
    }
    free(q), free(k), free(v), free(o), free(lse);
    free(qf), free(kf), free(vf), free(of), free(lsef);
}

static void test_causal_bottom_right(void **state)
{
    (void)state;
    aule_ref_problem p = problem(1, 1, 2, 3, 1, 1);
    p.window_right = 0;
    check_visible(p, (int[]){0, 0}, (int[]){1, 2});     /* row 0 sees keys 0..1 */
    p = problem(1, 1, 4, 4, 1, 1);
    p.window_right = 0;
    check_visible(p, (int[]){0, 0, 0, 0}, (int[]){0, 1, 2, 3});
}

static void test_windows(void **state)
{
    (void)state;
    aule_ref_problem p = problem(1, 1, 5, 5, 1, 1);
    p.window_left = 1, p.window_right = 0;
    check_visible(p, (int[]){0, 0, 1, 2, 3}, (int[]){0, 1, 2, 3, 4});
    p.window_left = 0, p.window_right = 1;
    check_visible(p, (int[]){0, 1, 2, 3, 4}, (int[]){1, 2, 3, 4, 4});
    p.window_left = -1, p.window_right = 2;
    check_visible(p, (int[]){0, 0, 0, 0, 0}, (int[]){2, 3, 4, 4, 4});
    /* Sq < Sk: i' = i + 2. */
    p = problem(1, 1, 2, 4, 1, 1);
    p.window_left = 1, p.window_right = 1;
    check_visible(p, (int[]){1, 2}, (int[]){3, 3});
    /* Left only, with Sq > Sk: i' = i - 2. */
    p = problem(1, 1, 5, 3, 1, 1);
    p.window_left = 0, p.window_right = -1;
    check_visible(p, (int[]){0, 0, 0, 1, 2}, (int[]){2, 2, 2, 2, 2});
}

static void test_fully_masked_rows(void **state)
{
    (void)state;
    /* Sq > Sk, causal: i' = i - 2, rows 0 and 1 see nothing. */
    aule_ref_problem p = problem(1, 1, 3, 1, 1, 1);
    p.window_right = 0;
    check_visible(p, (int[]){1, 1, 0}, (int[]){0, 0, 0});
    /* Sk = 0: every row is empty. */
    p = problem(2, 1, 2, 0, 3, 2);
    double q[12], k[1], v[1], o[8], lse[4];
    memset(q, 0, sizeof q);
    for (int i = 0; i < 8; i++)
        o[i] = 99;
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    for (int i = 0; i < 8; i++)
        assert_true(o[i] == 0);
    for (int i = 0; i < 4; i++)
        assert_neg_inf(lse[i]);
}

static void test_softcap(void **state)
{
    (void)state;
    aule_ref_problem p = problem(1, 1, 1, 2, 1, 1);
    p.softcap = 2;
    double q[] = {1}, k[] = {3, -1}, v[] = {1, 0}, o[1], lse[1];
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    double s0 = 2 * tanh(1.5), s1 = 2 * tanh(-0.5);
    assert_close(o[0], exp(s0) / (exp(s0) + exp(s1)), EPS);
    assert_close(lse[0], log(exp(s0) + exp(s1)), EPS);
    /* Capped scores cannot exceed the cap: a huge score gives weight e^2 / (e^2 + 1) at most. */
    k[0] = 1e6, k[1] = 0;
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_close(o[0], exp(2.0) / (exp(2.0) + 1), EPS);
    float qf[] = {1}, kf[] = {1e6f, 0}, vf[] = {1, 0}, of[1], lsef[1];
    assert_int_equal(aule_reference_forward_f32(&p, qf, kf, vf, of, lsef), 0);
    assert_close(of[0], exp(2.0) / (exp(2.0) + 1), 1e-6);
}

static void test_gqa_head_mapping(void **state)
{
    (void)state;
    /* H = 4 over Hkv = 2: heads 0,1 read KV head 0; heads 2,3 read KV head 1. */
    aule_ref_problem p = problem(4, 2, 1, 1, 2, 1);
    double q[8] = {0}, k[4] = {0}, v[] = {10, 20}, o[4], lse[4];
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_close(o[0], 10, EPS);
    assert_close(o[1], 10, EPS);
    assert_close(o[2], 20, EPS);
    assert_close(o[3], 20, EPS);
    /* MQA, batch 2: every head of batch b reads batch b's single KV head. */
    p = problem(3, 1, 1, 1, 2, 1);
    p.batch = 2;
    double q2[12] = {0}, v2[] = {5, 7}, o2[6];
    assert_int_equal(aule_reference_forward_f64(&p, q2, k, v2, o2, NULL), 0);
    for (int h = 0; h < 3; h++) {
        assert_close(o2[h], 5, EPS);
        assert_close(o2[3 + h], 7, EPS);
    }
}

/* --- brute force: the mask written out per (i, j), full score matrix --------------- */

static void brute_force(const aule_ref_problem *p, const double *q, const double *k, const double *v, double *o,
                        double *lse)
{
    int B = p->batch, H = p->heads, Hkv = p->kv_heads, Sq = p->seq_q, Sk = p->seq_k, D = p->head_dim;
    int Dv = p->head_dim_v ? p->head_dim_v : D;
    double *s = malloc((size_t)(Sk ? Sk : 1) * sizeof *s);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int hk = h / (H / Hkv);
            for (int i = 0; i < Sq; i++) {
                const double *qi = q + (((size_t)b * H + h) * Sq + i) * D;
                double *oi = o + (((size_t)b * H + h) * Sq + i) * Dv;
                double m = -INFINITY;
                for (int j = 0; j < Sk; j++) {
                    const double *kj = k + (((size_t)b * Hkv + hk) * Sk + j) * D;
                    int ip = i + Sk - Sq;
                    bool seen = (p->window_left < 0 || j >= ip - p->window_left) &&
                                (p->window_right < 0 || j <= ip + p->window_right);
                    double x = 0;
                    for (int c = 0; c < D; c++)
                        x += qi[c] * kj[c];
                    x *= p->scale;
                    if (p->softcap > 0)
                        x = p->softcap * tanh(x / p->softcap);
                    s[j] = seen ? x : -INFINITY;
                    m = fmax(m, s[j]);
                }
                double l = 0;
                for (int c = 0; c < Dv; c++)
                    oi[c] = 0;
                for (int j = 0; j < Sk && m > -INFINITY; j++) {
                    double e = exp(s[j] - m);
                    l += e;
                    for (int c = 0; c < Dv; c++)
                        oi[c] += e * v[(((size_t)b * Hkv + hk) * Sk + j) * Dv + c];
                }
                for (int c = 0; c < Dv && l > 0; c++)
                    oi[c] /= l;
                lse[((size_t)b * H + h) * Sq + i] = m > -INFINITY ? m + log(l) : -INFINITY;
            }
        }
    free(s);
}

static void test_against_brute_force(void **state)
{
    (void)state;
    struct { int b, h, hkv, sq, sk, d, dv, left, right; double cap; } cases[] = {
        {1, 1, 1, 1, 1, 1, 1, -1, -1, 0},   {2, 4, 4, 7, 7, 32, 32, -1, 0, 0},
        {1, 8, 2, 13, 29, 59, 59, -1, 0, 0}, {2, 4, 1, 29, 13, 40, 24, -1, 0, 0},
        {1, 4, 2, 17, 17, 111, 111, 5, 0, 0}, {3, 2, 2, 9, 20, 16, 8, 3, 2, 30},
        {1, 6, 3, 1, 33, 64, 64, -1, 0, 5},  {1, 2, 1, 33, 1, 64, 64, -1, 0, 0},
        {1, 8, 8, 16, 16, 80, 80, 0, 0, 0},  {1, 3, 1, 11, 5, 7, 9, 2, -1, 1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        aule_ref_problem p = problem(cases[t].h, cases[t].hkv, cases[t].sq, cases[t].sk, cases[t].d, cases[t].dv);
        p.batch = cases[t].b;
        p.window_left = cases[t].left, p.window_right = cases[t].right, p.softcap = cases[t].cap;
        p.scale = 1 / sqrt(cases[t].d) * 3;   /* sharper than usual */
        aule_ref_counts c;
        assert_int_equal(aule_ref_problem_counts(&p, &c), 0);
        double *q = random_array(c.q), *k = random_array(c.k), *v = random_array(c.v);
        double *o = malloc(c.o * sizeof *o), *lse = malloc(c.lse * sizeof *lse);
        double *bo = malloc(c.o * sizeof *bo), *blse = malloc(c.lse * sizeof *blse);
        assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
        brute_force(&p, q, k, v, bo, blse);
        assert_true(aule_max_abs_diff_f64(bo, o, c.o) <= 1e-13);
        assert_true(aule_max_abs_diff_f64(blse, lse, c.lse) <= 1e-13);
        free(q), free(k), free(v), free(o), free(lse), free(bo), free(blse);
    }
}

/* --- varlen ---------------------------------------------------------------------------- */

static void test_varlen_equals_separate_runs(void **state)
{
    (void)state;
    enum { B = 3, H = 4, HKV = 2, D = 24, DV = 16 };
    int32_t cu_q[B + 1] = {0, 3, 4, 9}, cu_k[B + 1] = {0, 4, 6, 13};
    int tq = cu_q[B], tk = cu_k[B];
    aule_ref_problem p = {.batch = B, .heads = H, .kv_heads = HKV, .head_dim = D, .head_dim_v = DV,
                          .cu_seqlens_q = cu_q, .cu_seqlens_k = cu_k, .window_left = 2, .window_right = 0,
                          .softcap = 3, .scale = 0.7};
    aule_ref_counts c;
    assert_int_equal(aule_ref_problem_counts(&p, &c), 0);
    assert_int_equal(c.q, (size_t)H * tq * D);
    assert_int_equal(c.v, (size_t)HKV * tk * DV);
    assert_int_equal(c.lse, (size_t)H * tq);
    double *q = random_array(c.q), *k = random_array(c.k), *v = random_array(c.v);
    double *o = malloc(c.o * sizeof *o), *lse = malloc(c.lse * sizeof *lse);
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    for (int b = 0; b < B; b++) {
        int sq = cu_q[b + 1] - cu_q[b], sk = cu_k[b + 1] - cu_k[b];
        aule_ref_problem one = p;
        one.batch = 1, one.seq_q = sq, one.seq_k = sk;
        one.cu_seqlens_q = one.cu_seqlens_k = NULL;
        double *q1 = malloc((size_t)H * sq * D * sizeof *q1), *k1 = malloc((size_t)HKV * sk * D * sizeof *k1);
        double *v1 = malloc((size_t)HKV * sk * DV * sizeof *v1), *o1 = malloc((size_t)H * sq * DV * sizeof *o1);
        double *l1 = malloc((size_t)H * sq * sizeof *l1);
        for (int h = 0; h < H; h++)
            memcpy(q1 + (size_t)h * sq * D, q + ((size_t)h * tq + cu_q[b]) * D, (size_t)sq * D * sizeof *q);
        for (int h = 0; h < HKV; h++) {
            memcpy(k1 + (size_t)h * sk * D, k + ((size_t)h * tk + cu_k[b]) * D, (size_t)sk * D * sizeof *k);
            memcpy(v1 + (size_t)h * sk * DV, v + ((size_t)h * tk + cu_k[b]) * DV, (size_t)sk * DV * sizeof *v);
        }
        assert_int_equal(aule_reference_forward_f64(&one, q1, k1, v1, o1, l1), 0);
        for (int h = 0; h < H; h++) {
            /* Same arithmetic in the same order: bit-identical. */
            assert_memory_equal(o1 + (size_t)h * sq * DV, o + ((size_t)h * tq + cu_q[b]) * DV,
                                (size_t)sq * DV * sizeof *o);
            assert_memory_equal(l1 + (size_t)h * sq, lse + (size_t)h * tq + cu_q[b], (size_t)sq * sizeof *lse);
        }
        free(q1), free(k1), free(v1), free(o1), free(l1);
    }
    free(q), free(k), free(v), free(o), free(lse);
}

/* --- the f32 baseline and the rule ------------------------------------------------------ */

static float *to_float(const double *a, size_t n)
{
    float *f = malloc((n ? n : 1) * sizeof *f);
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)a[i];
    return f;
}

static void test_f32_baseline_close_to_f64(void **state)
{
    (void)state;
    aule_ref_problem p = problem(4, 2, 37, 53, 64, 64);
    p.batch = 2, p.window_right = 0, p.scale = 1 / 8.0;
    aule_ref_counts c;
    assert_int_equal(aule_ref_problem_counts(&p, &c), 0);
    double *q = random_array(c.q), *k = random_array(c.k), *v = random_array(c.v);
    double *o = malloc(c.o * sizeof *o), *lse = malloc(c.lse * sizeof *lse);
    float *qf = to_float(q, c.q), *kf = to_float(k, c.k), *vf = to_float(v, c.v);
    float *of = malloc(c.o * sizeof *of), *lsef = malloc(c.lse * sizeof *lsef);
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o, lse), 0);
    assert_int_equal(aule_reference_forward_f32(&p, qf, kf, vf, of, lsef), 0);
    double eo = aule_max_abs_diff(o, of, c.o), el = aule_max_abs_diff(lse, lsef, c.lse);
    assert_true(eo > 0 && eo < 1e-5);
    assert_true(el < 1e-5);
    free(q), free(k), free(v), free(o), free(lse), free(qf), free(kf), free(vf), free(of), free(lsef);
}

/* The rule as a kernel test uses it, with the f64 reference standing in for the kernel. */
static void test_rule_in_f16(void **state)
{
    (void)state;
    aule_ref_problem p = problem(2, 1, 19, 31, 40, 40);
    p.window_right = 0, p.scale = 1 / sqrt(40.0);
    aule_ref_counts c;
    assert_int_equal(aule_ref_problem_counts(&p, &c), 0);
    double *q = random_array(c.q), *k = random_array(c.k), *v = random_array(c.v);
    float *qf = to_float(q, c.q), *kf = to_float(k, c.k), *vf = to_float(v, c.v);
    aule_round_array_to_dtype(qf, c.q, AUEGEN_DTYPE_F16);
    aule_round_array_to_dtype(kf, c.k, AUEGEN_DTYPE_F16);
    aule_round_array_to_dtype(vf, c.v, AUEGEN_DTYPE_F16);
    for (size_t i = 0; i < c.q; i++)
        q[i] = qf[i];
    for (size_t i = 0; i < c.k; i++)
        k[i] = kf[i];
    for (size_t i = 0; i < c.v; i++)
        v[i] = vf[i];
    double *ref = malloc(c.o * sizeof *ref);
    float *naive = malloc(c.o * sizeof *naive), *kernel = malloc(c.o * sizeof *kernel);
    uint16_t *stored = malloc(c.o * sizeof *stored);
    assert_int_equal(aule_reference_forward_f64(&p, q, k, v, ref, NULL), 0);
    assert_int_equal(aule_reference_forward_f32(&p, qf, kf, vf, naive, NULL), 0);
    aule_round_array_to_dtype(naive, c.o, AUEGEN_DTYPE_F16);
    for (size_t i = 0; i < c.o; i++)
        kernel[i] = (float)ref[i];
    aule_pack_dtype(kernel, stored, c.o, AUEGEN_DTYPE_F16);
    double err_naive = aule_max_abs_diff(ref, naive, c.o);
    double err_kernel = aule_max_abs_diff_dtype(ref, stored, c.o, AUEGEN_DTYPE_F16);
    double bound;
    assert_true(err_naive > 1e-5 && err_naive < 1e-2);   /* f16 output rounding dominates */
    assert_true(aule_error_within_bound(err_kernel, err_naive, &bound));
    assert_close(bound, 2 * err_naive + 1e-6, 0);
    /* A broken kernel fails it. */
    stored[7] ^= 0x0100;
    assert_false(aule_error_within_bound(aule_max_abs_diff_dtype(ref, stored, c.o, AUEGEN_DTYPE_F16), err_naive,
                                         NULL));
    free(q), free(k), free(v), free(qf), free(kf), free(vf), free(ref), free(naive), free(kernel), free(stored);
}

static void test_threads_do_not_change_results(void **state)
{
    (void)state;
    aule_ref_problem p = problem(6, 2, 200, 230, 64, 48);   /* large enough to use threads */
    p.window_right = 0, p.softcap = 20, p.scale = 0.125;
    aule_ref_counts c;
    assert_int_equal(aule_ref_problem_counts(&p, &c), 0);
    double *q = random_array(c.q), *k = random_array(c.k), *v = random_array(c.v);
    float *qf = to_float(q, c.q), *kf = to_float(k, c.k), *vf = to_float(v, c.v);
    double *o[3], *lse[3];
    float *of[3], *lsef[3];
    int threads[3] = {1, 0, 1000};
    for (int t = 0; t < 3; t++) {
        p.threads = threads[t];
        o[t] = malloc(c.o * sizeof *o[t]), lse[t] = malloc(c.lse * sizeof *lse[t]);
        of[t] = malloc(c.o * sizeof *of[t]), lsef[t] = malloc(c.lse * sizeof *lsef[t]);
        assert_int_equal(aule_reference_forward_f64(&p, q, k, v, o[t], lse[t]), 0);
        assert_int_equal(aule_reference_forward_f32(&p, qf, kf, vf, of[t], lsef[t]), 0);
    }
    for (int t = 1; t < 3; t++) {
        assert_memory_equal(o[0], o[t], c.o * sizeof *o[0]);
        assert_memory_equal(lse[0], lse[t], c.lse * sizeof *lse[0]);
        assert_memory_equal(of[0], of[t], c.o * sizeof *of[0]);
        assert_memory_equal(lsef[0], lsef[t], c.lse * sizeof *lsef[0]);
    }
    for (int t = 0; t < 3; t++)
        free(o[t]), free(lse[t]), free(of[t]), free(lsef[t]);
    free(q), free(k), free(v), free(qf), free(kf), free(vf);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    aule_ref_problem p = problem(2, 1, 1, 1, 1, 1);
    double x[4] = {1, 1, 1, 1}, o[2] = {42, 42};
    float xf[4] = {1, 1, 1, 1}, of[2] = {42, 42};
    assert_int_equal(aule_reference_forward_f64(NULL, x, x, x, o, NULL), -1);
    assert_int_equal(aule_reference_forward_f64(&p, NULL, x, x, o, NULL), -1);
    assert_int_equal(aule_reference_forward_f64(&p, x, NULL, x, o, NULL), -1);
    assert_int_equal(aule_reference_forward_f64(&p, x, x, NULL, o, NULL), -1);
    assert_int_equal(aule_reference_forward_f64(&p, x, x, x, NULL, NULL), -1);
    assert_int_equal(aule_reference_forward_f32(NULL, xf, xf, xf, of, NULL), -1);
    assert_int_equal(aule_reference_forward_f32(&p, xf, xf, xf, NULL, NULL), -1);
    aule_ref_problem bad[8];
    for (int i = 0; i < 8; i++)
        bad[i] = p;
    bad[0].heads = 3, bad[0].kv_heads = 2;   /* H % Hkv */
    bad[1].kv_heads = 0;
    bad[2].head_dim = 0;
    bad[3].seq_q = -1;
    bad[4].head_dim_v = -2;
    int32_t cu_ok[] = {0, 1}, cu_down[] = {0, 2, 1}, cu_neg[] = {-1, 1};
    bad[5].cu_seqlens_q = cu_ok;             /* one without the other */
    bad[6].batch = 2, bad[6].cu_seqlens_q = cu_down, bad[6].cu_seqlens_k = cu_down;
    bad[7].batch = 1, bad[7].cu_seqlens_q = cu_neg, bad[7].cu_seqlens_k = cu_ok;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(aule_ref_problem_counts(&bad[i], NULL), -1);
        assert_int_equal(aule_reference_forward_f64(&bad[i], x, x, x, o, NULL), -1);
        assert_int_equal(aule_reference_forward_f32(&bad[i], xf, xf, xf, of, NULL), -1);
    }
    assert_true(o[0] == 42 && o[1] == 42 && of[0] == 42 && of[1] == 42);
    assert_int_equal(aule_ref_problem_counts(NULL, NULL), -1);
    /* Batch 0 is an empty problem, not an error. */
    p.batch = 0;
    assert_int_equal(aule_reference_forward_f64(&p, x, x, x, o, NULL), 0);
    assert_true(o[0] == 42);
}

/* --- dtypes ------------------------------------------------------------------------------ */

static void test_f16_known_bits(void **state)
{
    (void)state;
    assert_int_equal(aule_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(aule_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(aule_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(aule_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(aule_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(aule_f32_to_f16(65519.0f), 0x7bff);      /* below the midpoint */
    assert_int_equal(aule_f32_to_f16(65520.0f), 0x7c00);      /* the tie goes to even: inf */
    assert_int_equal(aule_f32_to_f16(1e10f), 0x7c00);
    assert_int_equal(aule_f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(aule_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(aule_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(aule_f32_to_f16(ldexpf(1, -14)), 0x0400);  /* smallest normal */
    assert_int_equal(aule_f32_to_f16(ldexpf(1, -24)), 0x0001);  /* smallest subnormal */
    assert_int_equal(aule_f32_to_f16(ldexpf(1023, -24)), 0x03ff);
    assert_int_equal(aule_f32_to_f16(ldexpf(1, -25)), 0x0000);  /* tie: to even (0) */
    assert_int_equal(aule_f32_to_f16(ldexpf(1.0000001f, -25)), 0x0001);
    assert_int_equal(aule_f32_to_f16(ldexpf(3, -25)), 0x0002);  /* 1.5 units: tie to even (2) */
    assert_int_equal(aule_f32_to_f16(-ldexpf(1, -26)), 0x8000);
    assert_int_equal(aule_f32_to_f16(FLT_MIN), 0x0000);
    assert_int_equal(aule_f32_to_f16(ldexpf(2047, -25)), 0x0400);  /* subnormal rounds up to normal */
    /* Ties between normals: 1 + 2^-11 sits between 0x3c00 and 0x3c01. */
    assert_int_equal(aule_f32_to_f16(1 + ldexpf(1, -11)), 0x3c00);
    assert_int_equal(aule_f32_to_f16(1 + ldexpf(3, -11)), 0x3c02);
    assert_int_equal(aule_f32_to_f16(1 + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01);
    assert_int_equal(aule_f32_to_f16(0.1f), 0x2e66);
    uint16_t nan = aule_f32_to_f16(NAN);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0);
    uint32_t snan_bits = 0x7f800001;   /* payload only in the low bits */
    float snan;
    memcpy(&snan, &snan_bits, sizeof snan);
    nan = aule_f32_to_f16(snan);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0);

    assert_true(aule_f16_to_f32(0x3c00) == 1.0f);
    assert_true(aule_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(aule_f16_to_f32(0x0001) == ldexpf(1, -24));
    assert_true(aule_f16_to_f32(0x8001) == -ldexpf(1, -24));
    assert_true(aule_f16_to_f32(0x7c00) == INFINITY);
    assert_true(aule_f16_to_f32(0xfc00) == -INFINITY);
    assert_true(isnan(aule_f16_to_f32(0x7e00)));
    assert_true(signbit(aule_f16_to_f32(0x8000)));
}

static void test_f16_every_pattern_round_trips(void **state)
{
    (void)state;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float x = aule_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            assert_true(isnan(x));
            uint16_t back = aule_f32_to_f16(x);
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff));
            continue;
        }
        if (aule_f32_to_f16(x) != h)
            fail_msg("0x%04x -> %g -> 0x%04x", h, (double)x, aule_f32_to_f16(x));
        /* The midpoint to the next value up rounds to whichever of the two is even. */
        if ((h & 0x7fff) < 0x7bff) {
            float next = aule_f16_to_f32((uint16_t)(h + 1));
            float mid = (float)(((double)x + next) / 2);   /* exact in float */
            uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
            if (aule_f32_to_f16(mid) != want)
                fail_msg("midpoint above 0x%04x -> 0x%04x", h, aule_f32_to_f16(mid));
        }
    }
}

static void test_bf16(void **state)
{
    (void)state;
    assert_int_equal(aule_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(aule_f32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(aule_f32_to_bf16(1 + ldexpf(1, -8)), 0x3f80);   /* tie to even */
    assert_int_equal(aule_f32_to_bf16(1 + ldexpf(3, -8)), 0x3f82);   /* tie to even, up */
    assert_int_equal(aule_f32_to_bf16(1 + ldexpf(1, -8) + ldexpf(1, -20)), 0x3f81);
    assert_int_equal(aule_f32_to_bf16(0.1f), 0x3dcd);
    assert_int_equal(aule_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(aule_f32_to_bf16(FLT_MAX), 0x7f80);             /* RNE overflows to inf */
    assert_int_equal(aule_f32_to_bf16(-0.0f), 0x8000);
    uint32_t nan_bits = 0x7f800001;   /* truncation alone would make this inf */
    float nan;
    memcpy(&nan, &nan_bits, sizeof nan);
    uint16_t b = aule_f32_to_bf16(nan);
    assert_true((b & 0x7f80) == 0x7f80 && (b & 0x7f));
    assert_true(isnan(aule_bf16_to_f32(aule_f32_to_bf16(-NAN))));
    assert_true(aule_bf16_to_f32(0x3f80) == 1.0f);
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float x = aule_bf16_to_f32((uint16_t)h);
        if (isnan(x))
            assert_true(isnan(aule_bf16_to_f32(aule_f32_to_bf16(x))));
        else
            assert_int_equal(aule_f32_to_bf16(x), h);
    }
}

static void test_round_pack_unpack(void **state)
{
    (void)state;
    assert_true(aule_round_to_dtype(0.1f, AUEGEN_DTYPE_F32) == 0.1f);
    assert_true(aule_round_to_dtype(0.1f, AUEGEN_DTYPE_F16) == 0.0999755859375f);
    assert_true(aule_round_to_dtype(0.1f, AUEGEN_DTYPE_DEFAULT) == 0.0999755859375f);
    assert_true(aule_round_to_dtype(0.1f, AUEGEN_DTYPE_BF16) == 0.10009765625f);
    assert_true(aule_round_to_dtype(0.1f, 99) == 0.1f);
    assert_int_equal(aule_storage_size(AUEGEN_DTYPE_F32), 4);
    assert_int_equal(aule_storage_size(AUEGEN_DTYPE_BF16), 2);
    assert_int_equal(aule_storage_size(99), 0);
    float src[3] = {1, -2.5f, 65520}, back[3];
    uint16_t bits[3];
    aule_pack_dtype(src, bits, 3, AUEGEN_DTYPE_F16);
    assert_int_equal(bits[0], 0x3c00);
    assert_int_equal(bits[2], 0x7c00);
    aule_unpack_dtype(bits, back, 3, AUEGEN_DTYPE_F16);
    assert_true(back[1] == -2.5f && isinf(back[2]));
    aule_pack_dtype(src, bits, 3, AUEGEN_DTYPE_BF16);
    assert_int_equal(bits[0], 0x3f80);
    float copy[3];
    aule_pack_dtype(src, copy, 3, AUEGEN_DTYPE_F32);
    assert_memory_equal(copy, src, sizeof src);
    aule_pack_dtype(NULL, bits, 3, AUEGEN_DTYPE_F16);   /* no-ops */
    aule_unpack_dtype(bits, NULL, 3, AUEGEN_DTYPE_F16);
    aule_round_array_to_dtype(NULL, 3, AUEGEN_DTYPE_F16);
}

static void test_error_measures(void **state)
{
    (void)state;
    double ref[4] = {1, -INFINITY, 2, 3};
    float got[4] = {1.5f, -INFINITY, 2, 3};
    assert_close(aule_max_abs_diff(ref, got, 4), 0.5, 0);
    got[1] = -1e30f;   /* finite where -inf was expected */
    assert_true(isinf(aule_max_abs_diff(ref, got, 4)));
    got[1] = -INFINITY, got[3] = NAN;
    assert_true(isinf(aule_max_abs_diff(ref, got, 4)));
    assert_false(aule_error_within_bound(aule_max_abs_diff(ref, got, 4), 1, NULL));
    assert_true(aule_max_abs_diff(NULL, got, 4) == 0);
    assert_true(aule_max_abs_diff(ref, got, 0) == 0);
    double got64[4] = {1, -INFINITY, 2.25, 3};
    assert_close(aule_max_abs_diff_f64(ref, got64, 4), 0.25, 0);
    uint16_t bits[2] = {0x3c00, 0x4000};   /* 1, 2 */
    double want[2] = {1, 2.001};
    assert_close(aule_max_abs_diff_dtype(want, bits, 2, AUEGEN_DTYPE_F16), 0.001, 1e-15);
    assert_true(isinf(aule_max_abs_diff_dtype(want, bits, 2, 99)));
    double bound = 0;
    assert_true(aule_error_within_bound(2.000001e-3, 1e-3, &bound));
    assert_close(bound, 2.001e-3, 1e-18);
    assert_false(aule_error_within_bound(2.1e-3, 1e-3, NULL));
    assert_true(aule_error_within_bound(1e-6, 0, NULL));   /* exact naive: atol only */
    assert_false(aule_error_within_bound(NAN, 1, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_key_gives_v),
        cmocka_unit_test(test_uniform_scores_give_mean),
        cmocka_unit_test(test_two_keys_by_hand),
        cmocka_unit_test(test_large_scores_are_stable),
        cmocka_unit_test(test_causal_bottom_right),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_fully_masked_rows),
        cmocka_unit_test(test_softcap),
        cmocka_unit_test(test_gqa_head_mapping),
        cmocka_unit_test(test_against_brute_force),
        cmocka_unit_test(test_varlen_equals_separate_runs),
        cmocka_unit_test(test_f32_baseline_close_to_f64),
        cmocka_unit_test(test_rule_in_f16),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_f16_known_bits),
        cmocka_unit_test(test_f16_every_pattern_round_trips),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_round_pack_unpack),
        cmocka_unit_test(test_error_measures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
