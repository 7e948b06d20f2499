/* SPDX-License-Identifier: MIT */
/*
 * cpu.c - the native CPU backend against this machine's own ceilings, in one run:
 *   - the fp32 FMA peak of the CPU's widest vectors on the backend's threads,
 *   - the memory bandwidth of a STREAM-style triad (a = b + s*c, 3 x 8 bytes an element),
 *   - prefill D=128 (B=1, H=Hkv=8, Sq=Sk=S), causal and not, f16 and bf16: GFLOP/s as
 *     FlashAttention counts them (4*B*H*Sq*Sk*D, halved when causal) and the fraction of
 *     the FMA peak,
 *   - training D=128 (B=1, H=Hkv=8, S=2048), bf16, causal and not: forward + backward in
 *     GFLOP/s counted as 3.5 forwards (FlashAttention's count) and the fraction of the peak,
 *   - decode D=128, 32 query / 8 KV heads, one token against a contiguous f16 cache of
 *     KV tokens and against a paged one (page_size 16, pages out of order): GB/s of K and
 *     V read and the fraction of the triad bandwidth,
 *   - generated against generic (--only ab, or after the rest): the llama3 specs that
 *     libaule links generated CPU kernels for (specs/llama3.lua: prefill f16 and bf16,
 *     H=32 Hkv=8 D=128 causal; decode f16 over a paged cache), each timed on a context
 *     that runs the generated kernel and on one that runs the generic kernel
 *     (disable_builtin), interleaved call by call; the range of several rounds.
 *
 *   bench_cpu [--quick] [--markdown] [--only prefill|train|decode|ab]
 *   (AULE_DEVICE=cpu is implied; AULE_CPU_THREADS picks the threads; the ceilings always run)
 *
 * Every figure is the best of a few runs. On a shared machine the ceilings move
 * during a run, so each row is divided by its own ceiling: the best of one measured
 * just before and one just after it (printed in the row); the header's figures are
 * those of the run's start. Compare the ratios, not the absolute figures across runs.
 */
#include "aule.h"
#include "aule_reference.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- ceilings ---------------------------------------------------------------------------- */

enum { CHAINS = 16 };              /* independent FMA chains: enough to cover the FMA latency */

typedef struct peak_job {
    long rounds;
    int width;                     /* 16: AVX-512, 8: AVX2, 4: portable */
    float sink;
} peak_job;

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float chains_512(long rounds)
{
    __m512 acc[CHAINS];
    const __m512 mul = _mm512_set1_ps(0.9999999f), add = _mm512_set1_ps(1e-8f);
    for (int i = 0; i < CHAINS; i++)
        acc[i] = _mm512_set1_ps(1.0f + (float)i);
    for (long r = 0; r < rounds; r++)
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++)
        s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float chains_256(long rounds)
{
    __m256 acc[CHAINS / 2];        /* 16 ymm registers in all */
    const __m256 mul = _mm256_set1_ps(0.9999999f), add = _mm256_set1_ps(1e-8f);
    for (int i = 0; i < CHAINS / 2; i++)
        acc[i] = _mm256_set1_ps(1.0f + (float)i);
    for (long r = 0; r < 2 * rounds; r++)
#pragma GCC unroll 8
        for (int i = 0; i < CHAINS / 2; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
    float out[8], s = 0.0f;
    for (int i = 1; i < CHAINS / 2; i++)
        acc[0] = _mm256_add_ps(acc[0], acc[i]);
    _mm256_storeu_ps(out, acc[0]);
    for (int i = 0; i < 8; i++)
        s += out[i];
    return s;
}
#endif

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
#if defined(__x86_64__)
    if (j->width == 16)
        j->sink = chains_512(j->rounds);
    else
        j->sink = chains_256(j->rounds);
#endif
    return NULL;
}

