/* SPDX-License-Identifier: MIT */
/*
 * test_decode.c - decode kernels on the default Vulkan device against the
 * float64 reference: batch sizes, KV lengths, page sizes and a contiguous
 * cache, shuffled block tables, GQA ratios, several query tokens, split and
 * unsplit; bad block tables and lengths rejected before any kernel runs.
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
#include "llama3_8b_decode.portable.h"
#include "llama3_8b_decode.append.portable.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static aule_context *ctx;
static int checks;
static float normalf(uint64_t *r);

static auegen_spec aule__decode_spec(int d, int gqa, int page, auegen_dtype dt, bool causal, int left, double cap)
{
    auegen_spec_desc desc = {.name = "dec", .kind = AUEGEN_KIND_DECODE, .head_dim = d, .gqa = gqa, .dtype = dt,
                             .page_size = page, .causal = causal, .softcap = cap};
    if (left >= 0) {
        desc.has_window = true;
        desc.window_left = left;
        desc.window_right = causal ? 0 : -1;
    }
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_validate(&desc, &s, &diag) != AUEGEN_OK)
        fail_msg("bad test spec: %s", diag.errors[0].message);
    return s;
}

static void check(const auegen_spec *s, int batch, int heads, int sq, const int *lens, int splits, uint64_t seed)
{
    aule_check_decode_shape sh = {.batch = batch, .heads = heads, .seq_q = sq, .seq_lens = lens,
                                  .num_splits = splits, .lse = true, .seed = seed};
    aule_check_result r;
    aule_status st = aule_check_decode_run(ctx, s, &sh, &r);
    checks++;
    if (st != AULE_OK)
        fail_msg("decode D%d gqa%d page%d B%d H%d Sq%d: %s: %s", s->head_dim, s->gqa, s->page_size, batch, heads, sq,
                 aule_status_string(st), aule_context_last_error(ctx));
    if (!r.pass)
        print_error("FAIL decode D%d gqa%d page%d B%d H%d Sq%d len0 %d splits %d: err %.3e bound %.3e lse %.3e/%.3e\n",
                    s->head_dim, s->gqa, s->page_size, batch, heads, sq, lens[0], splits, r.err, r.bound, r.lse_err,
                    r.lse_bound);
    assert_true(r.pass);
}

static void test_lengths_and_pages(void **state)
{
    (void)state;
    static const int pages[] = {16, 64, 256, 0};
    static const int lens1[] = {1}, lens3[] = {17, 1000, 4099}, lens8[] = {1, 17, 1000, 33, 4099, 250, 64, 129};
    for (int p = 0; p < 4; p++) {
        auegen_spec s = aule__decode_spec(64, 4, pages[p], AUEGEN_DTYPE_F16, true, -1, 0);
        check(&s, 1, 8, 1, lens1, 0, 10 + (uint64_t)p);
        check(&s, 3, 8, 4, lens3, 0, 20 + (uint64_t)p);
        check(&s, 8, 4, 1, lens8, 0, 30 + (uint64_t)p);
    }
    static const int longest[] = {65536};
    auegen_spec s = aule__decode_spec(64, 4, 64, AUEGEN_DTYPE_F16, true, -1, 0);
    check(&s, 1, 4, 1, longest, 0, 40);
}

static void test_gqa_and_query_tokens(void **state)
{
    (void)state;
    static const int gqas[] = {1, 4, 8, 32};
    static const int sqs[] = {1, 4, 16};
    static const int lens[] = {300, 77};
    for (int g = 0; g < 4; g++)
        for (int q = 0; q < 3; q++) {
            auegen_spec s = aule__decode_spec(g % 2 ? 128 : 80, gqas[g], q == 1 ? 0 : 16,
                                        q == 2 ? AUEGEN_DTYPE_BF16 : AUEGEN_DTYPE_F16, true, -1, 0);
            check(&s, 2, gqas[g], sqs[q], lens, 0, 50 + (uint64_t)(g * 3 + q));
        }
}

static void test_split_equals_unsplit(void **state)
{
    (void)state;
    static const int lens[] = {2000, 513, 1};
    auegen_spec s = aule__decode_spec(96, 2, 16, AUEGEN_DTYPE_F32, true, -1, 0);
    for (int splits = 1; splits <= 16; splits *= 4)
        check(&s, 3, 4, 2, lens, splits, 60);   /* same seed: same inputs */
}

