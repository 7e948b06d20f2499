/* SPDX-License-Identifier: MIT */
/*
 * test_forward.c - the forward kernels on the default Vulkan device (lavapipe
 * in CI) against the float64 reference, by FlashAttention's rule. A missing
 * device fails the suite. The random sweep prints its seed; set
 * AULE_TEST_SEED to replay it.
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

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static aule_context *ctx;
static int checks, failures;

static auegen_spec make_spec(int d, int dv, int gqa, auegen_dtype dt, int left, int right, double softcap)
{
    auegen_spec_desc desc = {.name = "t", .head_dim = d, .head_dim_v = dv, .gqa = gqa, .dtype = dt,
                             .has_window = true, .window_left = left, .window_right = right, .softcap = softcap};
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_validate(&desc, &s, &diag) != AUEGEN_OK)
        fail_msg("bad test spec: %s", diag.errors[0].message);
    return s;
}

static void check(const auegen_spec *s, aule_check_shape sh)
{
    aule_check_result r;
    aule_status st = aule_check_run(ctx, s, &sh, &r);
    char canon[512];
    auegen_spec_canonical(s, canon, sizeof canon);
    checks++;
    if (st != AULE_OK)
        fail_msg("%s B%d H%d Sq%d Sk%d: %s: %s", canon, sh.batch, sh.heads, sh.seq_q, sh.seq_k,
                 aule_status_string(st), aule_context_last_error(ctx));
    if (!r.pass) {
        failures++;
        print_error("FAIL %s B%d H%d Sq%d Sk%d varlen%d bshd%d: err %.3e bound %.3e, lse err %.3e bound %.3e\n",
                    canon, sh.batch, sh.heads, sh.seq_q, sh.seq_k, sh.varlen, sh.bshd, r.err, r.bound, r.lse_err,
                    r.lse_bound);
    }
    assert_true(r.pass);
}

static const int head_dims[] = {32, 40, 59, 64, 80, 96, 111, 128, 160, 192, 224, 256};
static const int seq_pairs[][2] = {{1, 1}, {1, 239}, {3, 799}, {113, 203}, {128, 217}, {256, 512}, {1023, 1024},
                                   {108, 256}};

static void test_head_dims_and_dtypes(void **state)
{
    (void)state;
    static const auegen_dtype dts[] = {AUEGEN_DTYPE_F32, AUEGEN_DTYPE_F16, AUEGEN_DTYPE_BF16};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < sizeof head_dims / sizeof *head_dims; i++) {
            int d = head_dims[i];
            bool causal = (i + (size_t)t) % 2 == 0;
            auegen_spec s = make_spec(d, 0, 2, dts[t], -1, causal ? 0 : -1, 0);
            check(&s, (aule_check_shape){.batch = 2, .heads = 4, .seq_q = 37, .seq_k = 70, .lse = true,
                                         .bshd = i % 3 == 0, .seed = 100 + i * 3 + (size_t)t});
            check(&s, (aule_check_shape){.batch = 1, .heads = 2, .seq_q = 1, .seq_k = 239, .lse = true,
                                         .seed = 200 + i * 3 + (size_t)t});
        }
}

/* Head dims far below a vector (1..8, Dv apart from D): rounding up to whole
 * vectors must not outgrow the kernels' working memory (the native CPU
 * backend's few-rows path once wrote past its scratch at D = Dv = 1). */
static void test_tiny_head_dims(void **state)
{
    (void)state;
    static const int dims[][2] = {{1, 1}, {1, 7}, {3, 2}, {8, 1}, {5, 8}};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        auegen_spec s = make_spec(dims[i][0], dims[i][1], 2, AUEGEN_DTYPE_F16, -1, i % 2 ? 0 : -1, 0);
        for (int sq = 1; sq <= 9; sq += 4)
            check(&s, (aule_check_shape){.batch = 1, .heads = 4, .seq_q = sq, .seq_k = 130, .lse = true,
                                         .seed = 300 + i * 10 + (size_t)sq});
    }
}

