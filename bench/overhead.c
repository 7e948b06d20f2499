/* SPDX-License-Identifier: MIT */
/*
 * overhead.c - what a call costs the host, and how long a new spec takes to
 * become a ready pipeline.
 *
 * 1. Per-call overhead: N calls of a tiny attention (B=1, H=1, S=16, D=64, f16)
 *    against N empty dispatches, each submitted and waited on its own, in the
 *    same run; prints both and their ratio (goal: under 2x).
 * 2. Spec to pipeline: new specs compiled in-process (cold: generator, glslang,
 *    SPIRV-Tools, driver), then the same specs in a new context that finds them
 *    in the disk cache (goals on a 2-core CPU machine: <= 100 ms and <= 5 ms).
 *
 *   overhead [--calls N] [--specs N]
 */
#include "aule.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU time of the calling thread: the host work of a call (recording,
 * descriptor updates, submission), without the time spent waiting for the
 * device, which on a CPU device runs on the driver's own threads. */
static double thread_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int die(aule_context *ctx, const char *what, aule_status st)
{
    fprintf(stderr, "overhead: %s: %s: %s\n", what, aule_status_string(st), aule_context_last_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    int calls = 1000, nspecs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--calls") == 0)
            calls = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--specs") == 0)
            nspecs = atoi(argv[i + 1]);
    }
    if (calls < 1 || nspecs < 1 || nspecs > 64) {
        fprintf(stderr, "usage: overhead [--calls N] [--specs 1..64]\n");
        return 2;
    }
    char dir[] = "/tmp/aule-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    aule_context_desc desc = {.cache_dir = dir};
    aule_context *ctx;
    aule_status st = aule_context_create(&desc, &ctx);
    if (st)
        return die(NULL, "context", st);
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    printf("device: %s\n", info.name);

    /* 1. per-call overhead */
    auegen_spec_desc sd = {.name = "tiny", .head_dim = 64, .dtype = AUEGEN_DTYPE_F16};
    auegen_spec spec;
    auegen_spec_validate(&sd, &spec, NULL);
    aule_tensor_desc td = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, 1, 16, 64}};
    aule_tensor *q, *k, *v, *o;
    if ((st = aule_tensor_create(ctx, &td, &q)) || (st = aule_tensor_create(ctx, &td, &k))
        || (st = aule_tensor_create(ctx, &td, &v)) || (st = aule_tensor_create(ctx, &td, &o)))
        return die(ctx, "tensors", st);
    uint16_t zeros[16 * 64] = {0};
    aule_tensor_write(q, zeros, sizeof zeros);
    aule_tensor_write(k, zeros, sizeof zeros);
    aule_tensor_write(v, zeros, sizeof zeros);
    aule_forward_args args = {.q = q, .k = k, .v = v, .o = o};
    if ((st = aule_attention_forward(ctx, &spec, &args)) || (st = aule_empty_dispatch(ctx, 10)))
        return die(ctx, "warm-up", st);
    double *ta = calloc((size_t)calls, sizeof *ta), *te = calloc((size_t)calls, sizeof *te);
    double *ca = calloc((size_t)calls, sizeof *ca), *ce = calloc((size_t)calls, sizeof *ce);
    if (!ta || !te || !ca || !ce)
        return 1;
    /* Blocks of each kind (interleaving single calls lets one call's wake-up
     * of the driver's worker threads land on the other's clock). */
    for (int i = 0; i < calls; i++) {
        double t0 = aule_clock_ms(), c0 = thread_us();
        st = aule_empty_dispatch(ctx, 1);
        ce[i] = thread_us() - c0;
        te[i] = (aule_clock_ms() - t0) * 1e3;
        if (st)
            return die(ctx, "empty dispatch", st);
    }
    for (int i = 0; i < calls; i++) {
        double t0 = aule_clock_ms(), c0 = thread_us();
        st = aule_attention_forward(ctx, &spec, &args);
        ca[i] = thread_us() - c0;
        ta[i] = (aule_clock_ms() - t0) * 1e3;
        if (st)
            return die(ctx, "attention", st);
    }
    double me = median(te, calls), ma = median(ta, calls), hce = median(ce, calls), hca = median(ca, calls);
    printf("per call (median of %d, each submitted and waited):  wall      host CPU\n", calls);
    printf("  empty dispatch                               %9.1f us %9.1f us\n", me, hce);
    printf("  attention B=1 H=1 S=16 D=64 f16              %9.1f us %9.1f us\n", ma, hca);
    printf("  ratio attention / empty                      %9.2fx  %9.2fx   (goal < 2x)\n", ma / me, hca / hce);
    printf("  (wall includes the kernel's run on the device; host CPU is the calling thread's work)\n");
    free(ta);
    free(te);
    free(ca);
    free(ce);
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(o);

    /* 2. spec to pipeline, cold and from disk */
    double cold[64], disk[64];
    auegen_spec specs[64];
    for (int i = 0; i < nspecs; i++) {
        auegen_spec_desc d = {.name = "s", .head_dim = 72 + 8 * i, .gqa = 2, .causal = true,
                              .dtype = AUEGEN_DTYPE_F16};
        auegen_spec_validate(&d, &specs[i], NULL);
        aule_kernel_report r;
        if ((st = aule_kernel_prepare(ctx, &specs[i], &r)))
            return die(ctx, "cold prepare", st);
        if (r.source != AULE_SOURCE_JIT) {
            fprintf(stderr, "overhead: expected a JIT compile, got %s\n", aule_kernel_source_name(r.source));
            return 1;
        }
        cold[i] = r.milliseconds;
    }
    aule_context_destroy(ctx);
    if ((st = aule_context_create(&desc, &ctx)))
        return die(NULL, "second context", st);
    for (int i = 0; i < nspecs; i++) {
        aule_kernel_report r;
        if ((st = aule_kernel_prepare(ctx, &specs[i], &r)))
            return die(ctx, "disk prepare", st);
        if (r.source != AULE_SOURCE_DISK) {
            fprintf(stderr, "overhead: expected a disk hit, got %s\n", aule_kernel_source_name(r.source));
            return 1;
        }
        disk[i] = r.milliseconds;
    }
    aule_context_destroy(ctx);
    printf("new spec to ready pipeline (median of %d specs, D=72.., GQA 2, causal, f16; glslang already\n"
           "set up by the calls above, which a process pays once, about 120 ms):\n", nspecs);
    printf("  cold: generate, compile, validate   %9.1f ms   (goal <= 100 ms)\n", median(cold, nspecs));
    printf("  from the disk cache, new context    %9.1f ms   (goal <= 5 ms)\n", median(disk, nspecs));
    printf("  (both include the driver's own compile in vkCreateComputePipelines)\n");
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
