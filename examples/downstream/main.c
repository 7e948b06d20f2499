/* SPDX-License-Identifier: MIT */
/*
 * main.c - a program that uses aule the way a downstream project does: its own
 * spec (model.lua), kernels generated at its build time (aule_add_kernels, or
 * auegen --register by hand) and linked in, JIT and the disk cache off. It
 * runs the prefill kernel and the decode kernel (cache append, then decode),
 * each by spec and through its typed launchers, checks each against
 * aule's float64 reference by the rule |ref - got| <= 2 * |ref - naive fp32|
 * + 1e-6, and prints pass or fail.
 *
 *   downstream [SPEC]        (default: the model.lua it was built with)
 *
 * Each decode run appends 45 and 23 tokens to a cache of 16-token pages and
 * splits the keys in two (the reduce part merges them).
 *
 * Layouts: Q [B][H][S][D], K/V [B][Hkv][S][D], O [B][H][S][D]; the decode
 * cache [pages][16][Hkv][D] with a block table [B][pages per sequence].
 */
#include "aule.h"
#include "aule_reference.h"
/* The typed launchers of the generated headers, one per family. */
#include "example_decode.append.portable.h"
#include "example_decode.portable.h"
#include "example_prefill.portable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef DOWNSTREAM_SPEC
#define DOWNSTREAM_SPEC "model.lua"
#endif

enum { B = 2, HKV = 2 };

static uint64_t rng = 12345;