static void test_masks_and_dtypes(void **state)
{
    (void)state;
    static const int lens[] = {900, 40};
    auegen_spec window = aule__decode_spec(64, 4, 64, AUEGEN_DTYPE_F16, true, 256, 0);
    check(&window, 2, 8, 4, lens, 0, 70);
    auegen_spec capped = aule__decode_spec(256, 2, 16, AUEGEN_DTYPE_BF16, true, 127, 50.0);
    check(&capped, 2, 4, 1, lens, 0, 71);
    auegen_spec open = aule__decode_spec(32, 1, 0, AUEGEN_DTYPE_F32, false, -1, 0);
    check(&open, 2, 2, 3, lens, 0, 72);
    static const int empty[] = {0, 5};
    check(&open, 2, 2, 1, empty, 0, 73);   /* a sequence with no keys: O = 0, LSE = -inf */
}

/* Sinks join the denominator once: in the kernel when unsplit, in the merge when split. */
static void test_sinks(void **state)
{
    (void)state;
    auegen_spec_desc desc = {.name = "ds", .kind = AUEGEN_KIND_DECODE, .head_dim = 64, .gqa = 4, .causal = true,
                             .page_size = 16, .dtype = AUEGEN_DTYPE_F16, .sinks = true};
    auegen_spec s;
    assert_int_equal(auegen_spec_validate(&desc, &s, NULL), AUEGEN_OK);
    static const int lens[3] = {100, 0, 33};        /* an empty sequence: O = 0, LSE = the sink */
    check(&s, 3, 8, 1, lens, 1, 61);
    check(&s, 3, 8, 2, lens, 4, 62);
    desc.page_size = 0;
    desc.dtype = AUEGEN_DTYPE_BF16;
    assert_int_equal(auegen_spec_validate(&desc, &s, NULL), AUEGEN_OK);
    check(&s, 3, 8, 1, lens, 3, 63);
}

/* The decode kernels linked in from generated/ for specs/llama3.lua, through
 * their typed launchers, with the generator switched off: the append part
 * writes the cache, the decode kernel reads it, split (its reduce part, found
 * among the linked-in kernels) and unsplit; checked against float64. */