static void test_sequence_lengths(void **state)
{
    (void)state;
    for (int causal = 0; causal < 2; causal++) {
        auegen_spec s = make_spec(64, 0, 4, AUEGEN_DTYPE_F16, -1, causal ? 0 : -1, 0);
        for (size_t i = 0; i < sizeof seq_pairs / sizeof *seq_pairs; i++) {
            bool big = seq_pairs[i][0] >= 1000;
            check(&s, (aule_check_shape){.batch = big ? 1 : 2, .heads = 4, .seq_q = seq_pairs[i][0],
                                         .seq_k = seq_pairs[i][1], .lse = true, .seed = 300 + i + 10 * causal});
        }
        /* Sq > Sk, causal: the first Sq - Sk rows see no key: O = 0, LSE = -inf. */
        check(&s, (aule_check_shape){.batch = 2, .heads = 4, .seq_q = 10, .seq_k = 3, .lse = true, .seed = 7});
    }
    /* The largest head dim at the largest pair, once per 16-bit dtype. */
    auegen_spec big = make_spec(256, 0, 1, AUEGEN_DTYPE_BF16, -1, 0, 0);
    check(&big, (aule_check_shape){.batch = 1, .heads = 1, .seq_q = 1023, .seq_k = 1024, .lse = true, .seed = 9});
}

static void test_gqa_ratios(void **state)
{
    (void)state;
    static const int ratios[] = {1, 4, 8, 16};   /* 16 of 16 heads: MQA */
    for (size_t i = 0; i < 4; i++) {
        auegen_spec s = make_spec(64, 0, ratios[i], AUEGEN_DTYPE_F16, -1, i % 2 ? 0 : -1, 0);
        check(&s, (aule_check_shape){.batch = 2, .heads = 16, .seq_q = 65, .seq_k = 130, .lse = true,
                                     .bshd = i == 2, .seed = 400 + i});
    }
}

static void test_masks(void **state)
{
    (void)state;
    static const int windows[][2] = {{16, 0}, {32, 8}, {0, 0}, {-1, 5}, {7, -1}, {100, 100}};
    for (size_t i = 0; i < 6; i++) {
        auegen_spec s = make_spec(128, 0, 2, i % 2 ? AUEGEN_DTYPE_BF16 : AUEGEN_DTYPE_F16, windows[i][0],
                                  windows[i][1], 0);
        check(&s, (aule_check_shape){.batch = 2, .heads = 4, .seq_q = 150, .seq_k = 170, .lse = true, .seed = 500 + i});
        check(&s, (aule_check_shape){.batch = 1, .heads = 2, .seq_q = 170, .seq_k = 90, .lse = true, .seed = 510 + i});
    }
    auegen_spec capped = make_spec(96, 0, 1, AUEGEN_DTYPE_F32, -1, 0, 30.0);
    check(&capped, (aule_check_shape){.batch = 2, .heads = 3, .seq_q = 77, .seq_k = 77, .lse = true, .seed = 520});
    auegen_spec capped16 = make_spec(256, 0, 2, AUEGEN_DTYPE_BF16, 64, 0, 50.0);
    check(&capped16, (aule_check_shape){.batch = 1, .heads = 4, .seq_q = 90, .seq_k = 200, .lse = true,
                                        .scale = 0.0625f, .seed = 521});
    auegen_spec dv = make_spec(80, 48, 4, AUEGEN_DTYPE_F16, -1, 0, 0);
    check(&dv, (aule_check_shape){.batch = 2, .heads = 8, .seq_q = 60, .seq_k = 61, .lse = true, .seed = 522});
}