/* GFLOP/s of threads running FMA chains of the given width (2 FLOPs per lane per FMA). */
static double fma_peak(int threads, int width)
{
    long rounds = 40000000;
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        pthread_t t[256];
        peak_job jobs[256];
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            jobs[i] = (peak_job){.rounds = rounds, .width = width};
            pthread_create(&t[i], NULL, peak_thread, &jobs[i]);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        double dt = now_s() - t0;
        /* 512-bit: CHAINS FMAs of 16 lanes a round; 256-bit: CHAINS/2 of 8 lanes, twice the rounds. */
        double per_round = width == 16 ? CHAINS * 16 * 2 : CHAINS * 8 * 2;
        double flops = (double)threads * (double)rounds * per_round;
        if (flops / dt / 1e9 > best)
            best = flops / dt / 1e9;
    }
    return best;
}

typedef struct triad_job {
    double *a, *b, *c;
    size_t lo, hi;
} triad_job;

static void *triad_thread(void *arg)
{
    triad_job *j = arg;
    for (size_t i = j->lo; i < j->hi; i++)
        j->a[i] = j->b[i] + 3.0 * j->c[i];
    return NULL;
}

static void *first_touch(void *arg)
{
    triad_job *j = arg;
    for (size_t i = j->lo; i < j->hi; i++)
        j->a[i] = j->b[i] = j->c[i] = 1.0;
    return NULL;
}

/* GB/s of a triad over three arrays of n doubles, each thread its own slice. */
static double triad_bandwidth(int threads, size_t n)
{
    double *a = aligned_alloc(64, n * 8), *b = aligned_alloc(64, n * 8), *c = aligned_alloc(64, n * 8);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0.0;
    }
    pthread_t t[256];
    triad_job jobs[256];
    for (int i = 0; i < threads; i++) {
        jobs[i] = (triad_job){a, b, c, n * (size_t)i / (size_t)threads, n * (size_t)(i + 1) / (size_t)threads};
        pthread_create(&t[i], NULL, first_touch, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double best = 0.0;
    for (int rep = 0; rep < 8; rep++) {
        double t0 = now_s();
        for (int i = 0; i < threads; i++)
            pthread_create(&t[i], NULL, triad_thread, &jobs[i]);
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        double gbs = 3.0 * 8.0 * (double)n / (now_s() - t0) / 1e9;
        best = gbs > best ? gbs : best;
    }
    free(a), free(b), free(c);
    return best;
}

/* --- attention ---------------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static aule_tensor *random_tensor(aule_context *ctx, aule_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d)
{
    aule_tensor_desc desc = {.dtype = dt, .ndim = 4, .shape = {a, b, c, d}};
    aule_tensor *t = NULL;
    if (aule_tensor_create(ctx, &desc, &t) != AULE_OK)
        return NULL;
    size_t n = (size_t)(a * b * c * d);
    uint16_t *h = malloc(n * 2);
    if (!h) {
        aule_tensor_destroy(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        h[i] = dt == AULE_DTYPE_BF16 ? aule_f32_to_bf16(uniform()) : aule_f32_to_f16(uniform());
    aule_tensor_write(t, h, n * 2);
    free(h);
    return t;
}

static auegen_spec make_spec_paged(auegen_kind kind, auegen_dtype dt, bool causal, int gqa, int page_size)
{
    auegen_spec_desc d = {.name = "bench", .kind = kind, .head_dim = 128, .gqa = gqa, .dtype = dt, .causal = causal,
                          .page_size = page_size};
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_validate(&d, &s, &diag) != AUEGEN_OK) {
        fprintf(stderr, "bench_cpu: bad spec: %s\n", diag.errors[0].message);
        exit(1);
    }
    return s;
}

static auegen_spec make_spec(auegen_kind kind, auegen_dtype dt, bool causal, int gqa)
{
    return make_spec_paged(kind, dt, causal, gqa, 0);
}

/* Best milliseconds of reps forward calls. */
static double prefill_ms(aule_context *ctx, auegen_dtype dt, bool causal, int s, int reps)
{
    aule_dtype adt = dt == AUEGEN_DTYPE_BF16 ? AULE_DTYPE_BF16 : AULE_DTYPE_F16;
    auegen_spec spec = make_spec(AUEGEN_KIND_FORWARD, dt, causal, 1);
    aule_tensor *q = random_tensor(ctx, adt, 1, 8, s, 128), *k = random_tensor(ctx, adt, 1, 8, s, 128);
    aule_tensor *v = random_tensor(ctx, adt, 1, 8, s, 128), *o = random_tensor(ctx, adt, 1, 8, s, 128);
    double best = INFINITY;
    if (q && k && v && o) {
        aule_forward_args args = {.q = q, .k = k, .v = v, .o = o};
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (aule_attention_forward(ctx, &spec, &args) != AULE_OK) {
                fprintf(stderr, "bench_cpu: %s\n", aule_context_last_error(ctx));
                break;
            }
            double ms = (now_s() - t0) * 1e3;
            best = ms < best ? ms : best;
        }
    }
    aule_tensor_destroy(q), aule_tensor_destroy(k), aule_tensor_destroy(v), aule_tensor_destroy(o);
    return best;
}

