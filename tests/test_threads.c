/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - many threads on one context (issue 11): 16 threads make
 * mixed calls (different specs, JIT misses racing on a cold context, tensors
 * created and destroyed, calls that must fail), and every result is compared
 * bit for bit with a single-threaded run of the same calls. Then: one
 * thread's JIT compile must not stall another thread's dispatches.
 * Built normally and under ThreadSanitizer (scripts/test.sh, build-tsan).
 *
 *   test_threads [THREADS] [ITERATIONS]
 */
#include "aule.h"
#include "test_device.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_THREADS = 64, SEQ = 13, ERROR_EVERY = 5 };

static const char spec_text[] =
    "attention { name = \"a\", head_dim = 8, dtype = \"f32\" }\n"
    "attention { name = \"b\", head_dim = 16, gqa = 2, dtype = \"f32\", causal = true }\n"
    "attention { name = \"c\", head_dim = 8, dtype = \"f32\", softcap = 30 }\n"
    "attention { name = \"d\", head_dim = 24, dtype = \"f32\", window = { left = 4, right = 2 } }\n"
    "attention { name = \"slow\", head_dim = 128, gqa = 4, dtype = \"f32\" }\n";
enum { SPECS = 4 };                 /* the first four; "slow" is for the stall test */

static auegen_spec specs[SPECS + 1];
static int threads = 16, iterations = 12;
static float *expected[MAX_THREADS * 64];   /* per (thread, iteration): O of the single-threaded run */
static atomic_int failures;

#define FAIL(...) do { printf("FAIL: " __VA_ARGS__); printf("\n"); atomic_fetch_add(&failures, 1); } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((s >> 40) & 0xffff) / 32768.0f - 1.0f;
    }
}

static aule_tensor *make(aule_context *ctx, int64_t b, int64_t h, int64_t s, int64_t d, uint64_t seed)
{
    aule_tensor_desc desc = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {b, h, s, d}};
    aule_tensor *t = NULL;
    if (aule_tensor_create(ctx, &desc, &t) != AULE_OK)
        return NULL;
    size_t n = aule_tensor_bytes(t) / sizeof(float);
    float *x = malloc(n * sizeof *x);
    if (!x || (fill(x, n, seed), aule_tensor_write(t, x, n * sizeof *x)) != AULE_OK) {
        free(x);
        aule_tensor_destroy(t);
        return NULL;
    }
    free(x);
    return t;
}

/* One call of spec (tid + it) % SPECS on inputs seeded by (tid, it); returns O (malloc'd) or NULL. */
static float *one_call(aule_context *ctx, int tid, int it, size_t *count)
{
    const auegen_spec *s = &specs[(tid + it) % SPECS];
    int64_t heads = 2 * s->gqa, kv = 2, d = s->head_dim;
    uint64_t seed = (uint64_t)tid * 1000 + (uint64_t)it;
    aule_tensor *q = make(ctx, 1, heads, SEQ, d, seed * 3);
    aule_tensor *k = make(ctx, 1, kv, SEQ + 3, d, seed * 3 + 1);
    aule_tensor *v = make(ctx, 1, kv, SEQ + 3, d, seed * 3 + 2);
    aule_tensor *o = make(ctx, 1, heads, SEQ, d, 0);
    float *out = NULL;
    if (q && k && v && o) {
        aule_forward_args a = {.q = q, .k = k, .v = v, .o = o};
        aule_status st = aule_attention_forward(ctx, s, &a);
        if (st != AULE_OK) {
            FAIL("thread %d call %d: %s: %s", tid, it, aule_status_string(st), aule_context_last_error(ctx));
        } else {
            *count = aule_tensor_bytes(o) / sizeof(float);
            out = malloc(*count * sizeof *out);
            if (!out || aule_tensor_read(o, out, *count * sizeof *out) != AULE_OK) {
                FAIL("thread %d call %d: reading O", tid, it);
                free(out);
                out = NULL;
            }
        }
    } else {
        FAIL("thread %d call %d: creating tensors: %s", tid, it, aule_context_last_error(ctx));
    }
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(o);
    return out;
}

/* Calls that must fail, cleanly: a handle that is no tensor, a tensor of the
 * wrong dtype. (A destroyed handle is tested in test_reliability: here, with
 * other threads creating tensors, malloc may hand its address to a new one.) */
static void bad_calls(aule_context *ctx, int tid, int it)
{
    const auegen_spec *s = &specs[0];
    aule_tensor *q = make(ctx, 1, 2, SEQ, s->head_dim, 1), *k = make(ctx, 1, 2, SEQ, s->head_dim, 2);
    static _Alignas(64) char not_a_tensor[4096];
    aule_tensor *gone = (aule_tensor *)(void *)not_a_tensor;
    aule_tensor_desc hd = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 2, SEQ, s->head_dim}};
    aule_tensor *half = NULL;
    if (!q || !k || aule_tensor_create(ctx, &hd, &half) != AULE_OK) {
        FAIL("thread %d call %d: creating tensors", tid, it);
    } else {
        aule_forward_args a = {.q = q, .k = k, .v = gone, .o = q};
        if (aule_attention_forward(ctx, s, &a) != AULE_ERROR_INVALID_ARGUMENT)
            FAIL("thread %d call %d: a handle that is no tensor was not refused", tid, it);
        aule_forward_args b = {.q = q, .k = k, .v = half, .o = q};
        if (aule_attention_forward(ctx, s, &b) != AULE_ERROR_INVALID_ARGUMENT)
            FAIL("thread %d call %d: an f16 tensor was not refused by an f32 spec", tid, it);
    }
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(half);
}