static void test_varlen(void **state)
{
    (void)state;
    auegen_spec a = make_spec(64, 0, 2, AUEGEN_DTYPE_F16, -1, 0, 0);
    auegen_spec b = make_spec(111, 0, 1, AUEGEN_DTYPE_BF16, 20, 0, 0);
    auegen_spec c = make_spec(32, 0, 4, AUEGEN_DTYPE_F32, -1, -1, 20.0);
    for (uint64_t i = 0; i < 4; i++) {
        check(&a, (aule_check_shape){.batch = 5, .heads = 4, .seq_q = 90, .seq_k = 120, .varlen = true,
                                     .lse = true, .seed = 600 + i});
        check(&b, (aule_check_shape){.batch = 3, .heads = 2, .seq_q = 64, .seq_k = 64, .varlen = true,
                                     .lse = true, .seed = 610 + i});
        check(&c, (aule_check_shape){.batch = 7, .heads = 8, .seq_q = 33, .seq_k = 200, .varlen = true,
                                     .lse = i % 2 == 0, .seed = 620 + i});
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_random_sweep(void **state)
{
    (void)state;
    const char *env = getenv("AULE_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    print_message("random sweep seed %llu (AULE_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
                  (unsigned long long)seed);
    uint64_t s = seed * 2654435761u + 88172645463325252ull;
    /* A pool of specs (each is compiled once), then many shapes over them. */
    enum { SPECS = 20, CONFIGS = 520 };
    auegen_spec pool[SPECS];
    static const int gqas[] = {1, 2, 4, 8};
    for (int i = 0; i < SPECS; i++) {
        int d = 1 + (int)(rnd(&s) % 256);
        int dv = rnd(&s) % 4 == 0 ? 1 + (int)(rnd(&s) % 256) : 0;
        int mode = (int)(rnd(&s) % 4);
        int left = mode >= 2 ? (int)(rnd(&s) % 40) : -1;
        int right = mode == 1 || mode == 2 ? 0 : (mode == 3 ? (int)(rnd(&s) % 10) : -1);
        double cap = rnd(&s) % 4 == 0 ? 5.0 + (double)(rnd(&s) % 50) : 0;
        pool[i] = make_spec(d, dv, gqas[rnd(&s) % 4], (auegen_dtype)(AUEGEN_DTYPE_F32 + rnd(&s) % 3), left, right, cap);
    }
    for (int i = 0; i < CONFIGS; i++) {
        const auegen_spec *sp = &pool[rnd(&s) % SPECS];
        int hkv = 1 + (int)(rnd(&s) % 2);
        aule_check_shape sh = {.batch = 1 + (int)(rnd(&s) % 3), .heads = hkv * sp->gqa,
                               .seq_q = 1 + (int)(rnd(&s) % 48), .seq_k = 1 + (int)(rnd(&s) % 64),
                               .varlen = rnd(&s) % 5 == 0, .bshd = rnd(&s) % 3 == 0, .lse = rnd(&s) % 2 == 0,
                               .seed = rnd(&s)};
        check(sp, sh);
    }
    print_message("random sweep: %d configurations over %d specs passed\n", CONFIGS, SPECS);
}

/* Attention sinks (gpt-oss): one logit per query head in the denominator. With
 * Sq > Sk and causal, the first rows see no key: O = 0 and LSE = the sink. */
static void test_sinks(void **state)
{
    (void)state;
    static const struct { int d, gqa; auegen_dtype dt; int left, right; double cap; int sq, sk; bool varlen; } c[] = {
        {64, 4, AUEGEN_DTYPE_F16, -1, 0, 0, 40, 23, false},
        {128, 2, AUEGEN_DTYPE_BF16, 48, 0, 30.0, 130, 170, false},
        {59, 1, AUEGEN_DTYPE_F32, -1, -1, 0, 33, 65, true},
        {256, 8, AUEGEN_DTYPE_F16, -1, -1, 0, 1, 239, false},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        auegen_spec_desc desc = {.name = "sinks", .head_dim = c[i].d, .gqa = c[i].gqa, .dtype = c[i].dt,
                                 .has_window = true, .window_left = c[i].left, .window_right = c[i].right,
                                 .softcap = c[i].cap, .sinks = true};
        auegen_spec s;
        assert_int_equal(auegen_spec_validate(&desc, &s, NULL), AUEGEN_OK);
        check(&s, (aule_check_shape){.batch = 2, .heads = 2 * c[i].gqa, .seq_q = c[i].sq, .seq_k = c[i].sk,
                                     .lse = !c[i].varlen, .varlen = c[i].varlen, .bshd = i == 1, .seed = 900 + i});
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    auegen_spec s = make_spec(64, 0, 2, AUEGEN_DTYPE_F16, -1, 0, 0);
    aule_tensor *q, *k, *v, *o, *wrong, *lse, *cu;
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 4, 16, 64}};
    aule_tensor_desc kd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 2, 16, 64}};
    aule_tensor_desc wd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, 4, 16, 64}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {1, 4, 15}};
    aule_tensor_desc cd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {3}};
    /* 256 GiB: more than the device's buffer range or, on the native CPU backend,
     * the machine's memory: refused with a message, not allocated (the CPU backend
     * once asked the allocator for it). */
    aule_tensor_desc huge = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {64, 1024, 1024, 1024}};
    aule_tensor *none = NULL;
    assert_int_equal(aule_tensor_create(ctx, &huge, &none), AULE_ERROR_INVALID_ARGUMENT);
    assert_null(none);
    assert_non_null(strstr(aule_context_last_error(ctx), "exceeds"));
    assert_int_equal(aule_tensor_create(ctx, &qd, &q), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &k), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &v), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &o), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &wd, &wrong), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &ld, &lse), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &cd, &cu), AULE_OK);
    aule_forward_args ok = {.q = q, .k = k, .v = v, .o = o};
    assert_int_equal(aule_attention_forward(ctx, &s, &ok), AULE_OK);

    aule_forward_args a = ok;
    a.q = wrong;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "dtype"));
    /* Sinks: required by a sinks spec, [H] fp32, and refused by a spec without them. */
    a = ok;
    a.sinks = lse;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "no sinks"));
    auegen_spec_desc sd = {.name = "sinks", .head_dim = 64, .gqa = 2, .causal = true, .sinks = true};
    auegen_spec with_sinks;
    assert_int_equal(auegen_spec_validate(&sd, &with_sinks, NULL), AUEGEN_OK);
    assert_int_equal(aule_attention_forward(ctx, &with_sinks, &ok), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "pass sinks"));
    a = ok;
    a.sinks = cu;     /* int32 [3], not fp32 [4] */
    assert_int_equal(aule_attention_forward(ctx, &with_sinks, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "sinks"));
    a = ok;
    a.k = q;     /* 4 KV heads with gqa 2: H must be 8 */
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "gqa"));
    a = ok;
    a.lse = lse;  /* Sq 15 instead of 16 */
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "lse"));
    a = ok;
    a.o = NULL;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    a = ok;
    a.scale = 1.0f / 0.0f;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    /* cu_seqlens that decrease, or run past the tokens there are. */
    int32_t bad[3] = {0, 9, 4};
    assert_int_equal(aule_tensor_write(cu, bad, sizeof bad), AULE_OK);
    a = ok;
    a.cu_seqlens_q = cu;
    a.cu_seqlens_k = cu;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "cu_seqlens"));
    int32_t past[3] = {0, 9, 17};
    assert_int_equal(aule_tensor_write(cu, past, sizeof past), AULE_OK);
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    a.cu_seqlens_k = NULL;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    /* An invalid spec. */
    auegen_spec bad_spec = s;
    bad_spec.head_dim = 0;
    assert_int_equal(aule_attention_forward(ctx, &bad_spec, &ok), AULE_ERROR_GENERATOR);
    assert_int_equal(aule_attention_forward(NULL, &s, &ok), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_attention_forward(ctx, NULL, &ok), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_attention_forward_batch(ctx, &s, &ok, 0), AULE_ERROR_INVALID_ARGUMENT);
    /* Tensors: bad dtype, shape, strides, size. */
    aule_tensor *t = (aule_tensor *)1;
    aule_tensor_desc bd = {.dtype = (aule_dtype)99, .ndim = 1, .shape = {4}};
    assert_int_equal(aule_tensor_create(ctx, &bd, &t), AULE_ERROR_INVALID_ARGUMENT);
    assert_null(t);
    bd = (aule_tensor_desc){.dtype = AULE_DTYPE_F32, .ndim = 5, .shape = {1, 1, 1, 1}};
    assert_int_equal(aule_tensor_create(ctx, &bd, &t), AULE_ERROR_INVALID_ARGUMENT);
    bd = (aule_tensor_desc){.dtype = AULE_DTYPE_F32, .ndim = 2, .shape = {4, 0}};
    assert_int_equal(aule_tensor_create(ctx, &bd, &t), AULE_ERROR_INVALID_ARGUMENT);
    bd = (aule_tensor_desc){.dtype = AULE_DTYPE_F32, .ndim = 2, .shape = {4, 4}, .strides = {-4, 1}};
    assert_int_equal(aule_tensor_create(ctx, &bd, &t), AULE_ERROR_INVALID_ARGUMENT);
    bd = (aule_tensor_desc){.dtype = AULE_DTYPE_F32, .ndim = 2, .shape = {1 << 30, 1 << 30}};
    assert_int_equal(aule_tensor_create(ctx, &bd, &t), AULE_ERROR_INVALID_ARGUMENT);
    char buf[8];
    assert_int_equal(aule_tensor_write(q, buf, sizeof buf), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_tensor_read(q, NULL, aule_tensor_bytes(q)), AULE_ERROR_INVALID_ARGUMENT);
    aule_tensor_destroy(NULL);
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(o);
    aule_tensor_destroy(wrong);
    aule_tensor_destroy(lse);
    aule_tensor_destroy(cu);
}