/* Best milliseconds of reps training steps: the forward (with its LSE) and the backward. */
static double train_ms(aule_context *ctx, auegen_dtype dt, bool causal, int s, int reps)
{
    aule_dtype adt = dt == AUEGEN_DTYPE_BF16 ? AULE_DTYPE_BF16 : AULE_DTYPE_F16;
    auegen_spec spec = make_spec(AUEGEN_KIND_FORWARD, dt, causal, 1);
    spec.backward = true;
    aule_tensor *t[9];
    for (int i = 0; i < 9; i++)
        t[i] = random_tensor(ctx, adt, 1, 8, s, 128);      /* q k v o dout dq dk dv, and one spare */
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {1, 8, s}};
    aule_tensor *lse = NULL;
    double best = INFINITY;
    bool ok = aule_tensor_create(ctx, &ld, &lse) == AULE_OK;
    for (int i = 0; i < 9; i++)
        ok = ok && t[i];
    if (ok) {
        aule_forward_args fa = {.q = t[0], .k = t[1], .v = t[2], .o = t[3], .lse = lse};
        aule_backward_args ba = {.q = t[0], .k = t[1], .v = t[2], .o = t[3], .dout = t[4], .lse = lse,
                                 .dq = t[5], .dk = t[6], .dv = t[7]};
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (aule_attention_forward(ctx, &spec, &fa) != AULE_OK || aule_attention_backward(ctx, &spec, &ba) != AULE_OK) {
                fprintf(stderr, "bench_cpu: %s\n", aule_context_last_error(ctx));
                break;
            }
            double ms = (now_s() - t0) * 1e3;
            best = ms < best ? ms : best;
        }
    }
    for (int i = 0; i < 9; i++)
        aule_tensor_destroy(t[i]);
    aule_tensor_destroy(lse);
    return best;
}

typedef struct ab_case ab_case;
static double paged_decode_ms(aule_context *ctx, int kv, int reps);

static double decode_ms(aule_context *ctx, int kv, int reps)
{
    auegen_spec spec = make_spec(AUEGEN_KIND_DECODE, AUEGEN_DTYPE_F16, true, 4);
    aule_tensor *q = random_tensor(ctx, AULE_DTYPE_F16, 1, 32, 1, 128), *o = random_tensor(ctx, AULE_DTYPE_F16, 1, 32, 1, 128);
    aule_tensor *kc = random_tensor(ctx, AULE_DTYPE_F16, 1, 8, kv, 128), *vc = random_tensor(ctx, AULE_DTYPE_F16, 1, 8, kv, 128);
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {1}};
    aule_tensor *lens = NULL;
    double best = INFINITY;
    if (q && o && kc && vc && aule_tensor_create(ctx, &ld, &lens) == AULE_OK) {
        int32_t n = kv;
        aule_tensor_write(lens, &n, sizeof n);
        aule_decode_args args = {.q = q, .k_cache = kc, .v_cache = vc, .seq_lens = lens, .o = o};
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            if (aule_attention_decode(ctx, &spec, &args) != AULE_OK) {
                fprintf(stderr, "bench_cpu: %s\n", aule_context_last_error(ctx));
                break;
            }
            double ms = (now_s() - t0) * 1e3;
            best = ms < best ? ms : best;
        }
    }
    aule_tensor_destroy(q), aule_tensor_destroy(o), aule_tensor_destroy(kc), aule_tensor_destroy(vc);
    aule_tensor_destroy(lens);
    return best;
}