static void test_linked_without_jit(void **state)
{
    (void)state;
    const auegen_spec *s = &aule_kernel_llama3_8b_decode_portable.spec;
    enum { B = 2, HKV = 2, N = 40, MAXP = 3, PAGES = B * MAXP + 1 };
    const int d = s->head_dim, H = HKV * s->gqa, page = s->page_size;
    assert_int_equal(page, 16);
    char dir[] = "/tmp/aule-linked-decode-XXXXXX";
    assert_non_null(mkdtemp(dir));
    aule_context *c2;
    aule_context_desc cd = {.disable_jit = true, .cache_dir = dir};
    assert_int_equal(aule_context_create(&cd, &c2), AULE_OK);

    uint64_t rng = 77;
    size_t nkv = (size_t)B * HKV * N * d, nq = (size_t)B * H * d;
    float *k = malloc(nkv * 4), *v = malloc(nkv * 4), *q = malloc(nq * 4);
    uint16_t *h16 = malloc(nkv * 2);
    assert_non_null(k);
    assert_non_null(v);
    assert_non_null(q);
    assert_non_null(h16);
    for (size_t i = 0; i < nkv; i++) {
        k[i] = aule_round_to_dtype(normalf(&rng), AUEGEN_DTYPE_F16);
        v[i] = aule_round_to_dtype(normalf(&rng), AUEGEN_DTYPE_F16);
    }
    for (size_t i = 0; i < nq; i++)
        q[i] = aule_round_to_dtype(normalf(&rng), AUEGEN_DTYPE_F16);
    aule_tensor_desc newd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {B, HKV, N, d}};
    aule_tensor_desc cached = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {PAGES, page, HKV, d}};
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {B, H, 1, d}};
    aule_tensor_desc bd = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {B, MAXP}};
    aule_tensor_desc vd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {B}};
    aule_tensor *kn, *vn, *kc, *vc, *tq, *to, *bt, *pos, *lens;
    assert_int_equal(aule_tensor_create(c2, &newd, &kn), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &newd, &vn), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &cached, &kc), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &cached, &vc), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &qd, &tq), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &qd, &to), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &bd, &bt), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &vd, &pos), AULE_OK);
    assert_int_equal(aule_tensor_create(c2, &vd, &lens), AULE_OK);
    aule_pack_dtype(k, h16, nkv, AUEGEN_DTYPE_F16);
    assert_int_equal(aule_tensor_write(kn, h16, nkv * 2), AULE_OK);
    aule_pack_dtype(v, h16, nkv, AUEGEN_DTYPE_F16);
    assert_int_equal(aule_tensor_write(vn, h16, nkv * 2), AULE_OK);
    aule_pack_dtype(q, h16, nq, AUEGEN_DTYPE_F16);
    assert_int_equal(aule_tensor_write(tq, h16, nq * 2), AULE_OK);
    const int32_t table[B * MAXP] = {5, 0, 3, 6, 2, 4}, at[B] = {0, 0}, len[B] = {N, 29};
    assert_int_equal(aule_tensor_write(bt, table, sizeof table), AULE_OK);
    assert_int_equal(aule_tensor_write(pos, at, sizeof at), AULE_OK);
    assert_int_equal(aule_tensor_write(lens, len, sizeof len), AULE_OK);

    aule_append_args app = {.k_new = kn, .v_new = vn, .k_cache = kc, .v_cache = vc, .block_table = bt,
                            .positions = pos};
    assert_int_equal(aule_llama3_8b_decode_append_portable(c2, &app), AULE_OK);
    for (int splits = 1; splits <= 3; splits += 2) {
        aule_decode_args dec = {.q = tq, .k_cache = kc, .v_cache = vc, .block_table = bt, .seq_lens = lens, .o = to,
                                .num_splits = splits};
        aule_status st = aule_llama3_8b_decode_portable(c2, &dec);
        if (st != AULE_OK)
            fail_msg("linked decode, %d splits: %s", splits, aule_context_last_error(c2));
        float got[B * 8 * 128];
        assert_true((size_t)B * H * d <= sizeof got / sizeof *got);
        assert_int_equal(aule_tensor_read(to, h16, nq * 2), AULE_OK);
        aule_unpack_dtype(h16, got, nq, AUEGEN_DTYPE_F16);
        double err = 0, err_naive = 0;
        for (int b = 0; b < B; b++) {
            /* Sequence b's first len[b] tokens, as float64 and as the f32 baseline sees them. */
            size_t n = (size_t)HKV * len[b] * d, off = (size_t)b * HKV * N * d;
            double *kd = malloc(n * 8), *vd2 = malloc(n * 8), *qd2 = malloc((size_t)H * d * 8), ro[8 * 128];
            float *kf = malloc(n * 4), *vf = malloc(n * 4), no[8 * 128];
            assert_non_null(kd);
            assert_non_null(vd2);
            assert_non_null(qd2);
            assert_non_null(kf);
            assert_non_null(vf);
            for (int h = 0; h < HKV; h++)
                for (int j = 0; j < len[b]; j++)
                    for (int x = 0; x < d; x++) {
                        size_t src = off + ((size_t)h * N + j) * d + x, dst = ((size_t)h * len[b] + j) * d + x;
                        kd[dst] = kf[dst] = k[src];
                        vd2[dst] = vf[dst] = v[src];
                    }
            for (size_t i = 0; i < (size_t)H * d; i++)
                qd2[i] = q[(size_t)b * H * d + i];
            aule_ref_problem p = {.batch = 1, .heads = H, .kv_heads = HKV, .seq_q = 1, .seq_k = len[b], .head_dim = d,
                                  .window_left = s->window_left, .window_right = s->window_right,
                                  .scale = 1.0f / sqrtf((float)d)};
            aule_ref_problem naive = p;
            naive.p_dtype = AUEGEN_DTYPE_F16;
            assert_int_equal(aule_reference_forward_f64(&p, qd2, kd, vd2, ro, NULL), 0);
            assert_int_equal(aule_reference_forward_f32(&naive, q + (size_t)b * H * d, kf, vf, no, NULL), 0);
            aule_round_array_to_dtype(no, (size_t)H * d, AUEGEN_DTYPE_F16);
            double e1 = aule_max_abs_diff(ro, got + (size_t)b * H * d, (size_t)H * d);
            double e2 = aule_max_abs_diff(ro, no, (size_t)H * d);
            err = e1 > err ? e1 : err;
            err_naive = e2 > err_naive ? e2 : err_naive;
            free(kd);
            free(vd2);
            free(qd2);
            free(kf);
            free(vf);
        }
        double bound;
        bool pass = aule_error_within_bound(err, err_naive, &bound);
        print_message("linked llama3_8b_decode, JIT off, %d split(s): err %.3e bound %.3e\n", splits, err, bound);
        checks++;
        assert_true(pass);
    }
    aule_context_stats stats;
    aule_context_get_stats(c2, &stats);
    assert_int_equal(stats.jit_compiles, 0);
    assert_true(stats.builtin_hits >= 3);       /* decode, its reduce part, the append part */
    aule_tensor *all[] = {kn, vn, kc, vc, tq, to, bt, pos, lens};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
    free(k);
    free(v);
    free(q);
    free(h16);
    aule_context_destroy(c2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_bad_tables(void **state)
{
    (void)state;
    auegen_spec s = aule__decode_spec(16, 1, 16, AUEGEN_DTYPE_F32, true, -1, 0);
    aule_tensor *q, *k, *v, *o, *bt, *lens;
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {2, 1, 1, 16}};
    aule_tensor_desc kd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {4, 16, 1, 16}};
    aule_tensor_desc bd = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {2, 2}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {2}};
    assert_int_equal(aule_tensor_create(ctx, &qd, &q), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &o), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &k), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &kd, &v), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &bd, &bt), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &ld, &lens), AULE_OK);
    float zeros[4 * 16 * 16] = {0};
    aule_tensor_write(q, zeros, aule_tensor_bytes(q));
    aule_tensor_write(k, zeros, aule_tensor_bytes(k));
    aule_tensor_write(v, zeros, aule_tensor_bytes(v));
    aule_decode_args a = {.q = q, .k_cache = k, .v_cache = v, .block_table = bt, .seq_lens = lens, .o = o};
    int32_t good[4] = {3, 1, 0, 2}, len_ok[2] = {20, 32};
    aule_tensor_write(bt, good, sizeof good);
    aule_tensor_write(lens, len_ok, sizeof len_ok);
    assert_int_equal(aule_attention_decode(ctx, &s, &a), AULE_OK);
    int32_t out_of_range[4] = {3, 4, 0, 2};
    aule_tensor_write(bt, out_of_range, sizeof out_of_range);
    assert_int_equal(aule_attention_decode(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "block_table[0][1] = 4"));
    int32_t negative[4] = {3, 1, -1, 2};
    aule_tensor_write(bt, negative, sizeof negative);
    assert_int_equal(aule_attention_decode(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    aule_tensor_write(bt, good, sizeof good);
    int32_t too_long[2] = {20, 33};   /* 2 pages of 16 hold 32 */
    aule_tensor_write(lens, too_long, sizeof too_long);
    assert_int_equal(aule_attention_decode(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "seq_lens[1] = 33"));
    aule_tensor_write(lens, len_ok, sizeof len_ok);
    a.block_table = NULL;
    assert_int_equal(aule_attention_decode(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    a.block_table = bt;
    a.num_splits = 1000;
    assert_int_equal(aule_attention_decode(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    a.num_splits = 0;
    auegen_spec fwd = s;
    fwd.kind = AUEGEN_KIND_FORWARD;
    fwd.page_size = 0;
    assert_int_equal(aule_attention_decode(ctx, &fwd, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_attention_decode(ctx, &s, NULL), AULE_ERROR_INVALID_ARGUMENT);
    /* A decode spec through the forward entry point is refused, not run with the wrong arguments. */
    aule_forward_args fa = {.q = q, .k = q, .v = q, .o = o};
    assert_int_equal(aule_attention_forward(ctx, &s, &fa), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "aule_attention_decode"));
    aule_tensor_destroy(q);
    aule_tensor_destroy(o);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(bt);
    aule_tensor_destroy(lens);
}

/* Appends tokens in two steps and finds every element where the block table says. */
static void append_case(int page)
{
    enum { B = 3, HKV = 2, D = 24, DV = 8, MAXP = 4 };
    auegen_spec s = aule__decode_spec(D, 2, page, AUEGEN_DTYPE_F32, true, -1, 0);
    auegen_spec_desc dd = {.name = "a", .kind = AUEGEN_KIND_DECODE, .head_dim = D, .head_dim_v = DV, .gqa = 2,
                           .causal = true, .page_size = page, .dtype = AUEGEN_DTYPE_F32};
    assert_int_equal(auegen_spec_validate(&dd, &s, NULL), AUEGEN_OK);
    int cap = page ? MAXP * page : 70;
    int pages = page ? B * MAXP + 2 : 0;
    aule_tensor_desc kc = {.dtype = AULE_DTYPE_F32, .ndim = 4,
                           .shape = {page ? pages : B, page ? page : HKV, page ? HKV : cap, D}};
    aule_tensor_desc vc = kc;
    vc.shape[3] = DV;
    aule_tensor *k, *v, *bt = NULL, *pos, *kn, *vn;
    assert_int_equal(aule_tensor_create(ctx, &kc, &k), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &vc, &v), AULE_OK);
    size_t nk = aule_tensor_bytes(k) / 4, nv = aule_tensor_bytes(v) / 4;
    float *zk = calloc(nk, 4), *zv = calloc(nv, 4);
    assert_non_null(zk);
    assert_non_null(zv);
    aule_tensor_write(k, zk, nk * 4);
    aule_tensor_write(v, zv, nv * 4);
    int32_t table[B * MAXP];
    for (int i = 0; i < B * MAXP; i++)
        table[i] = (i * 7 + 3) % (B * MAXP);     /* a permutation: pages out of order */
    if (page) {
        aule_tensor_desc bd = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {B, MAXP}};
        assert_int_equal(aule_tensor_create(ctx, &bd, &bt), AULE_OK);
        aule_tensor_write(bt, table, sizeof table);
    }
    aule_tensor_desc pd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {B}};
    assert_int_equal(aule_tensor_create(ctx, &pd, &pos), AULE_OK);
    static const int steps[2] = {37, 5};
    int32_t at[B] = {0, 0, 0};
    for (int step = 0; step < 2; step++) {
        int n = steps[step];
        aule_tensor_desc knd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {B, HKV, n, D}};
        aule_tensor_desc vnd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {B, HKV, n, DV}};
        assert_int_equal(aule_tensor_create(ctx, &knd, &kn), AULE_OK);
        assert_int_equal(aule_tensor_create(ctx, &vnd, &vn), AULE_OK);
        float *hk = malloc((size_t)B * HKV * n * D * 4), *hv = malloc((size_t)B * HKV * n * DV * 4);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < HKV; h++)
                for (int t = 0; t < n; t++) {
                    for (int x = 0; x < D; x++)
                        hk[(((size_t)b * HKV + h) * n + t) * D + x] = (float)(b * 1000000 + h * 10000 + (at[b] + t) * 10 + x % 10);
                    for (int x = 0; x < DV; x++)
                        hv[(((size_t)b * HKV + h) * n + t) * DV + x] = -(float)(b * 1000000 + h * 10000 + (at[b] + t) * 10 + x);
                }
        aule_tensor_write(kn, hk, (size_t)B * HKV * n * D * 4);
        aule_tensor_write(vn, hv, (size_t)B * HKV * n * DV * 4);
        aule_tensor_write(pos, at, sizeof at);
        aule_append_args a = {.k_new = kn, .v_new = vn, .k_cache = k, .v_cache = v, .block_table = bt, .positions = pos};
        assert_int_equal(aule_kv_append(ctx, &s, &a), AULE_OK);
        for (int b = 0; b < B; b++)
            at[b] += n;
        free(hk);
        free(hv);
        aule_tensor_destroy(kn);
        aule_tensor_destroy(vn);
    }
    aule_tensor_read(k, zk, nk * 4);
    aule_tensor_read(v, zv, nv * 4);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < HKV; h++)
            for (int j = 0; j < at[b]; j++) {
                size_t kbase, vbase;
                if (page) {
                    size_t slot = (size_t)table[b * MAXP + j / page] * page + (size_t)(j % page);
                    kbase = (slot * HKV + h) * D;
                    vbase = (slot * HKV + h) * DV;
                } else {
                    kbase = (((size_t)b * HKV + h) * cap + j) * D;
                    vbase = (((size_t)b * HKV + h) * cap + j) * DV;
                }
                assert_true(zk[kbase + 3] == (float)(b * 1000000 + h * 10000 + j * 10 + 3));
                assert_true(zv[vbase + 5] == -(float)(b * 1000000 + h * 10000 + j * 10 + 5));
            }
    /* Past the end of the table or the cache: refused before anything is written. */
    aule_tensor_desc knd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {B, HKV, 40, D}};
    aule_tensor_desc vnd = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {B, HKV, 40, DV}};
    assert_int_equal(aule_tensor_create(ctx, &knd, &kn), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &vnd, &vn), AULE_OK);
    int32_t late[B] = {0, cap - 10, 0};
    aule_tensor_write(pos, late, sizeof late);
    aule_append_args a = {.k_new = kn, .v_new = vn, .k_cache = k, .v_cache = v, .block_table = bt, .positions = pos};
    assert_int_equal(aule_kv_append(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "positions[1]"));
    aule_tensor_destroy(kn);
    aule_tensor_destroy(vn);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(bt);
    aule_tensor_destroy(pos);
    free(zk);
    free(zv);
}