static void test_batch_submission(void **state)
{
    (void)state;
    /* Several calls in one submission, the second reading the first's output. */
    auegen_spec s = make_spec(16, 0, 1, AUEGEN_DTYPE_F32, -1, -1, 0);
    aule_tensor_desc d = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, 1, 4, 16}};
    aule_tensor *q, *k, *v, *o1, *o2;
    assert_int_equal(aule_tensor_create(ctx, &d, &q), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &d, &k), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &d, &v), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &d, &o1), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &d, &o2), AULE_OK);
    float vals[64];
    for (int i = 0; i < 64; i++)
        vals[i] = (float)(i % 7) * 0.25f - 0.5f;
    assert_int_equal(aule_tensor_write(q, vals, sizeof vals), AULE_OK);
    assert_int_equal(aule_tensor_write(k, vals, sizeof vals), AULE_OK);
    assert_int_equal(aule_tensor_write(v, vals, sizeof vals), AULE_OK);
    aule_forward_args calls[2] = {{.q = q, .k = k, .v = v, .o = o1}, {.q = q, .k = k, .v = o1, .o = o2}};
    assert_int_equal(aule_attention_forward_batch(ctx, &s, calls, 2), AULE_OK);
    float got1[64], got2[64], want2[64];
    assert_int_equal(aule_tensor_read(o1, got1, sizeof got1), AULE_OK);
    assert_int_equal(aule_tensor_read(o2, got2, sizeof got2), AULE_OK);
    aule_forward_args second = {.q = q, .k = k, .v = o1, .o = o2};
    assert_int_equal(aule_attention_forward(ctx, &s, &second), AULE_OK);
    assert_int_equal(aule_tensor_read(o2, want2, sizeof want2), AULE_OK);
    assert_memory_equal(got2, want2, sizeof got2);
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(o1);
    aule_tensor_destroy(o2);
}