typedef struct worker {
    aule_context *ctx;
    int tid;
    int calls;
} worker;

static void *work(void *p)
{
    worker *w = p;
    for (int it = 0; it < iterations; it++) {
        if ((w->tid + it) % ERROR_EVERY == 0)
            bad_calls(w->ctx, w->tid, it);
        size_t n = 0;
        float *got = one_call(w->ctx, w->tid, it, &n);
        float *want = expected[w->tid * iterations + it];
        if (got && want && memcmp(got, want, n * sizeof *got) != 0)
            FAIL("thread %d call %d: the result differs from the single-threaded run", w->tid, it);
        free(got);
        w->calls++;
    }
    return NULL;
}

static aule_context *cold_context(void)
{
    /* No disk cache, no linked-in kernels: every first use of a spec is a JIT miss. */
    aule_context_desc d = {.disable_builtin = true, .disable_disk_cache = true};
    aule_context *ctx = NULL;
    if (aule_context_create(&d, &ctx) != AULE_OK) {
        printf("FAIL: no context: %s\n", aule_context_last_error(NULL));
        exit(1);
    }
    return ctx;
}

static void test_mixed_calls(void)
{
    /* The reference: the same calls, one after another, on their own context. */
    aule_context *ref = cold_context();
    double t0 = now_ms();
    for (int tid = 0; tid < threads; tid++) {
        for (int it = 0; it < iterations; it++) {
            size_t n;
            expected[tid * iterations + it] = one_call(ref, tid, it, &n);
        }
    }
    double t1 = now_ms();
    aule_context_destroy(ref);

    aule_context *ctx = cold_context();
    pthread_t th[MAX_THREADS];
    worker w[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.ctx = ctx, .tid = i};
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    int calls = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        calls += w[i].calls;
    }
    double t2 = now_ms();
    aule_context_stats stats;
    aule_context_get_stats(ctx, &stats);
    aule_context_destroy(ctx);
    for (int i = 0; i < threads * iterations; i++)
        free(expected[i]);
    printf("mixed calls: %d threads x %d iterations = %d calls (+ %d pairs of refused calls), %llu JIT compiles; "
           "single-threaded %.0f ms, threaded %.0f ms\n",
           threads, iterations, calls, (threads * iterations + ERROR_EVERY - 1) / ERROR_EVERY,
           (unsigned long long)stats.jit_compiles, t1 - t0, t2 - t1);
}

/* --- a JIT compile on one thread must not stall another thread's dispatches --- */

typedef struct spinner {
    aule_context *ctx;
    atomic_int done;
    atomic_int stop;
} spinner;

static void *spin(void *p)
{
    spinner *s = p;
    while (!atomic_load(&s->stop)) {
        size_t n;
        free(one_call(s->ctx, 0, 0, &n));
        atomic_fetch_add(&s->done, 1);
        /* A pause with no lock held: the compiling thread gets the context lock
         * at once instead of waiting on a thread that retakes it in a loop. */
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    return NULL;
}

static void test_compile_does_not_stall(void)
{
    aule_context *ctx = cold_context();
    size_t n;
    free(one_call(ctx, 0, 0, &n));             /* spec a is now in memory */
    spinner s = {.ctx = ctx};
    pthread_t th;
    pthread_create(&th, NULL, spin, &s);
    while (atomic_load(&s.done) < 2)
        ;
    int before = atomic_load(&s.done);
    double t0 = now_ms();
    aule_kernel_report rep;
    aule_status st = aule_kernel_prepare(ctx, &specs[SPECS], &rep);
    double ms = now_ms() - t0;
    int during = atomic_load(&s.done) - before;
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    aule_context_destroy(ctx);
    if (st != AULE_OK)
        FAIL("compiling the slow spec: %s", aule_status_string(st));
    printf("JIT compile of %s: %.0f ms (source %s); the other thread finished %d calls meanwhile\n",
           specs[SPECS].name, ms, aule_kernel_source_name(rep.source), during);
    if (rep.source == AULE_SOURCE_JIT && during < 3)
        FAIL("a JIT compile stalled another thread's dispatches (%d calls in %.0f ms)", during, ms);
}

int main(int argc, char **argv)
{
    test_device_init();
    if (argc > 1)
        threads = atoi(argv[1]);
    if (argc > 2)
        iterations = atoi(argv[2]);
    if (threads < 1 || threads > MAX_THREADS || iterations < 1 || iterations > 64) {
        printf("usage: test_threads [THREADS 1..%d] [ITERATIONS 1..64]\n", MAX_THREADS);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    auegen_spec_file *f = NULL;
    if (auegen_spec_file_load_string(spec_text, sizeof spec_text - 1, "threads.lua", &f) != AUEGEN_OK
        || auegen_spec_file_count(f) != SPECS + 1) {
        printf("FAIL: the test's specs do not load\n");
        return 1;
    }
    for (int i = 0; i <= SPECS; i++)
        specs[i] = *auegen_spec_file_get(f, i);
    auegen_spec_file_destroy(f);
    test_mixed_calls();
    test_compile_does_not_stall();
    int n = atomic_load(&failures);
    printf("%s (%d failures)\n", n ? "FAILED" : "passed", n);
    return n ? 1 : 0;
}