/* --- generated against generic -------------------------------------------------------------- */

/* One llama3 problem on a context: prefill (B=1, H=32, Hkv=8, Sq=Sk=s) or paged decode (B=1, one
 * token, 32 query heads, kv tokens in pages of 16). */
struct ab_case {
    aule_tensor *q, *k, *v, *o, *table, *lens;
    auegen_spec spec;
    bool decode;
};

static void ab_free(ab_case *c)
{
    aule_tensor_destroy(c->q), aule_tensor_destroy(c->k), aule_tensor_destroy(c->v), aule_tensor_destroy(c->o);
    aule_tensor_destroy(c->table), aule_tensor_destroy(c->lens);
}

static bool ab_make(aule_context *ctx, ab_case *c, bool decode, auegen_dtype dt, int s)
{
    memset(c, 0, sizeof *c);
    aule_dtype adt = dt == AUEGEN_DTYPE_BF16 ? AULE_DTYPE_BF16 : AULE_DTYPE_F16;
    c->decode = decode;
    if (!decode) {
        c->spec = make_spec(AUEGEN_KIND_FORWARD, dt, true, 4);
        c->q = random_tensor(ctx, adt, 1, 32, s, 128), c->o = random_tensor(ctx, adt, 1, 32, s, 128);
        c->k = random_tensor(ctx, adt, 1, 8, s, 128), c->v = random_tensor(ctx, adt, 1, 8, s, 128);
        return c->q && c->o && c->k && c->v;
    }
    c->spec = make_spec_paged(AUEGEN_KIND_DECODE, dt, true, 4, 16);
    int pages = (s + 15) / 16;
    c->q = random_tensor(ctx, adt, 1, 32, 1, 128), c->o = random_tensor(ctx, adt, 1, 32, 1, 128);
    c->k = random_tensor(ctx, adt, pages, 16, 8, 128), c->v = random_tensor(ctx, adt, pages, 16, 8, 128);
    aule_tensor_desc td = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {1, pages}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {1}};
    if (!c->q || !c->o || !c->k || !c->v || aule_tensor_create(ctx, &td, &c->table) != AULE_OK
        || aule_tensor_create(ctx, &ld, &c->lens) != AULE_OK)
        return false;
    int32_t *t = malloc((size_t)pages * 4), n = s;
    for (int i = 0; t && i < pages; i++)
        t[i] = (int32_t)(((int64_t)i * 7) % pages);      /* pages out of order (a power of two: 7 is coprime) */
    bool ok = t && aule_tensor_write(c->table, t, (size_t)pages * 4) == AULE_OK
              && aule_tensor_write(c->lens, &n, sizeof n) == AULE_OK;
    free(t);
    return ok;
}

/* Milliseconds of one call. */
static double ab_run(aule_context *ctx, ab_case *c)
{
    double t0 = now_s();
    aule_status st;
    if (c->decode) {
        aule_decode_args args = {.q = c->q, .k_cache = c->k, .v_cache = c->v, .block_table = c->table,
                                 .seq_lens = c->lens, .o = c->o};
        st = aule_attention_decode(ctx, &c->spec, &args);
    } else {
        aule_forward_args args = {.q = c->q, .k = c->k, .v = c->v, .o = c->o};
        st = aule_attention_forward(ctx, &c->spec, &args);
    }
    if (st != AULE_OK) {
        fprintf(stderr, "bench_cpu: %s\n", aule_context_last_error(ctx));
        return INFINITY;
    }
    return (now_s() - t0) * 1e3;
}