static float uniform(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* n values in [-1, 1) rounded to f16, as floats and as f16 bits. */
static void random_f16(float *f, uint16_t *bits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        f[i] = aule_round_to_dtype(uniform(), AUEGEN_DTYPE_F16);
    aule_pack_dtype(f, bits, n, AUEGEN_DTYPE_F16);
}

static aule_tensor *tensor(aule_context *ctx, aule_dtype dt, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    aule_tensor_desc desc = {.dtype = dt, .ndim = ndim, .shape = {a, b, c, d}};
    aule_tensor *t = NULL;
    if (aule_tensor_create(ctx, &desc, &t) != AULE_OK) {
        fprintf(stderr, "downstream: aule_tensor_create: %s\n", aule_context_last_error(ctx));
        exit(1);
    }
    return t;
}

static int checked(aule_context *ctx, aule_status st, const char *what)
{
    if (st != AULE_OK)
        fprintf(stderr, "downstream: %s: %s: %s\n", what, aule_status_string(st), aule_context_last_error(ctx));
    return st == AULE_OK;
}

/* Prints one line and returns whether err is within the rule's bound. */
static int report(const char *what, double err, double err_naive)
{
    double bound;
    int pass = aule_error_within_bound(err, err_naive, &bound);
    printf("%-40s max|ref-got| %.3e  bound %.3e  %s\n", what, err, bound, pass ? "pass" : "FAIL");
    return pass;
}

/* The float64 reference and the naive fp32 baseline (P rounded to f16, O to f16) of one problem. */
static void references(const aule_ref_problem *p, const float *q, const float *k, const float *v, double *ref,
                       float *naive)
{
    aule_ref_counts n;
    aule_ref_problem_counts(p, &n);
    double *qd = malloc(n.q * sizeof *qd), *kd = malloc(n.k * sizeof *kd), *vd = malloc(n.v * sizeof *vd);
    if (!qd || !kd || !vd)
        exit(1);
    for (size_t i = 0; i < n.q; i++)
        qd[i] = q[i];
    for (size_t i = 0; i < n.k; i++)
        kd[i] = k[i];
    for (size_t i = 0; i < n.v; i++)
        vd[i] = v[i];
    aule_ref_problem np = *p;
    np.p_dtype = AUEGEN_DTYPE_F16;
    if (aule_reference_forward_f64(p, qd, kd, vd, ref, NULL) != 0 || aule_reference_forward_f32(&np, q, k, v, naive, NULL) != 0)
        exit(1);
    aule_round_array_to_dtype(naive, n.o, AUEGEN_DTYPE_F16);
    free(qd);
    free(kd);
    free(vd);
}

static int run_prefill(aule_context *ctx, const auegen_spec *spec)
{
    const int d = spec->head_dim, h = HKV * spec->gqa, s = 77;
    size_t nq = (size_t)B * h * s * d, nk = (size_t)B * HKV * s * d;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *got = malloc(nq * 4), *naive = malloc(nq * 4);
    uint16_t *bits = malloc(nq * 2), *bits2 = malloc(nq * 2);
    double *ref = malloc(nq * 8);
    if (!q || !k || !v || !got || !naive || !bits || !bits2 || !ref)
        return 0;
    aule_tensor *tq = tensor(ctx, AULE_DTYPE_F16, 4, B, h, s, d), *tk = tensor(ctx, AULE_DTYPE_F16, 4, B, HKV, s, d),
                *tv = tensor(ctx, AULE_DTYPE_F16, 4, B, HKV, s, d), *to = tensor(ctx, AULE_DTYPE_F16, 4, B, h, s, d);
    random_f16(q, bits, nq);
    aule_tensor_write(tq, bits, nq * 2);
    random_f16(k, bits, nk);
    aule_tensor_write(tk, bits, nk * 2);
    random_f16(v, bits, nk);
    aule_tensor_write(tv, bits, nk * 2);

    aule_forward_args args = {.q = tq, .k = tk, .v = tv, .o = to};
    int ok = checked(ctx, aule_attention_forward(ctx, spec, &args), "aule_attention_forward") &&
             checked(ctx, aule_tensor_read(to, bits, nq * 2), "aule_tensor_read");
    /* The same kernel through the typed launcher of its generated header. */
    ok = ok && checked(ctx, aule_example_prefill_portable(ctx, &args), "aule_example_prefill_portable") &&
         checked(ctx, aule_tensor_read(to, bits2, nq * 2), "aule_tensor_read");
    if (ok) {
        aule_unpack_dtype(bits, got, nq, AUEGEN_DTYPE_F16);
        aule_ref_problem p = {.batch = B, .heads = h, .kv_heads = HKV, .seq_q = s, .seq_k = s, .head_dim = d,
                              .window_left = spec->window_left, .window_right = spec->window_right,
                              .scale = 1.0 / sqrt((double)d)};
        references(&p, q, k, v, ref, naive);
        char what[80];
        snprintf(what, sizeof what, "prefill %s by spec (S %d)", spec->name, s);
        ok = report(what, aule_max_abs_diff(ref, got, nq), aule_max_abs_diff(ref, naive, nq));
        aule_unpack_dtype(bits2, got, nq, AUEGEN_DTYPE_F16);
        snprintf(what, sizeof what, "prefill %s typed launcher", spec->name);
        ok = report(what, aule_max_abs_diff(ref, got, nq), aule_max_abs_diff(ref, naive, nq)) && ok;
    }
    aule_tensor *all[] = {tq, tk, tv, to};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
    free(q), free(k), free(v), free(got), free(naive), free(bits), free(bits2), free(ref);
    return ok;
}

/* Appends each sequence's tokens into a paged cache, then decodes one new query token per
 * sequence: by spec, or (typed) through the generated headers' launchers. */
static int run_decode(aule_context *ctx, const auegen_spec *spec, int typed)
{
    enum { N = 45, MAXP = 3, PAGES = B * MAXP + 1 };
    const int d = spec->head_dim, h = HKV * spec->gqa, page = spec->page_size;
    const int32_t table[B * MAXP] = {4, 0, 6, 2, 5, 1}, at[B] = {0, 0}, len[B] = {N, 23};
    size_t nkv = (size_t)B * HKV * N * d, nq = (size_t)B * h * d;
    float *k = malloc(nkv * 4), *v = malloc(nkv * 4), *q = malloc(nq * 4), *got = malloc(nq * 4);
    uint16_t *bits = malloc(nkv * 2);
    if (!k || !v || !q || !got || !bits)
        return 0;
    aule_tensor *kn = tensor(ctx, AULE_DTYPE_F16, 4, B, HKV, N, d), *vn = tensor(ctx, AULE_DTYPE_F16, 4, B, HKV, N, d),
                *kc = tensor(ctx, AULE_DTYPE_F16, 4, PAGES, page, HKV, d),
                *vc = tensor(ctx, AULE_DTYPE_F16, 4, PAGES, page, HKV, d), *tq = tensor(ctx, AULE_DTYPE_F16, 4, B, h, 1, d),
                *to = tensor(ctx, AULE_DTYPE_F16, 4, B, h, 1, d), *bt = tensor(ctx, AULE_DTYPE_I32, 2, B, MAXP, 0, 0),
                *pos = tensor(ctx, AULE_DTYPE_I32, 1, B, 0, 0, 0), *lens = tensor(ctx, AULE_DTYPE_I32, 1, B, 0, 0, 0);
    random_f16(k, bits, nkv);
    aule_tensor_write(kn, bits, nkv * 2);
    random_f16(v, bits, nkv);
    aule_tensor_write(vn, bits, nkv * 2);
    random_f16(q, bits, nq);
    aule_tensor_write(tq, bits, nq * 2);
    aule_tensor_write(bt, table, sizeof table);
    aule_tensor_write(pos, at, sizeof at);
    aule_tensor_write(lens, len, sizeof len);

    aule_append_args app = {.k_new = kn, .v_new = vn, .k_cache = kc, .v_cache = vc, .block_table = bt, .positions = pos};
    aule_decode_args dec = {.q = tq, .k_cache = kc, .v_cache = vc, .block_table = bt, .seq_lens = lens, .o = to,
                            .num_splits = 2};
    int ok = typed ? checked(ctx, aule_example_decode_append_portable(ctx, &app), "aule_example_decode_append_portable") &&
                         checked(ctx, aule_example_decode_portable(ctx, &dec), "aule_example_decode_portable")
                   : checked(ctx, aule_kv_append(ctx, spec, &app), "aule_kv_append") &&
                         checked(ctx, aule_attention_decode(ctx, spec, &dec), "aule_attention_decode");
    ok = ok && checked(ctx, aule_tensor_read(to, bits, nq * 2), "aule_tensor_read");
    if (ok) {
        aule_unpack_dtype(bits, got, nq, AUEGEN_DTYPE_F16);
        double err = 0, err_naive = 0;
        for (int b = 0; b < B; b++) {
            /* Sequence b's first len[b] tokens, contiguous. */
            size_t n = (size_t)HKV * len[b] * d;
            float *ks = malloc(n * 4), *vs = malloc(n * 4), naive[4 * 48];
            double ref[4 * 48];
            if (!ks || !vs || (size_t)h * d > sizeof naive / sizeof *naive)
                return 0;
            for (int x = 0; x < HKV; x++)
                for (int j = 0; j < len[b]; j++) {
                    size_t src = (((size_t)b * HKV + x) * N + j) * d, dst = ((size_t)x * len[b] + j) * d;
                    memcpy(ks + dst, k + src, (size_t)d * 4);
                    memcpy(vs + dst, v + src, (size_t)d * 4);
                }
            aule_ref_problem p = {.batch = 1, .heads = h, .kv_heads = HKV, .seq_q = 1, .seq_k = len[b], .head_dim = d,
                                  .window_left = spec->window_left, .window_right = spec->window_right,
                                  .scale = 1.0 / sqrt((double)d)};
            references(&p, q + (size_t)b * h * d, ks, vs, ref, naive);
            double e1 = aule_max_abs_diff(ref, got + (size_t)b * h * d, (size_t)h * d);
            double e2 = aule_max_abs_diff(ref, naive, (size_t)h * d);
            err = e1 > err ? e1 : err;
            err_naive = e2 > err_naive ? e2 : err_naive;
            free(ks);
            free(vs);
        }
        char what[80];
        snprintf(what, sizeof what, "decode %s %s", spec->name, typed ? "typed launchers" : "by spec");
        ok = report(what, err, err_naive);
    }
    aule_tensor *all[] = {kn, vn, kc, vc, tq, to, bt, pos, lens};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        aule_tensor_destroy(all[i]);
    free(k), free(v), free(q), free(got), free(bits);
    return ok;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : DOWNSTREAM_SPEC;
    auegen_spec_file *file = NULL;
    if (auegen_spec_file_load(path, NULL, &file) != AUEGEN_OK) {
        fprintf(stderr, "downstream: cannot load %s\n", path);
        auegen_spec_file_destroy(file);
        return 1;
    }
    const auegen_spec *prefill = auegen_spec_file_find(file, "example_prefill");
    const auegen_spec *decode = auegen_spec_file_find(file, "example_decode");
    /* Only the kernels linked in: JIT and the disk cache off. */
    aule_context_desc desc = {.disable_jit = true, .disable_disk_cache = true};
    aule_context *ctx = NULL;
    if (!prefill || !decode || aule_context_create(&desc, &ctx) != AULE_OK) {
        fprintf(stderr, "downstream: %s\n", ctx || !prefill || !decode ? "spec without the example's kernels"
                                                                       : aule_context_last_error(NULL));
        auegen_spec_file_destroy(file);
        return 1;
    }
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    printf("device: %s (JIT off, disk cache off)\n", info.name);
    /* On the CPU the program's specs run the kernels generated for its CPU profiles
     * (cpu-host in CMakeLists.txt) where it has them, else libaule's generic one:
     * the first lookup of each says which. */
    aule_kernel_report rp = {0}, rd = {0};
    if (info.backend == AULE_BACKEND_CPU)
        aule_kernel_prepare(ctx, prefill, &rp), aule_kernel_prepare(ctx, decode, &rd);
    int ok = run_prefill(ctx, prefill);
    ok = run_decode(ctx, decode, 0) && ok;
    ok = run_decode(ctx, decode, 1) && ok;
    aule_context_stats st;
    aule_context_get_stats(ctx, &st);
    printf("kernels: %llu linked in, %llu compiled\n", (unsigned long long)st.builtin_hits,
           (unsigned long long)st.jit_compiles);
    ok = ok && st.jit_compiles == 0 && st.builtin_hits >= 4;   /* prefill, decode, its merge, append, ... */
    if (info.backend == AULE_BACKEND_CPU)
        printf("cpu kernels (%s): %s %s, %s %s\n", info.isa, prefill->name, aule_kernel_source_name(rp.source),
               decode->name, aule_kernel_source_name(rd.source));
    printf("downstream: %s\n", ok ? "pass" : "FAIL");
    aule_context_destroy(ctx);
    auegen_spec_file_destroy(file);
    return ok ? 0 : 1;
}