static void test_append(void **state)
{
    (void)state;
    append_case(16);
    append_case(0);
}

static float normalf(uint64_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    double u = ((double)(*r >> 11) + 0.5) / 9007199254740992.0;
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    double v = ((double)(*r >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* int8 cache filled by two appends (the second one larger, so pages already
 * holding tokens are requantized), then decode, unsplit and split, against
 * float64 attention on the unquantized K/V. The gate: every output row has
 * cosine similarity >= 0.999 with the reference and every LSE is within
 * AULE_INT8_MAX_LSE_ERR. Prints the errors it measured (docs/kernels.md). */
static void int8_case(int d, bool outliers, uint64_t seed, int sq, int left, int page, int tile_kv)
{
    enum { B = 3, H = 8, HKV = 2, N1 = 70, N2 = 45, LEN = N1 + N2, MOST_PAGES = (LEN + 15) / 16 };
    const int maxp = (LEN + page - 1) / page;
    /* tile_kv (0: the planner's) below the page size: several key tiles share a page's Q quantization. */
    auegen_spec_desc dd = {.name = "d8", .kind = AUEGEN_KIND_DECODE, .head_dim = d, .gqa = H / HKV, .causal = true,
                           .page_size = page, .kv_int8 = true, .dtype = AUEGEN_DTYPE_F16,
                           .has_window = left >= 0, .window_left = left, .window_right = 0,
                           .tile_q = tile_kv ? 16 : 0, .tile_kv = tile_kv};
    const int HS = H * sq;   /* query rows per sequence */
    auegen_spec s;
    assert_int_equal(auegen_spec_validate(&dd, &s, NULL), AUEGEN_OK);
    int pages = B * maxp + 2;
    uint64_t rng = seed;
    /* Host K/V [B][Hkv][LEN][D] as stored in f16, outlier channels optional. */
    size_t nkv = (size_t)B * HKV * LEN * d;
    float *k = malloc(nkv * 4), *v = malloc(nkv * 4), *q = malloc((size_t)B * HS * d * 4);
    assert_non_null(k);
    assert_non_null(v);
    assert_non_null(q);
    for (size_t i = 0; i < nkv; i++) {
        size_t t = (i / (size_t)d) % LEN, c = i % (size_t)d;
        float g = t >= N1 ? 3.0f : 1.0f;                     /* the second append needs larger scales */
        /* Outlier channels as LLM keys have them: a large offset and a wider spread. */
        bool out = outliers && (c == 3 || c == 17);
        float o = out ? 4.0f : 1.0f, shift = out ? (c == 3 ? 15.0f : -10.0f) : 0.0f;
        k[i] = aule_round_to_dtype(normalf(&rng) * g * o + shift, AUEGEN_DTYPE_F16);
        v[i] = aule_round_to_dtype(normalf(&rng) * g * o + shift, AUEGEN_DTYPE_F16);
    }
    for (size_t i = 0; i < (size_t)B * HS * d; i++)
        q[i] = aule_round_to_dtype(normalf(&rng), AUEGEN_DTYPE_F16);
    aule_tensor_desc cd = {.dtype = AULE_DTYPE_I8, .ndim = 4, .shape = {pages, page, HKV, d}};
    aule_tensor_desc sd = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {pages, HKV, d}};
    aule_tensor_desc bd = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {B, maxp}};
    aule_tensor_desc pd = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {B}};
    aule_tensor *kc, *vc, *ks, *vs, *bt, *pos;
    assert_int_equal(aule_tensor_create(ctx, &cd, &kc), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &cd, &vc), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &sd, &ks), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &sd, &vs), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &bd, &bt), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &pd, &pos), AULE_OK);
    int32_t table[B * MOST_PAGES];
    for (int i = 0; i < B * maxp; i++)
        table[i] = (i * 5 + 2) % (B * maxp);
    aule_tensor_write(bt, table, (size_t)B * maxp * sizeof table[0]);
    static const int counts[2] = {N1, N2};
    int32_t at[B] = {0, 0, 0};
    for (int step = 0; step < 2; step++) {
        int n = counts[step];
        aule_tensor_desc nd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {B, HKV, n, d}};
        aule_tensor *kn, *vn;
        assert_int_equal(aule_tensor_create(ctx, &nd, &kn), AULE_OK);
        assert_int_equal(aule_tensor_create(ctx, &nd, &vn), AULE_OK);
        size_t nn = (size_t)B * HKV * n * d;
        float *hk = malloc(nn * 4), *hv = malloc(nn * 4);
        uint16_t *pk = malloc(nn * 2), *pv = malloc(nn * 2);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < HKV; h++)
                for (int t = 0; t < n; t++)
                    for (int x = 0; x < d; x++) {
                        size_t src = (((size_t)b * HKV + h) * LEN + at[b] + t) * d + x;
                        size_t dst = (((size_t)b * HKV + h) * n + t) * d + x;
                        hk[dst] = k[src];
                        hv[dst] = v[src];
                    }
        aule_pack_dtype(hk, pk, nn, AUEGEN_DTYPE_F16);
        aule_pack_dtype(hv, pv, nn, AUEGEN_DTYPE_F16);
        aule_tensor_write(kn, pk, nn * 2);
        aule_tensor_write(vn, pv, nn * 2);
        aule_tensor_write(pos, at, sizeof at);
        aule_append_args a = {.k_new = kn, .v_new = vn, .k_cache = kc, .v_cache = vc, .block_table = bt,
                              .positions = pos, .k_scale = ks, .v_scale = vs};
        assert_int_equal(aule_kv_append(ctx, &s, &a), AULE_OK);
        for (int b = 0; b < B; b++)
            at[b] += n;
        free(hk);
        free(hv);
        free(pk);
        free(pv);
        aule_tensor_destroy(kn);
        aule_tensor_destroy(vn);
    }
    aule_tensor_desc qd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {B, H, sq, d}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {B, H, sq}};
    aule_tensor *tq, *to, *tl, *lens;
    assert_int_equal(aule_tensor_create(ctx, &qd, &tq), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &qd, &to), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &ld, &tl), AULE_OK);
    assert_int_equal(aule_tensor_create(ctx, &pd, &lens), AULE_OK);
    uint16_t *pq = malloc((size_t)B * HS * d * 2), *po = malloc((size_t)B * HS * d * 2);
    float *got_l = malloc((size_t)B * HS * sizeof *got_l);
    aule_pack_dtype(q, pq, (size_t)B * HS * d, AUEGEN_DTYPE_F16);
    aule_tensor_write(tq, pq, (size_t)B * HS * d * 2);
    aule_tensor_write(lens, at, sizeof at);
    /* The float64 reference on the unquantized K/V: O [B][H][D] and LSE [B][H]. */
    double *ref = malloc((size_t)B * HS * d * 8), *ref_l = malloc((size_t)B * HS * sizeof *ref_l);
    assert_non_null(ref);
    assert_non_null(ref_l);
    assert_non_null(got_l);
    for (int b = 0; b < B; b++) {
        size_t per = (size_t)HKV * LEN * d;
        double *kd = malloc(per * sizeof *kd), *vd = malloc(per * sizeof *vd), *qd2 = malloc((size_t)HS * d * 8);
        for (size_t i = 0; i < per; i++) {
            kd[i] = k[(size_t)b * per + i];
            vd[i] = v[(size_t)b * per + i];
        }
        for (size_t i = 0; i < (size_t)HS * d; i++)
            qd2[i] = q[(size_t)b * HS * d + i];
        aule_ref_problem prob = {.batch = 1, .heads = H, .kv_heads = HKV, .seq_q = sq, .seq_k = LEN, .head_dim = d,
                                 .head_dim_v = d, .window_left = left, .window_right = 0, .scale = 1.0f / sqrtf((float)d)};
        assert_int_equal(aule_reference_forward_f64(&prob, qd2, kd, vd, ref + (size_t)b * HS * d, ref_l + b * HS), 0);
        free(kd);
        free(vd);
        free(qd2);
    }
    /* Unsplit, and split in three (the partials merged by their LSEs). */
    static const int split_counts[2] = {1, 3};
    for (int si = 0; si < 2; si++) {
        aule_decode_args da = {.q = tq, .k_cache = kc, .v_cache = vc, .block_table = bt, .seq_lens = lens, .o = to,
                               .lse = tl, .k_scale = ks, .v_scale = vs, .num_splits = split_counts[si]};
        assert_int_equal(aule_attention_decode(ctx, &s, &da), AULE_OK);
        aule_tensor_read(to, po, (size_t)B * HS * d * 2);
        aule_tensor_read(tl, got_l, (size_t)B * HS * sizeof *got_l);
        double worst_cos = 1.0, worst_err = 0.0, l1 = 0.0, l1_ref = 0.0, lse_err = 0.0;
        for (int bh = 0; bh < B * HS; bh++) {
            double dot = 0, nr = 0, ng = 0;
            for (int x = 0; x < d; x++) {
                double r = ref[(size_t)bh * d + x], g = aule_f16_to_f32(po[(size_t)bh * d + x]);
                dot += r * g;
                nr += r * r;
                ng += g * g;
                l1 += fabs(r - g);
                l1_ref += fabs(r);
                worst_err = fabs(r - g) > worst_err || r - g != r - g ? fabs(r - g) : worst_err;
            }
            double cosine = dot / sqrt(nr * ng);
            worst_cos = cosine < worst_cos || cosine != cosine ? cosine : worst_cos;   /* NaN counts as worst */
            double le = fabs(ref_l[bh] - got_l[bh]);
            lse_err = le > lse_err || le != le ? le : lse_err;
        }
        print_message("int8 KV cache, D=%d, Sq=%d, window %d, page %d, tile_kv %d, %s inputs, %d split%s: max |O - ref| "
                      "%.3e, worst row cosine %.6f, rel. L1 %.4f, LSE err %.4f\n", d, sq, left, page, tile_kv,
                      outliers ? "outlier-heavy" : "random", split_counts[si],
                      split_counts[si] > 1 ? "s" : "", worst_err, worst_cos, l1 / l1_ref, lse_err);
        assert_true(worst_cos >= 0.999);
        assert_true(worst_err == worst_err);   /* finite: NaN fails here */
        assert_true(lse_err <= AULE_INT8_MAX_LSE_ERR);
    }
    /* Unsplit again, and on a kernel generated for a device without integer dot
     * products (the bytes unpacked in plain GLSL): integer sums are exact, so O
     * and the LSE must be the same bits. */
    {
        auegen_target no_dot = *auegen_target_profile_find("lavapipe");
        no_dot.int8_dot = false;
        auegen_kernel gk;
        assert_int_equal(auegen_generate(&s, &no_dot, NULL, &gk), AUEGEN_OK);
        assert_false(gk.plan.int8_dot);
        auegen_kernel_info info = {.name = gk.spec.name, .target = no_dot.name, .canonical = gk.canonical,
                                   .key = gk.key, .module_key = gk.module_key, .spec = gk.spec, .plan = gk.plan,
                                   .spirv = gk.spirv, .spirv_words = gk.spirv_words};
        aule_decode_args da = {.q = tq, .k_cache = kc, .v_cache = vc, .block_table = bt, .seq_lens = lens, .o = to,
                               .lse = tl, .k_scale = ks, .v_scale = vs, .num_splits = 1};
        uint16_t *po2 = malloc((size_t)B * HS * d * 2);
        float *got_l2 = malloc((size_t)B * HS * sizeof *got_l2);
        assert_non_null(po2);
        assert_non_null(got_l2);
        assert_int_equal(aule_attention_decode(ctx, &s, &da), AULE_OK);
        aule_tensor_read(to, po, (size_t)B * HS * d * 2);
        aule_tensor_read(tl, got_l, (size_t)B * HS * sizeof *got_l);
        assert_int_equal(aule_decode_launch(ctx, &info, &da), AULE_OK);
        aule_tensor_read(to, po2, (size_t)B * HS * d * 2);
        aule_tensor_read(tl, got_l2, (size_t)B * HS * sizeof *got_l2);
        assert_memory_equal(po, po2, (size_t)B * HS * d * 2);
        assert_memory_equal(got_l, got_l2, (size_t)B * HS * sizeof *got_l2);
        free(po2);
        free(got_l2);
        auegen_kernel_release(&gk);
    }
    free(ref);
    free(ref_l);
    free(got_l);
    free(k);
    free(v);
    free(q);
    free(pq);
    free(po);
    aule_tensor_destroy(kc);
    aule_tensor_destroy(vc);
    aule_tensor_destroy(ks);
    aule_tensor_destroy(vs);
    aule_tensor_destroy(bt);
    aule_tensor_destroy(pos);
    aule_tensor_destroy(tq);
    aule_tensor_destroy(to);
    aule_tensor_destroy(tl);
    aule_tensor_destroy(lens);
}

static void test_int8_cache(void **state)
{
    (void)state;
    int8_case(64, false, 91, 1, -1, 16, 0);
    int8_case(128, false, 92, 1, -1, 16, 0);
    int8_case(64, true, 93, 1, -1, 16, 0);
    int8_case(128, true, 94, 1, -1, 16, 0);
    /* Several query tokens, a window that starts inside a key tile, a head dim
     * that is not a multiple of 4 (the last packed word part padding). */
    int8_case(59, true, 95, 3, 37, 16, 0);
    int8_case(128, false, 96, 4, 50, 16, 0);
    /* Pages of 64 keys in tiles of 16: four tiles per page, one Q quantization. */
    int8_case(64, false, 97, 2, -1, 64, 16);
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
    print_message("%d decode checks by the correctness rule\n", checks);
    aule_context_destroy(ctx);
    return 0;
}

int main(void)
{
    test_device_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths_and_pages),
        cmocka_unit_test(test_gqa_and_query_tokens),
        cmocka_unit_test(test_split_equals_unsplit),
        cmocka_unit_test(test_masks_and_dtypes),
        cmocka_unit_test(test_sinks),
        cmocka_unit_test(test_linked_without_jit),
        cmocka_unit_test(test_bad_tables),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_int8_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