typedef struct thread_job {
    int index;
    int passed;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    /* Half the threads share one spec (so they race to create it), half have their own. */
    int d = job->index % 2 ? 48 : 24 + job->index;
    auegen_spec s = make_spec(d, 0, 2, job->index % 3 == 0 ? AUEGEN_DTYPE_BF16 : AUEGEN_DTYPE_F16, -1,
                              job->index % 2 ? 0 : -1, 0);
    for (int i = 0; i < 4; i++) {
        aule_check_result r;
        aule_check_shape sh = {.batch = 2, .heads = 4, .seq_q = 20 + i, .seq_k = 33, .lse = true,
                               .seed = (uint64_t)(job->index * 10 + i)};
        if (aule_check_run(ctx, &s, &sh, &r) == AULE_OK && r.pass)
            job->passed++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[8];
    thread_job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (thread_job){.index = i};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &jobs[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].passed, 4);
    }
}

static void test_builtin_without_jit(void **state)
{
    (void)state;
    /* With the generator switched off, a kernel linked in from generated/ serves the spec. */
    char dir[] = "/tmp/aule-builtin-XXXXXX";
    assert_non_null(mkdtemp(dir));
    aule_context *c2;
    aule_context_desc d = {.disable_jit = true, .cache_dir = dir};
    assert_int_equal(aule_context_create(&d, &c2), AULE_OK);
    auegen_spec s = make_spec(24, 0, 2, AUEGEN_DTYPE_F16, -1, 0, 0);   /* specs/tiny.lua: tiny_causal_gqa */
    aule_check_result r;
    aule_check_shape sh = {.batch = 2, .heads = 4, .seq_q = 30, .seq_k = 41, .lse = true, .seed = 3};
    assert_int_equal(aule_check_run(c2, &s, &sh, &r), AULE_OK);
    assert_true(r.pass);
    assert_int_equal(r.kernel.source, AULE_SOURCE_BUILTIN);
    auegen_spec other = make_spec(23, 0, 1, AUEGEN_DTYPE_F16, -1, 0, 0);
    aule_device_info info;
    assert_int_equal(aule_context_device_info(c2, &info), AULE_OK);
    if (info.backend == AULE_BACKEND_CPU) {
        /* The native CPU's kernels are compiled in: every spec runs without the generator. */
        assert_int_equal(aule_kernel_prepare(c2, &other, NULL), AULE_OK);
    } else {
        /* A spec nothing was built for is refused with a reason. */
        assert_int_equal(aule_kernel_prepare(c2, &other, NULL), AULE_ERROR_UNSUPPORTED);
        assert_non_null(strstr(aule_context_last_error(c2), "JIT is disabled"));
    }
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
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    print_message("device: %s\n", info.name);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    print_message("%d checks by the correctness rule, %d failed\n", checks, failures);
    aule_context_destroy(ctx);
    return 0;
}

int main(void)
{
    test_device_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_head_dims),       /* first: kernel scratch sized by these calls alone */
        cmocka_unit_test(test_head_dims_and_dtypes),
        cmocka_unit_test(test_sequence_lengths),
        cmocka_unit_test(test_gqa_ratios),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_varlen),
        cmocka_unit_test(test_random_sweep),
        cmocka_unit_test(test_sinks),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_batch_submission),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_builtin_without_jit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