/* Best milliseconds of a decode over a paged f16 cache of kv tokens (ab_make's case). */
static double paged_decode_ms(aule_context *ctx, int kv, int reps)
{
    ab_case c;
    double best = INFINITY;
    if (ab_make(ctx, &c, true, AUEGEN_DTYPE_F16, kv))
        for (int r = 0; r < reps; r++) {
            double ms = ab_run(ctx, &c);
            best = ms < best ? ms : best;
        }
    ab_free(&c);
    return best;
}

static void generated_vs_generic(aule_context *gen, bool quick, bool markdown, int threads, int width)
{
    aule_context_desc cd = {.device = "cpu", .disable_builtin = true};
    aule_context *plain = NULL;
    if (aule_context_create(&cd, &plain) != AULE_OK) {
        fprintf(stderr, "bench_cpu: %s\n", aule_context_last_error(NULL));
        return;
    }
    printf("\n# generated (specs/llama3.lua's kernels for this instruction set) against the generic kernel:\n"
           "# each call alternates between the two contexts; best and worst of %d rounds (each the best of %d\n"
           "# calls); x: generic / generated, the median round (and the range of rounds); of peak: the best\n"
           "# generated round against the FMA peak\n",
           quick ? 3 : 7, quick ? 2 : 3);
    if (markdown)
        printf("| llama3 case | generated ms (best-worst round) | generic ms (best-worst round) | "
               "generic / generated (per round) | generated of peak |\n|---|---|---|---|---|\n");
    struct { const char *name; bool decode; auegen_dtype dt; int s; } cases[] = {
        {"prefill f16 causal H32/8 S", false, AUEGEN_DTYPE_F16, quick ? 512 : 2048},
        {"prefill bf16 causal H32/8 S", false, AUEGEN_DTYPE_BF16, quick ? 512 : 2048},
        {"decode f16 paged 32q/8kv KV", true, AUEGEN_DTYPE_F16, quick ? 8192 : 32768},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ab_case a, b;
        if (!ab_make(gen, &a, cases[i].decode, cases[i].dt, cases[i].s) ||
            !ab_make(plain, &b, cases[i].decode, cases[i].dt, cases[i].s)) {
            fprintf(stderr, "bench_cpu: out of memory\n");
            ab_free(&a), ab_free(&b);
            continue;
        }
        aule_kernel_report ra = {0}, rb = {0};
        aule_kernel_prepare(gen, &a.spec, &ra);
        aule_kernel_prepare(plain, &b.spec, &rb);
        ab_run(gen, &a), ab_run(plain, &b);                 /* warm up */
        int rounds = quick ? 3 : 7, calls = quick ? 2 : 3;
        double ga_lo = INFINITY, ga_hi = 0, gb_lo = INFINITY, gb_hi = 0, x_lo = INFINITY, x_hi = 0, x[8];
        double peak = !cases[i].decode && width >= 8 ? fma_peak(threads, width) : 0.0;
        for (int r = 0; r < rounds; r++) {
            double ba = INFINITY, bb = INFINITY;            /* each round: the best of its calls */
            for (int k = 0; k < calls; k++) {
                double ta = ab_run(gen, &a), tb = ab_run(plain, &b);
                ba = ta < ba ? ta : ba;
                bb = tb < bb ? tb : bb;
            }
            ga_lo = ba < ga_lo ? ba : ga_lo, ga_hi = ba > ga_hi ? ba : ga_hi;
            gb_lo = bb < gb_lo ? bb : gb_lo, gb_hi = bb > gb_hi ? bb : gb_hi;
            x_lo = bb / ba < x_lo ? bb / ba : x_lo, x_hi = bb / ba > x_hi ? bb / ba : x_hi;   /* per round */
            x[r] = bb / ba;
        }
        for (int r = 1; r < rounds; r++)              /* the median round's ratio */
            for (int q = r; q > 0 && x[q] < x[q - 1]; q--) {
                double t = x[q];
                x[q] = x[q - 1], x[q - 1] = t;
            }
        double x_med = x[rounds / 2];
        double peak2 = !cases[i].decode && width >= 8 ? fma_peak(threads, width) : 0.0;
        peak = peak2 > peak ? peak2 : peak;           /* the ceiling: the best of before and after */
        double flops = cases[i].decode ? 0.0 : 4.0 * 32 * (double)cases[i].s * cases[i].s * 128 / 2;
        double of_peak = peak > 0 ? flops / (ga_lo * 1e-3) / 1e9 / peak : 0.0;
        char ofp[32] = "-";
        if (peak > 0)
            snprintf(ofp, sizeof ofp, "%.2f", of_peak);
        if (markdown)
            printf("| %s%d (%s / %s) | %.2f-%.2f | %.2f-%.2f | %.2f (%.2f-%.2f) | %s |\n", cases[i].name, cases[i].s,
                   aule_kernel_source_name(ra.source), aule_kernel_source_name(rb.source), ga_lo, ga_hi, gb_lo, gb_hi,
                   x_med, x_lo, x_hi, ofp);
        else {
            char name[64];
            snprintf(name, sizeof name, "%s%d", cases[i].name, cases[i].s);
            printf("%-34s %-9s %8.2f-%-8.2f %-9s %8.2f-%-8.2f  x%.2f (%.2f-%.2f)  of peak %s\n", name,
                   aule_kernel_source_name(ra.source), ga_lo, ga_hi, aule_kernel_source_name(rb.source), gb_lo, gb_hi,
                   x_med, x_lo, x_hi, ofp);
        }
        fflush(stdout);
        ab_free(&a), ab_free(&b);
    }
    aule_context_destroy(plain);
}

int main(int argc, char **argv)
{
    bool quick = false, markdown = false, prefill = true, train = true, decode = true, ab = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && strcmp(argv[i + 1], "prefill") == 0)
            train = decode = ab = false, i++;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && strcmp(argv[i + 1], "train") == 0)
            prefill = decode = ab = false, i++;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && strcmp(argv[i + 1], "decode") == 0)
            prefill = train = ab = false, i++;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc && strcmp(argv[i + 1], "ab") == 0)
            prefill = train = decode = false, i++;
        else if (strcmp(argv[i], "--markdown") == 0)
            markdown = true;
        else {
            fprintf(stderr, "usage: bench_cpu [--quick] [--markdown] [--only prefill|train|decode|ab]\n");
            return 2;
        }
    }
    aule_context_desc cd = {.device = "cpu"};
    aule_context *ctx = NULL;
    if (aule_context_create(&cd, &ctx) != AULE_OK) {
        fprintf(stderr, "bench_cpu: %s\n", aule_context_last_error(NULL));
        return 1;
    }
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    int threads = info.threads;
    int width = 4;
#if defined(__x86_64__)
    width = __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 8 : 4;
#endif
    double peak = width >= 8 ? fma_peak(threads, width) : 0.0;
    double bw = triad_bandwidth(threads, quick ? (size_t)1 << 23 : (size_t)1 << 25);
    printf("# %s, %s kernels, %d threads\n", info.name, info.isa, threads);
    printf("# fp32 FMA peak (%d-lane FMA, %d threads): %.1f GFLOP/s; triad bandwidth: %.1f GB/s\n", width, threads,
           peak, bw);
    if (markdown && (prefill || decode))
        printf("| aule CPU (%s) | shape | ms | GFLOP/s or GB/s | ceiling | of ceiling |\n|---|---|---|---|---|---|\n",
               info.isa);
    else if (prefill || decode)
        printf("%-34s %10s %10s %10s %8s\n", "case", "ms", "rate", "ceiling", "of it");
    static const int seqs[] = {2048, 8192};
    for (int si = 0; prefill && si < (quick ? 1 : 2); si++)
        for (int dti = 0; dti < 2; dti++)
            for (int causal = 0; causal < 2; causal++) {
                int s = quick ? 512 : seqs[si];
                auegen_dtype dt = dti ? AUEGEN_DTYPE_BF16 : AUEGEN_DTYPE_F16;
                double pk = width >= 8 ? fma_peak(threads, width) : 0.0;
                double ms = prefill_ms(ctx, dt, causal, s, s >= 8192 ? 2 : 4);
                double pk2 = width >= 8 ? fma_peak(threads, width) : 0.0;
                pk = pk2 > pk ? pk2 : pk;
                double flops = 4.0 * 8 * (double)s * (double)s * 128 / (causal ? 2 : 1);
                double gf = flops / (ms * 1e-3) / 1e9;
                char name[96];
                snprintf(name, sizeof name, "prefill %s D128 H8 S%d%s", dti ? "bf16" : "f16", s, causal ? " causal" : "");
                if (markdown)
                    printf("| prefill %s%s | D128 H8 S%d | %.1f | %.1f GFLOP/s | %.0f GFLOP/s | %.2f |\n",
                           dti ? "bf16" : "f16", causal ? " causal" : "", s, ms, gf, pk, pk > 0 ? gf / pk : 0.0);
                else
                    printf("%-34s %10.2f %7.1f GF %7.0f GF %8.2f\n", name, ms, gf, pk, pk > 0 ? gf / pk : 0.0);
                fflush(stdout);
            }
    /* Training: forward + backward, counted as 3.5 forwards (FlashAttention's count: the backward is 2.5). */
    for (int causal = 0; train && causal < 2; causal++) {
        int s = quick ? 512 : 2048;
        double pk = width >= 8 ? fma_peak(threads, width) : 0.0;
        double ms = train_ms(ctx, AUEGEN_DTYPE_BF16, causal, s, 3);
        double pk2 = width >= 8 ? fma_peak(threads, width) : 0.0;
        pk = pk2 > pk ? pk2 : pk;
        double flops = 3.5 * 4.0 * 8 * (double)s * (double)s * 128 / (causal ? 2 : 1);
        double gf = flops / (ms * 1e-3) / 1e9;
        char name[96];
        snprintf(name, sizeof name, "fwd+bwd bf16 D128 H8 S%d%s", s, causal ? " causal" : "");
        if (markdown)
            printf("| fwd+bwd bf16%s | D128 H8 S%d | %.1f | %.1f GFLOP/s | %.0f GFLOP/s | %.2f |\n", causal ? " causal" : "",
                   s, ms, gf, pk, pk > 0 ? gf / pk : 0.0);
        else
            printf("%-34s %10.2f %7.1f GF %7.0f GF %8.2f\n", name, ms, gf, pk, pk > 0 ? gf / pk : 0.0);
        fflush(stdout);
    }
    static const int kvs[] = {8192, 32768, 131072};
    for (int ki = 0; decode && ki < (quick ? 2 : 6); ki++) {
        int kv = kvs[ki / 2];
        bool paged = ki % 2;
        size_t tn = quick ? (size_t)1 << 23 : (size_t)1 << 25;
        double b1 = triad_bandwidth(threads, tn);
        double ms = paged ? paged_decode_ms(ctx, kv, 8) : decode_ms(ctx, kv, 8);
        double b2 = triad_bandwidth(threads, tn);
        b1 = b2 > b1 ? b2 : b1;
        double bytes = 2.0 * 8 * (double)kv * 128 * 2;
        double gbs = bytes / (ms * 1e-3) / 1e9;
        char name[96];
        snprintf(name, sizeof name, paged ? "decode f16 paged 32q/8kv KV%d" : "decode f16 D128 32q/8kv KV%d", kv);
        if (markdown)
            printf("| decode f16%s | D128 32q/8kv KV %d | %.3f | %.1f GB/s | %.1f GB/s | %.2f |\n", paged ? " paged" : "",
                   kv, ms, gbs, b1,
                   b1 > 0 ? gbs / b1 : 0.0);
        else
            printf("%-34s %10.3f %7.1f GB/s %5.1f GB/s %6.2f\n", name, ms, gbs, b1, b1 > 0 ? gbs / b1 : 0.0);
        fflush(stdout);
    }
    if (ab)
        generated_vs_generic(ctx, quick, markdown, threads, width);
    aule_context_destroy(ctx);
    return 0;
}
