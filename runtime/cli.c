/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the aule command: info, run (NumPy .npy in and out), check (the
 * correctness rule on random inputs) and bench (time and TFLOP/s).
 */
#include "aule.h"
#include "aule_check.h"
#include "aule_reference.h"
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

/* Each command: its synopsis and what it does (aule CMD --help prints its own). */
static const struct command_help {
    const char *name, *synopsis, *what;
} commands[] = {
    {"info", "aule info",
     "the Vulkan devices and what the planner sees of the chosen one"},
    {"check", "aule check --spec FILE [--kernel NAME] [--quick] [--seed N]",
     "runs every kernel of the spec on random inputs and compares with a float64\n"
     "reference by FlashAttention's rule: max|out-ref| <= 2*max|naive_fp32-ref| + 1e-6\n"
     "(gradients of specs with backward = true: 3x, + 1e-5); exits 1 on any miss"},
    {"bench", "aule bench --spec FILE [--kernel NAME] [--batch B] [--heads H] [--seq S[,S...]]\n"
              "           [--iters N] [--csv | --json] [--stats]",
     "times the kernels (median of --iters calls, each submitted and waited) and\n"
     "reports TFLOP/s with FlashAttention's count (4*B*H*Sq*Sk*D, halved when causal;\n"
     "forward + backward counted as 3.5x the forward); decode: GB/s of K/V read.\n"
     "Rows are printed as they finish; --csv and --json give the same columns"},
    {"run", "aule run --spec FILE [--kernel NAME] --q Q.npy --k K.npy --v V.npy --out O.npy\n"
            "         [--lse LSE.npy] [--scale X] [--bshd] [--causal] [--window L,R] [--softcap X]\n"
            "         [--do DO.npy --dq DQ.npy --dk DK.npy --dv DV.npy]",
     "attention on .npy arrays [B][H][S][D] (--bshd: [B][S][H][D]) in the spec's dtype\n"
     "(f32 <f4, f16 <f2, bf16 stored as <u2); O in the same layout, LSE fp32 [B][H][Sq];\n"
     "with --do (a spec with backward = true) also the gradients of sum(dO * O)"},
    {"version", "aule --version", "the versions of aule, its generator and its compiler"},
};

static const char environment_help[] =
    "Options take their value as --flag VALUE or --flag=VALUE.\n"
    "\n"
    "Environment:\n"
    "  AULE_DEVICE           the device: cpu, vulkan, an index from 'aule info' or part of its name\n"
    "                        (unset: a GPU, else the native CPU backend)\n"
    "  AULE_CPU_THREADS      native CPU backend: worker threads (default: one per online CPU)\n"
    "  AULE_CACHE_DIR        the kernel cache (default $XDG_CACHE_HOME/aule, else ~/.cache/aule)\n"
    "  AULE_VERBOSE          set: log every kernel lookup and compile on stderr\n"
    "  AULE_COOPMAT_EMULATE  1: emulate cooperative matrices where the device has none (testing;\n"
    "                        2: with P through shared memory, 3: with an unknown lane layout)\n";

static void usage(FILE *f)
{
    fprintf(f, "usage:");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "%s%s\n", i ? "       " : " ", commands[i].synopsis);
    fprintf(f, "\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        fprintf(f, "%-8s ", commands[i].name);
        for (const char *p = commands[i].what; *p; p++) {
            fputc(*p, f);
            if (*p == '\n')
                fprintf(f, "         ");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n%s", environment_help);
}

static int command_usage(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0) {
            printf("usage: %s\n\n%s\n\n%s", commands[i].synopsis, commands[i].what, environment_help);
            return 0;
        }
    return EXIT_USAGE;
}

static void log_stderr(void *user, aule_log_level level, const char *msg)
{
    /* Errors are not printed here: every failing call's status and message are
     * printed once by the command that made it (with aule_context_last_error). */
    int min = *(int *)user;
    if ((int)level >= min && (level != AULE_LOG_ERROR || min == AULE_LOG_DEBUG))
        fprintf(stderr, "aule: %s\n", msg);
}

static int verbosity = AULE_LOG_WARN;

static aule_context *open_context_with(bool profile)
{
    aule_context_desc d = {.log = log_stderr, .log_user = &verbosity, .profile = profile};
    aule_context *ctx = NULL;
    aule_status st = aule_context_create(&d, &ctx);
    if (st != AULE_OK) {
        fprintf(stderr, "aule: %s: %s\n", aule_status_string(st), aule_context_last_error(NULL));
        return NULL;
    }
    return ctx;
}

static aule_context *open_context(void) { return open_context_with(false); }

static const char *type_name(aule_device_type t)
{
    static const char *const names[] = {"other", "integrated GPU", "discrete GPU", "virtual GPU", "CPU"};
    return t >= 0 && t <= AULE_DEVICE_CPU ? names[t] : "?";
}

static const char *scalar_name(auegen_scalar_type t)
{
    static const char *const names[] = {"f16", "bf16", "f32", "s8", "s32"};
    return t >= 0 && t <= AUEGEN_TYPE_S32 ? names[t] : "?";
}

static int cmd_info(void)
{
    aule_device_info all[16];
    int n = 0;
    aule_status st = aule_devices_list(all, 16, &n);
    if (st != AULE_OK) {
        fprintf(stderr, "aule: %s: %s\n", aule_status_string(st), aule_context_last_error(NULL));
        return EXIT_FAIL;
    }
    printf("devices: %d\n", n);
    for (int i = 0; i < n && i < 16; i++) {
        if (all[i].backend == AULE_BACKEND_CPU)
            printf("  %d: %s (native CPU backend: %s kernels, %d threads)\n", i, all[i].name, all[i].isa,
                   all[i].threads);
        else
            printf("  %d: %s (%s, Vulkan %u.%u)\n", i, all[i].name, type_name(all[i].type),
                   all[i].api_version >> 22, (all[i].api_version >> 12) & 0x3ff);
    }
    aule_context *ctx = open_context();
    if (!ctx)
        return EXIT_FAIL;
    aule_device_info in;
    aule_context_device_info(ctx, &in);
    const auegen_target *t = &in.caps;
    if (in.index >= 0)
        printf("chosen: %d: %s\n", in.index, in.name);
    else
        printf("chosen: cpu: %s\n", in.name);
    printf("  driver             %s\n", in.driver);
    printf("  type               %s\n", type_name(in.type));
    if (in.backend == AULE_BACKEND_CPU) {
        printf("  backend            native CPU: %s kernels, %d f32 lanes, %d threads\n", in.isa, t->subgroup_size,
               in.threads);
        printf("  host memory        %.1f GiB\n", (double)in.device_local_bytes / (1 << 30));
        printf("generator: auegen %s (%s)\n", AUEGEN_VERSION_STRING, auegen_compiler_version());
        aule_context_destroy(ctx);
        return 0;
    }
    printf("  subgroup           %d (min %d, max %d, size control %s)\n", t->subgroup_size, t->subgroup_min,
           t->subgroup_max, in.subgroup_size_control ? "yes" : "no");
    printf("  shared memory      %d bytes per workgroup\n", t->shared_memory_bytes);
    printf("  workgroup          %d invocations\n", t->max_workgroup_invocations);
    if (t->compute_units)
        printf("  compute units      %d\n", t->compute_units);
    printf("  16-bit storage     %s, fp16 arithmetic %s\n", t->storage16 ? "yes" : "no", t->fp16_arith ? "yes" : "no");
    printf("  device memory      %.1f GiB%s\n", (double)in.device_local_bytes / (1 << 30),
           in.unified_memory ? " (unified with the host)" : "");
    printf("  storage buffers    up to %llu bytes\n", (unsigned long long)in.max_storage_buffer_range);
    printf("  coopmat (KHR)      %s", in.coopmat_khr ? "" : in.coopmat_emulated ? "none; emulated: " : "none\n");
    for (int i = 0; i < t->coopmat_count; i++)
        printf("%s%dx%dx%d %s->%s", i ? ", " : "", t->coopmat[i].m, t->coopmat[i].n, t->coopmat[i].k,
               scalar_name(t->coopmat[i].a_type), scalar_name(t->coopmat[i].c_type));
    if (t->coopmat_count)
        printf("\n");
    const auegen_lane_layout *lay = &t->lane_layout;
    if (lay->lanes)
        printf("  accumulator layout %d lanes x %d elements, rows shared by clusters of %d lanes "
               "(softmax in registers)\n", lay->lanes, lay->elems, lay->cluster);
    else if (t->coopmat_count)
        printf("  accumulator layout unknown (softmax through shared memory)\n");
    printf("generator: auegen %s (%s)\n", AUEGEN_VERSION_STRING, auegen_compiler_version());
    aule_context_destroy(ctx);
    return 0;
}

typedef struct common_opts {
    const char *spec, *kernel;
} common_opts;

static auegen_spec_file *load_specs(const char *path)
{
    auegen_spec_file *f = NULL;
    auegen_status st = auegen_spec_file_load(path, NULL, &f);
    if (st != AUEGEN_OK) {
        const auegen_diag *d = auegen_spec_file_diag(f);
        for (int i = 0; d && i < d->count; i++) {
            char line[512];
            auegen_error_format(&d->errors[i], path, line, sizeof line);
            fprintf(stderr, "%s\n", line);
        }
        auegen_spec_file_destroy(f);
        return NULL;
    }
    return f;
}

static const char *flag_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "aule: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Strict numbers: the whole text, in range, finite; else a message and false. */
static bool parse_long(const char *cmd, const char *opt, const char *text, long long min, long long max,
                       long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || isspace((unsigned char)*text) || errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "aule %s: %s takes an integer in %lld..%lld (got '%s')\n", cmd, opt, min, max, text);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_int(const char *cmd, const char *opt, const char *text, int min, int max, int *out)
{
    long long v;
    if (!parse_long(cmd, opt, text, min, max, &v))
        return false;
    *out = (int)v;
    return true;
}

/* A finite number in [min, max] (min_open: min itself excluded). */
static bool parse_double(const char *cmd, const char *opt, const char *text, double min, bool min_open, double max,
                         double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    bool bad_range = !isfinite(v) || v < min || (min_open && v == min) || v > max;
    if (end == text || *end || isspace((unsigned char)*text) || errno == ERANGE || bad_range) {
        fprintf(stderr, "aule %s: %s takes a finite number %s %g and <= %g (got '%s')\n", cmd, opt,
                min_open ? ">" : ">=", min, max, text);
        return false;
    }
    *out = v;
    return true;
}

/* Progress on stderr: finding a kernel may mean generating and compiling it
 * (seconds on a CPU driver), and a line says so before the wait, not after. */
static aule_kernel_source prepare_with_progress(aule_context *ctx, const auegen_spec *s)
{
    fprintf(stderr, "aule: %s: preparing the kernel (compiled on first use)...\n", s->name);
    aule_kernel_report rep = {0};
    double t0 = aule_clock_ms();
    aule_status st = aule_kernel_prepare(ctx, s, &rep);
    if (st == AULE_OK)
        fprintf(stderr, "aule: %s: ready (%s, %.0f ms)\n", s->name, aule_kernel_source_name(rep.source),
                aule_clock_ms() - t0);
    return st == AULE_OK ? rep.source : AULE_SOURCE_MEMORY;
}

static int cmd_check(int argc, char **argv)
{
    common_opts o = {0};
    bool quick = false;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--spec") == 0 && (v = flag_value(argc, argv, &i)))
            o.spec = v;
        else if (strcmp(argv[i], "--kernel") == 0 && (v = flag_value(argc, argv, &i)))
            o.kernel = v;
        else if (strcmp(argv[i], "--seed") == 0 && (v = flag_value(argc, argv, &i))) {
            long long n;
            if (!parse_long("check", "--seed", v, 0, LLONG_MAX, &n))
                return EXIT_USAGE;
            seed = (uint64_t)n;
        }
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else {
            fprintf(stderr, "aule check: unexpected argument '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!o.spec) {
        fprintf(stderr, "aule check: --spec is required\n");
        return EXIT_USAGE;
    }
    auegen_spec_file *f = load_specs(o.spec);
    if (!f)
        return EXIT_FAIL;
    if (o.kernel && !auegen_spec_file_find(f, o.kernel)) {
        fprintf(stderr, "aule check: %s has no kernel '%s'\n", o.spec, o.kernel);
        auegen_spec_file_destroy(f);
        return EXIT_FAIL;
    }
    aule_context *ctx = open_context();
    if (!ctx) {
        auegen_spec_file_destroy(f);
        return EXIT_FAIL;
    }
    static const int seqs[][2] = {{1, 1}, {1, 239}, {3, 799}, {113, 203}, {128, 217}, {256, 512}, {108, 256}};
    int nseq = quick ? 3 : (int)(sizeof seqs / sizeof seqs[0]);
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    printf("aule check %s on %s (seed %llu)\n", o.spec, info.name, (unsigned long long)seed);
    printf("%-26s %-8s %-14s %-9s %-9s %11s %11s %11s  %s\n", "kernel", "variant", "B,H,Sq,Sk", "layout", "source",
           "max err", "bound", "lse err", "result");
    int fails = 0, runs = 0;
    bool cpu_backend = info.backend == AULE_BACKEND_CPU;
    for (int k = 0; k < auegen_spec_file_count(f); k++) {
        const auegen_spec *s = auegen_spec_file_get(f, k);
        if (o.kernel && strcmp(o.kernel, s->name) != 0)
            continue;
        /* The first row of a kernel names where it came from (memory, built-in, disk, JIT). */
        aule_kernel_source first_source = prepare_with_progress(ctx, s);
        bool first_row = true;
#define ROW_SOURCE(rep) aule_kernel_source_name(first_row ? (first_row = false, first_source) : (rep).source)
        if (s->kind == AUEGEN_KIND_DECODE) {
            /* Decode: sequences of several lengths in one batch, 1 and several new tokens. */
            static const int lens[] = {1, 239, 1000, 4099};
            static const int sqs[] = {1, 4};
            for (int i = 0; i < (quick ? 1 : 2); i++) {
                aule_check_decode_shape sh = {.batch = 4, .heads = 2 * s->gqa, .seq_q = sqs[i], .seq_lens = lens,
                                              .lse = true, .seed = seed + (uint64_t)(k * 100 + i)};
                aule_check_result r;
                aule_status st = aule_check_decode_run(ctx, s, &sh, &r);
                char shape[40];
                snprintf(shape, sizeof shape, "%d,%d,%d,..4099", sh.batch, sh.heads, sh.seq_q);
                runs++;
                if (st != AULE_OK) {
                    printf("%-26s %-8s %-14s %-9s %-9s %s: %s\n", s->name, "-", shape, "-", "-",
                           aule_status_string(st), aule_context_last_error(ctx));
                    fails++;
                    continue;
                }
                fails += !r.pass;
                printf("%-26s %-8s %-14s %-9s %-9s %11.3e %11.3e %11.3e  %s\n", s->name,
                       cpu_backend ? info.isa : auegen_variant_name(r.kernel.plan.variant), shape, s->page_size ? "paged" : "contig",
                       ROW_SOURCE(r.kernel), r.err, r.bound, r.lse_err, r.pass ? "pass" : "FAIL");
            }
            continue;
        }
        if (s->int8) {
            /* INT8: accuracy against float64 (aule_check.h) on the families the gate covers. */
            for (int i = 0; i < nseq; i++) {
                aule_check_int8_shape sh = {
                    .shape = {.batch = 2, .heads = 2 * s->gqa, .seq_q = seqs[i][0], .seq_k = seqs[i][1], .lse = true,
                              .bshd = i % 2 == 1, .seed = seed + (uint64_t)(k * 100 + i)},
                    .inputs = i % 2 ? AULE_INT8_MEAN_OFFSET : AULE_INT8_GAUSSIAN};
                aule_check_int8_result r;
                aule_status st = aule_check_int8_run(ctx, s, &sh, &r);
                char shape[40];
                snprintf(shape, sizeof shape, "%d,%d,%d,%d", sh.shape.batch, sh.shape.heads, sh.shape.seq_q,
                         sh.shape.seq_k);
                runs++;
                if (st != AULE_OK) {
                    printf("%-26s %-8s %-14s %-9s %-9s %s: %s\n", s->name, "-", shape, "-", "-",
                           aule_status_string(st), aule_context_last_error(ctx));
                    fails++;
                    continue;
                }
                fails += !r.pass;
                printf("%-26s %-8s %-14s %-9s %-9s %11s %11s %11.3e  %s (int8 %s: cosine %.6f, rel. L1 %.4f)\n",
                       s->name, r.kernel.plan.variant == AUEGEN_VARIANT_COOPMAT ? "int8-cm" : "int8", shape, sh.shape.bshd ? "BSHD" : "BHSD", ROW_SOURCE(r.kernel), "-", "-",
                       r.lse_err, r.pass ? "pass" : "FAIL", aule_int8_inputs_name(sh.inputs), r.worst_cosine, r.rel_l1);
            }
            continue;
        }
        for (int i = 0; i < nseq; i++) {
            aule_check_shape sh = {.batch = 2, .heads = 2 * s->gqa, .seq_q = seqs[i][0], .seq_k = seqs[i][1],
                                   .lse = true, .bshd = i % 2 == 1, .varlen = i == nseq - 1 && !quick,
                                   .seed = seed + (uint64_t)(k * 100 + i)};
            aule_check_result r;
            aule_status st = aule_check_run(ctx, s, &sh, &r);
            char shape[40];
            snprintf(shape, sizeof shape, "%d,%d,%d,%d", sh.batch, sh.heads, sh.seq_q, sh.seq_k);
            runs++;
            if (st != AULE_OK) {
                printf("%-26s %-8s %-14s %-9s %-9s %s: %s\n", s->name, "-", shape, "-", "-", aule_status_string(st),
                       aule_context_last_error(ctx));
                fails++;
                continue;
            }
            fails += !r.pass;
            printf("%-26s %-8s %-14s %-9s %-9s %11.3e %11.3e %11.3e  %s\n", s->name,
                   cpu_backend ? info.isa : auegen_variant_name(r.kernel.plan.variant), shape,
                   sh.varlen ? "varlen" : (sh.bshd ? "BSHD" : "BHSD"), ROW_SOURCE(r.kernel),
                   r.err, r.bound, r.lse_err, r.pass ? "pass" : "FAIL");
        }
        /* Training specs: the gradients too (the row shows the one nearest its bound). */
        static const int gseqs[][2] = {{77, 77}, {40, 113}, {96, 64}};
        for (int i = 0; s->backward && i < (quick ? 1 : 3); i++) {
            aule_check_shape sh = {.batch = 2, .heads = 2 * s->gqa, .seq_q = gseqs[i][0], .seq_k = gseqs[i][1],
                                   .bshd = i == 1, .varlen = i == 2, .seed = seed + (uint64_t)(k * 100 + 50 + i)};
            aule_check_grad_result r;
            aule_status st = aule_check_backward_run(ctx, s, &sh, &r);
            char shape[40];
            snprintf(shape, sizeof shape, "%d,%d,%d,%d", sh.batch, sh.heads, sh.seq_q, sh.seq_k);
            runs++;
            if (st != AULE_OK) {
                printf("%-26s %-8s %-14s %-9s %-9s %s: %s\n", s->name, "-", shape, "grad", "-", aule_status_string(st),
                       aule_context_last_error(ctx));
                fails++;
                continue;
            }
            static const char *const names[4] = {"dQ", "dK", "dV", "dsinks"};
            int worst = 0;
            for (int g = 1; g < (s->sinks ? 4 : 3); g++)
                if (r.err[g] / r.bound[g] > r.err[worst] / r.bound[worst])
                    worst = g;
            char layout[24];
            snprintf(layout, sizeof layout, "%s %s", sh.varlen ? "varlen" : (sh.bshd ? "BSHD" : "BHSD"), names[worst]);
            fails += !r.pass;
            printf("%-26s %-8s %-14s %-9s %-9s %11.3e %11.3e %11s  %s\n", s->name,
                   cpu_backend ? info.isa : "scalar", shape, layout,
                   ROW_SOURCE(r.kernel), r.err[worst], r.bound[worst], "-", r.pass ? "pass" : "FAIL");
        }
#undef ROW_SOURCE
    }
    printf("%d of %d checks passed\n", runs - fails, runs);
    aule_context_destroy(ctx);
    auegen_spec_file_destroy(f);
    return fails ? EXIT_FAIL : 0;
}

static int parse_list(const char *s, int *out, int max)
{
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > (1 << 24))
            return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

/* Random values in a tensor's dtype (all-zero inputs would flatter nothing but run cold). */
static aule_status fill_random(aule_tensor *t, uint64_t seed)
{
    const aule_tensor_desc *d = aule_tensor_get_desc(t);
    size_t bytes = aule_tensor_bytes(t), n = bytes / aule_dtype_size(d->dtype);
    float *vals = malloc(n * sizeof *vals);
    void *packed = malloc(bytes);
    aule_status st = vals && packed ? AULE_OK : AULE_ERROR_OUT_OF_MEMORY;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t e = 0; !st && e < n; e++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        vals[e] = (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    if (!st) {
        aule_pack_dtype(vals, packed, n, (int)d->dtype);
        st = aule_tensor_write(t, packed, bytes);
    }
    free(vals);
    free(packed);
    return st;
}

/* One result of aule bench, printed as a table row, CSV or a JSON line (the same fields). */
typedef enum { OUT_TABLE, OUT_CSV, OUT_JSON } out_format;
typedef struct bench_row {
    const char *device, *kernel, *kind, *variant, *dtype, *layout;
    int b, h, hkv, sq, sk, d, causal;
    double ms, tflops, gbs, wall_ms;   /* < 0: not measured for this kind */
} bench_row;

static const char *const bench_fields = "device,kernel,kind,variant,dtype,layout,B,H,Hkv,Sq,Sk,D,causal,ms,tflops,"
                                        "gbs,wall_ms";

static void print_number(out_format f, double x, const char *sep)
{
    if (x < 0)
        printf(f == OUT_JSON ? "null%s" : "%s", sep);
    else
        printf("%.6g%s", x, sep);
}

static void print_row(out_format f, const bench_row *r)
{
    if (f == OUT_TABLE) {
        printf("%-26s %-7s %-8s %5d %5d %7d %7d %10.3f ", r->kernel, r->kind, r->variant, r->b, r->h, r->sq, r->sk,
               r->ms);
        if (r->gbs >= 0)
            printf("%9s %10s %8.1f GB/s of K/V\n", "-", "-", r->gbs);
        else if (r->wall_ms >= 0)
            printf("%9.4f %10.3f\n", r->tflops, r->wall_ms);
        else
            printf("%9.4f %10s\n", r->tflops, "-");
        return;
    }
    if (f == OUT_CSV)
        printf("\"%s\",%s,%s,%s,%s,%s,%d,%d,%d,%d,%d,%d,%d,", r->device, r->kernel, r->kind, r->variant, r->dtype,
               r->layout, r->b, r->h, r->hkv, r->sq, r->sk, r->d, r->causal);
    else
        printf("{\"device\": \"%s\", \"kernel\": \"%s\", \"kind\": \"%s\", \"variant\": \"%s\", \"dtype\": \"%s\", "
               "\"layout\": \"%s\", \"B\": %d, \"H\": %d, \"Hkv\": %d, \"Sq\": %d, \"Sk\": %d, \"D\": %d, "
               "\"causal\": %s, ", r->device, r->kernel, r->kind, r->variant, r->dtype, r->layout, r->b, r->h, r->hkv,
               r->sq, r->sk, r->d, r->causal ? "true" : "false");
    const char *keys[4] = {"ms", "tflops", "gbs", "wall_ms"};
    double vals[4] = {r->ms, r->tflops, r->gbs, r->wall_ms};
    for (int i = 0; i < 4; i++) {
        if (f == OUT_JSON)
            printf("\"%s\": ", keys[i]);
        print_number(f, vals[i], i < 3 ? (f == OUT_JSON ? ", " : ",") : (f == OUT_JSON ? "}\n" : "\n"));
    }
}

static const char *dtype_text(auegen_dtype d)
{
    return d == AUEGEN_DTYPE_F32 ? "f32" : d == AUEGEN_DTYPE_BF16 ? "bf16" : "f16";
}

/* Forward + backward on the tensors of a forward benchmark (a, with .o set). */
/* The variant column of aule bench: the kernels' instruction set on the native
 * CPU backend, else the plan's variant. */
static const char *variant_text(const aule_device_info *info, const auegen_plan *p)
{
    return info->backend == AULE_BACKEND_CPU ? info->isa : auegen_variant_name(p->variant);
}

static int bench_train(aule_context *ctx, const auegen_spec *s, aule_forward_args *a, int iters, double fwd_flops,
                       bench_row *row, out_format fmt)
{
    const aule_tensor_desc *qd = aule_tensor_get_desc(a->q), *kd = aule_tensor_get_desc(a->k);
    const aule_tensor_desc *vd = aule_tensor_get_desc(a->v), *od = aule_tensor_get_desc(a->o);
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {qd->shape[0], qd->shape[1], qd->shape[2]}};
    aule_tensor_desc q0 = {.dtype = qd->dtype, .ndim = 4}, k0 = q0, v0 = q0, o0 = q0;
    memcpy(q0.shape, qd->shape, sizeof q0.shape);
    memcpy(k0.shape, kd->shape, sizeof k0.shape);
    memcpy(v0.shape, vd->shape, sizeof v0.shape);
    memcpy(o0.shape, od->shape, sizeof o0.shape);
    aule_tensor *lse = NULL, *dout = NULL, *dq = NULL, *dk = NULL, *dv = NULL;
    aule_status st = aule_tensor_create(ctx, &ld, &lse);
    if (!st) st = aule_tensor_create(ctx, &o0, &dout);
    if (!st) st = aule_tensor_create(ctx, &q0, &dq);
    if (!st) st = aule_tensor_create(ctx, &k0, &dk);
    if (!st) st = aule_tensor_create(ctx, &v0, &dv);
    if (!st) st = fill_random(dout, 4);
    aule_forward_args fa = *a;
    fa.lse = lse;
    aule_backward_args ba = {.q = a->q, .k = a->k, .v = a->v, .o = a->o, .dout = dout, .lse = lse, .dq = dq,
                             .dk = dk, .dv = dv};
    double *times = calloc((size_t)iters, sizeof *times);
    if (!times && !st) st = AULE_ERROR_OUT_OF_MEMORY;
    for (int w = 0; !st && w < 2; w++)
        if (!(st = aule_attention_forward(ctx, s, &fa)))
            st = aule_attention_backward(ctx, s, &ba);
    for (int it = 0; it < iters && !st; it++) {
        double t0 = aule_clock_ms();
        st = aule_attention_forward(ctx, s, &fa);
        double g0 = aule_context_last_gpu_ms(ctx);
        if (!st)
            st = aule_attention_backward(ctx, s, &ba);
        double g1 = aule_context_last_gpu_ms(ctx);
        times[it] = g0 > 0 && g1 > 0 ? g0 + g1 : aule_clock_ms() - t0;
    }
    int rc = 0;
    if (st == AULE_ERROR_UNSUPPORTED) {   /* a device without the backward kernels (the CPU backend): not a failure */
        fprintf(stderr, "aule bench: %s fwd+bwd not run: %s\n", s->name, aule_context_last_error(ctx));
    } else if (st) {
        fprintf(stderr, "aule bench: %s backward: %s: %s\n", s->name, aule_status_string(st),
                aule_context_last_error(ctx));
        rc = 1;
    } else {
        for (int x = 1; x < iters; x++)
            for (int y = x; y > 0 && times[y] < times[y - 1]; y--) {
                double tt = times[y]; times[y] = times[y - 1]; times[y - 1] = tt;
            }
        bench_row r = *row;
        r.kind = "fwd+bwd";
        aule_device_info info;
        aule_context_device_info(ctx, &info);
        aule_kernel_report rep;          /* the backward's dK/dV kernel names the variant */
        if (aule_kernel_prepare_part(ctx, s, "bwd_dkdv", &rep) == AULE_OK)
            r.variant = variant_text(&info, &rep.plan);
        r.ms = times[iters / 2];
        r.tflops = 3.5 * fwd_flops / (r.ms * 1e-3) / 1e12;
        r.wall_ms = -1;
        print_row(fmt, &r);
    }
    free(times);
    aule_tensor_destroy(lse);
    aule_tensor_destroy(dout);
    aule_tensor_destroy(dq);
    aule_tensor_destroy(dk);
    aule_tensor_destroy(dv);
    return rc;
}

/* Decode: B sequences of S keys each, one new token; time and the KV bytes read per second. */
static int bench_decode(aule_context *ctx, const aule_device_info *info, const auegen_spec *s, int batch, int h,
                        int seq, int iters, out_format fmt)
{
    int hkv = h / s->gqa, page = s->page_size, d = s->head_dim, dv = s->head_dim_v;
    int max_pages = page ? (seq + page - 1) / page : 0;
    aule_dtype dt = (aule_dtype)s->dtype;
    aule_tensor_desc qd = {.dtype = dt, .ndim = 4, .shape = {batch, h, 1, d}};
    aule_tensor_desc od = {.dtype = dt, .ndim = 4, .shape = {batch, h, 1, dv}};
    aule_tensor_desc kd = {.dtype = dt, .ndim = 4,
                           .shape = {page ? batch * max_pages : batch, page ? page : hkv, page ? hkv : seq, d}};
    aule_tensor_desc vd = kd;
    vd.shape[3] = dv;
    aule_tensor_desc bd = {.dtype = AULE_DTYPE_I32, .ndim = 2, .shape = {batch, max_pages ? max_pages : 1}};
    aule_tensor_desc ld = {.dtype = AULE_DTYPE_I32, .ndim = 1, .shape = {batch}};
    aule_tensor *q = NULL, *k = NULL, *v = NULL, *o = NULL, *bt = NULL, *lens = NULL;
    aule_status st = aule_tensor_create(ctx, &qd, &q);
    if (!st) st = aule_tensor_create(ctx, &od, &o);
    if (!st) st = aule_tensor_create(ctx, &kd, &k);
    if (!st) st = aule_tensor_create(ctx, &vd, &v);
    if (!st) st = aule_tensor_create(ctx, &ld, &lens);
    if (!st && page) st = aule_tensor_create(ctx, &bd, &bt);
    if (!st) st = fill_random(q, 1);
    if (!st) st = fill_random(k, 2);
    if (!st) st = fill_random(v, 3);
    int32_t *ints = malloc((size_t)batch * (size_t)(max_pages > 1 ? max_pages : 1) * sizeof *ints);
    if (!ints && !st) st = AULE_ERROR_OUT_OF_MEMORY;
    for (int i = 0; !st && i < batch; i++)
        ints[i] = seq;
    if (!st) st = aule_tensor_write(lens, ints, (size_t)batch * sizeof *ints);
    for (int i = 0; !st && page && i < batch * max_pages; i++)
        ints[i] = i;                              /* pages in order; the tests shuffle them */
    if (!st && page) st = aule_tensor_write(bt, ints, (size_t)batch * max_pages * sizeof *ints);
    free(ints);
    aule_decode_args a = {.q = q, .k_cache = k, .v_cache = v, .block_table = bt, .seq_lens = lens, .o = o};
    double *times = calloc((size_t)iters, sizeof *times);
    if (!times && !st) st = AULE_ERROR_OUT_OF_MEMORY;
    double warm0 = aule_clock_ms();
    for (int w = 0; !st && (w < 2 || aule_clock_ms() - warm0 < 500.0); w++)
        st = aule_attention_decode(ctx, s, &a);
    for (int it = 0; it < iters && !st; it++) {
        double t0 = aule_clock_ms();
        st = aule_attention_decode(ctx, s, &a);
        double gpu = aule_context_last_gpu_ms(ctx);
        times[it] = gpu > 0 ? gpu : aule_clock_ms() - t0;
    }
    int rc = 0;
    if (st) {
        fprintf(stderr, "aule bench: %s: %s: %s\n", s->name, aule_status_string(st), aule_context_last_error(ctx));
        rc = 1;
    } else {
        for (int x = 1; x < iters; x++)
            for (int y = x; y > 0 && times[y] < times[y - 1]; y--) {
                double t = times[y]; times[y] = times[y - 1]; times[y - 1] = t;
            }
        double ms = times[iters / 2];
        double bytes = (double)batch * seq * hkv * (d + dv) * (double)aule_dtype_size(dt);
        double gbs = bytes / (ms * 1e-3) / 1e9;
        bench_row row = {.device = info->name, .kernel = s->name, .kind = "decode",
                         .variant = info->backend == AULE_BACKEND_CPU ? info->isa : "scalar",
                         .dtype = dtype_text(s->dtype), .layout = page ? "paged" : "contiguous", .b = batch, .h = h,
                         .hkv = hkv, .sq = 1, .sk = seq, .d = d, .causal = auegen_spec_causal(s), .ms = ms,
                         .tflops = -1, .gbs = gbs, .wall_ms = -1};
        print_row(fmt, &row);
    }
    free(times);
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(o);
    aule_tensor_destroy(bt);
    aule_tensor_destroy(lens);
    return rc;
}

static int cmd_bench(int argc, char **argv)
{
    common_opts o = {0};
    int batch = 1, heads = 0, iters = 10, seqs[16] = {512, 1024, 2048}, nseq = 3;
    bool stats = false;
    out_format fmt = OUT_TABLE;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--spec") == 0 && (v = flag_value(argc, argv, &i)))
            o.spec = v;
        else if (strcmp(argv[i], "--kernel") == 0 && (v = flag_value(argc, argv, &i)))
            o.kernel = v;
        else if (strcmp(argv[i], "--stats") == 0)
            stats = true;
        else if (strcmp(argv[i], "--batch") == 0 && (v = flag_value(argc, argv, &i))) {
            if (!parse_int("bench", "--batch", v, 1, 1 << 16, &batch))
                return EXIT_USAGE;
        } else if (strcmp(argv[i], "--heads") == 0 && (v = flag_value(argc, argv, &i))) {
            if (!parse_int("bench", "--heads", v, 1, 1 << 16, &heads))
                return EXIT_USAGE;
        } else if (strcmp(argv[i], "--iters") == 0 && (v = flag_value(argc, argv, &i))) {
            if (!parse_int("bench", "--iters", v, 1, 1 << 20, &iters))
                return EXIT_USAGE;
        }
        else if (strcmp(argv[i], "--seq") == 0 && (v = flag_value(argc, argv, &i)))
            nseq = parse_list(v, seqs, 16);
        else if (strcmp(argv[i], "--csv") == 0)
            fmt = OUT_CSV;
        else if (strcmp(argv[i], "--json") == 0)
            fmt = OUT_JSON;
        else {
            fprintf(stderr, "aule bench: unexpected argument '%s'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!o.spec || batch < 1 || heads < 0 || iters < 1 || nseq < 1) {
        fprintf(stderr, "aule bench: --spec is required; --batch, --heads, --iters, --seq must be positive\n");
        return EXIT_USAGE;
    }
    auegen_spec_file *f = load_specs(o.spec);
    if (!f)
        return EXIT_FAIL;
    aule_context *ctx = open_context_with(true);   /* device timestamps */
    if (!ctx) {
        auegen_spec_file_destroy(f);
        return EXIT_FAIL;
    }
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    if (fmt == OUT_CSV)
        printf("%s\n", bench_fields);
    else if (fmt == OUT_TABLE)
        printf("aule bench %s on %s: median of %d calls, device time from timestamps (wall: submitted and waited)\n"
               "%-26s %-7s %-8s %5s %5s %7s %7s %10s %9s %10s\n",
               o.spec, info.name, iters, "kernel", "kind", "variant", "B", "H", "Sq", "Sk", "ms", "TFLOP/s", "wall ms");
    int rc = 0;
    for (int k = 0; k < auegen_spec_file_count(f) && rc == 0; k++) {
        const auegen_spec *s = auegen_spec_file_get(f, k);
        if (o.kernel && strcmp(o.kernel, s->name) != 0)
            continue;
        int h = heads ? heads : 32;
        if (h % s->gqa) {
            fprintf(stderr, "aule bench: --heads %d is not a multiple of gqa %d\n", h, s->gqa);
            rc = EXIT_USAGE;
            break;
        }
        prepare_with_progress(ctx, s);
        if (s->kind == AUEGEN_KIND_DECODE) {
            for (int i = 0; i < nseq && rc == 0; i++)
                rc = bench_decode(ctx, &info, s, batch, h, seqs[i], iters, fmt);
            continue;
        }
        if (stats) {
            /* The driver's view of the kernel: registers, spills, ... (VK_KHR_pipeline_executable_properties). */
            char text[4096];
            aule_status sst = aule_kernel_statistics(ctx, s, text, sizeof text);
            fprintf(fmt != OUT_TABLE ? stderr : stdout, "%s statistics: %s\n%s", s->name,
                    sst ? aule_context_last_error(ctx) : "", sst ? "" : text);
        }
        for (int i = 0; i < nseq && rc == 0; i++) {
            int sq = seqs[i];
            aule_tensor_desc qd = {.dtype = (aule_dtype)s->dtype, .ndim = 4, .shape = {batch, h, sq, s->head_dim}};
            aule_tensor_desc kd = {.dtype = (aule_dtype)s->dtype, .ndim = 4,
                                   .shape = {batch, h / s->gqa, sq, s->head_dim}};
            aule_tensor_desc vd = kd, od = qd;
            vd.shape[3] = od.shape[3] = s->head_dim_v;
            aule_tensor *q = NULL, *kk = NULL, *v = NULL, *out = NULL;
            aule_status st = aule_tensor_create(ctx, &qd, &q);
            if (!st) st = aule_tensor_create(ctx, &kd, &kk);
            if (!st) st = aule_tensor_create(ctx, &vd, &v);
            if (!st) st = aule_tensor_create(ctx, &od, &out);
            if (!st) st = fill_random(q, 1);
            if (!st) st = fill_random(kk, 2);
            if (!st) st = fill_random(v, 3);
            aule_forward_args a = {.q = q, .k = kk, .v = v, .o = out};
            double *times = calloc((size_t)iters, sizeof *times), *walls = calloc((size_t)iters, sizeof *walls);
            if ((!times || !walls) && !st) st = AULE_ERROR_OUT_OF_MEMORY;
            /* Warm up for at least half a second of calls: a GPU idling between
             * processes needs that long to reach its clocks (the same kernel measured
             * 39 and 136 TFLOP/s in two runs with two warm-up calls). */
            double warm0 = aule_clock_ms();
            for (int w = 0; !st && (w < 2 || aule_clock_ms() - warm0 < 500.0); w++)
                st = aule_attention_forward(ctx, s, &a);
            for (int it = 0; it < iters && !st; it++) {
                double t0 = aule_clock_ms();
                st = aule_attention_forward(ctx, s, &a);
                walls[it] = aule_clock_ms() - t0;
                double gpu = aule_context_last_gpu_ms(ctx);
                times[it] = gpu > 0 ? gpu : walls[it];
            }
            if (st) {
                fprintf(stderr, "aule bench: %s: %s: %s\n", s->name, aule_status_string(st), aule_context_last_error(ctx));
                rc = EXIT_FAIL;
            } else {
                for (int x = 1; x < iters; x++)   /* insertion sort: the medians */
                    for (int y = x; y > 0; y--) {
                        if (times[y] < times[y - 1]) {
                            double t = times[y]; times[y] = times[y - 1]; times[y - 1] = t;
                        }
                        if (walls[y] < walls[y - 1]) {
                            double t = walls[y]; walls[y] = walls[y - 1]; walls[y - 1] = t;
                        }
                    }
                double ms = times[iters / 2], wall = walls[iters / 2];
                double flops = 2.0 * batch * h * (double)sq * sq * (s->head_dim + s->head_dim_v);
                if (auegen_spec_causal(s))
                    flops /= 2;
                double tf = flops / (ms * 1e-3) / 1e12;
                aule_kernel_report rep;
                aule_kernel_prepare(ctx, s, &rep);
                bench_row row = {.device = info.name, .kernel = s->name, .kind = "fwd",
                                 .variant = variant_text(&info, &rep.plan), .dtype = dtype_text(s->dtype),
                                 .layout = "bhsd", .b = batch, .h = h, .hkv = h / s->gqa, .sq = sq, .sk = sq,
                                 .d = s->head_dim, .causal = auegen_spec_causal(s), .ms = ms, .tflops = tf, .gbs = -1,
                                 .wall_ms = wall};
                print_row(fmt, &row);
                /* Training specs: forward and backward together, counted as 3.5x the
                 * forward's FLOPs (the backward as 2.5x, as FlashAttention counts it). */
                if (s->backward && bench_train(ctx, s, &a, iters, flops, &row, fmt))
                    rc = 1;
            }
            free(times);
            free(walls);
            aule_tensor_destroy(q);
            aule_tensor_destroy(kk);
            aule_tensor_destroy(v);
            aule_tensor_destroy(out);
        }
    }
    aule_context_destroy(ctx);
    auegen_spec_file_destroy(f);
    return rc;
}

static const char *npy_dtype_for(auegen_dtype d)
{
    return d == AUEGEN_DTYPE_F32 ? "<f4" : d == AUEGEN_DTYPE_BF16 ? "<u2" : "<f2";
}

/* Strides of a [B][S][H][D] array seen as [B][H][S][D]; false when they overflow. */
static bool bshd_strides(int64_t b, int64_t h, int64_t s, int64_t d, int64_t strides[4])
{
    (void)b;
    int64_t hd, shd;
    if (__builtin_mul_overflow(h, d, &hd) || __builtin_mul_overflow(s, hd, &shd))
        return false;
    strides[0] = shd;
    strides[1] = d;
    strides[2] = hd;
    strides[3] = 1;
    return true;
}

/* Reads an .npy array of 4 dims in the spec's dtype into a new device tensor. */
static aule_status load_tensor(aule_context *ctx, const char *path, auegen_dtype dt, bool bshd, aule_tensor **out,
                               int64_t shape_out[4])
{
    aule_npy_array a;
    char err[256];
    aule_device_info info;
    aule_context_device_info(ctx, &info);
    /* Nothing larger than a tensor can hold is read at all. */
    size_t max = info.max_storage_buffer_range < SIZE_MAX ? (size_t)info.max_storage_buffer_range : SIZE_MAX;
    if (aule_npy_read_max(path, max, &a, err, sizeof err) != 0) {
        fprintf(stderr, "aule run: %s\n", err);
        return AULE_ERROR_IO;
    }
    aule_status st = AULE_OK;
    if (strcmp(a.dtype, npy_dtype_for(dt)) != 0 || a.ndim != 4) {
        fprintf(stderr, "aule run: %s is %s with %d dims; this kernel takes %s with 4 dims\n", path, a.dtype, a.ndim,
                npy_dtype_for(dt));
        st = AULE_ERROR_INVALID_ARGUMENT;
    }
    for (int i = 0; st == AULE_OK && i < 4; i++) {
        if (a.shape[i] < 1 || a.shape[i] > ((int64_t)1 << 32)) {
            fprintf(stderr, "aule run: %s: dimension %d is %lld; each must be 1..2^32\n", path, i,
                    (long long)a.shape[i]);
            st = AULE_ERROR_INVALID_ARGUMENT;
        }
    }
    if (st == AULE_OK) {
        int64_t b = a.shape[0], h = bshd ? a.shape[2] : a.shape[1], s = bshd ? a.shape[1] : a.shape[2], d = a.shape[3];
        aule_tensor_desc desc = {.dtype = (aule_dtype)dt, .ndim = 4, .shape = {b, h, s, d}};
        if (bshd && !bshd_strides(b, h, s, d, desc.strides)) {
            fprintf(stderr, "aule run: %s: the shape addresses too much memory\n", path);
            st = AULE_ERROR_INVALID_ARGUMENT;
        } else {
            st = aule_tensor_create(ctx, &desc, out);
            if (st == AULE_OK)
                st = aule_tensor_write(*out, a.data, a.count * a.elem_size);
            if (st != AULE_OK)
                fprintf(stderr, "aule run: %s: %s\n", path, aule_context_last_error(ctx));
        }
        memcpy(shape_out, a.shape, 4 * sizeof *shape_out);
    }
    aule_npy_free(&a);
    return st;
}

/* Reads t and writes it as .npy to tmp (beside path). */
static bool write_output(const aule_tensor *t, const char *path, const char *tmp, const char *dtype, int ndim,
                         const int64_t *shape)
{
    size_t n = aule_tensor_bytes(t);
    void *data = malloc(n);
    char err[512] = "";
    bool ok = data && aule_tensor_read(t, data, n) == AULE_OK
              && aule_npy_write(tmp, dtype, ndim, shape, data, err, sizeof err) == 0;
    if (!ok)
        fprintf(stderr, "aule run: writing %s: %s\n", path, data ? err : "out of memory");
    free(data);
    return ok;
}

/* An output may only replace a regular file, and --out and --lse must differ. */
/* Every output is a new or regular file, and no two outputs are the same file. */
static bool outputs_ok(const char *const *paths, const char *const *flags, int n)
{
    struct stat st[8];
    bool exists[8] = {false};
    for (int i = 0; i < n && i < 8; i++) {
        if (!paths[i])
            continue;
        if (lstat(paths[i], &st[i]) == 0) {
            exists[i] = true;
            if (!S_ISREG(st[i].st_mode)) {
                fprintf(stderr, "aule run: %s exists and is not a regular file: not replaced\n", paths[i]);
                return false;
            }
        }
        for (int j = 0; j < i; j++)
            if (paths[j] && (strcmp(paths[i], paths[j]) == 0
                             || (exists[i] && exists[j] && st[i].st_dev == st[j].st_dev && st[i].st_ino == st[j].st_ino))) {
                fprintf(stderr, "aule run: %s and %s name the same file (%s)\n", flags[j], flags[i], paths[i]);
                return false;
            }
    }
    return true;
}

static int cmd_run(int argc, char **argv)
{
    common_opts o = {0};
    const char *qp = NULL, *kp = NULL, *vp = NULL, *op = NULL, *lp = NULL;
    const char *dop = NULL, *dqp = NULL, *dkp = NULL, *dvp = NULL;   /* backward specs */
    bool bshd = false, causal = false;
    const char *window = NULL;
    double softcap = -1, scale = 0;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        const char *a = argv[i];
        if (strcmp(a, "--bshd") == 0) { bshd = true; continue; }
        if (strcmp(a, "--causal") == 0) { causal = true; continue; }
        if (!(v = flag_value(argc, argv, &i)))
            return EXIT_USAGE;
        if (strcmp(a, "--spec") == 0) o.spec = v;
        else if (strcmp(a, "--kernel") == 0) o.kernel = v;
        else if (strcmp(a, "--q") == 0) qp = v;
        else if (strcmp(a, "--k") == 0) kp = v;
        else if (strcmp(a, "--v") == 0) vp = v;
        else if (strcmp(a, "--out") == 0) op = v;
        else if (strcmp(a, "--lse") == 0) lp = v;
        else if (strcmp(a, "--do") == 0) dop = v;
        else if (strcmp(a, "--dq") == 0) dqp = v;
        else if (strcmp(a, "--dk") == 0) dkp = v;
        else if (strcmp(a, "--dv") == 0) dvp = v;
        else if (strcmp(a, "--window") == 0) window = v;
        else if (strcmp(a, "--softcap") == 0) {
            if (!parse_double("run", "--softcap", v, 0.0, false, 1e30, &softcap))   /* 0: no softcap */
                return EXIT_USAGE;
        } else if (strcmp(a, "--scale") == 0) {
            if (!parse_double("run", "--scale", v, 0.0, true, 1e30, &scale))
                return EXIT_USAGE;
        } else {
            fprintf(stderr, "aule run: unexpected argument '%s'\n", a);
            return EXIT_USAGE;
        }
    }
    if (!o.spec || !qp || !kp || !vp || !op) {
        fprintf(stderr, "aule run: --spec, --q, --k, --v and --out are required\n");
        return EXIT_USAGE;
    }
    if (!dop != !(dqp && dkp && dvp) || (!dop && (dqp || dkp || dvp))) {
        fprintf(stderr, "aule run: the backward takes --do with all of --dq, --dk and --dv\n");
        return EXIT_USAGE;
    }
    const char *const out_paths[5] = {op, lp, dqp, dkp, dvp};
    const char *const out_flags[5] = {"--out", "--lse", "--dq", "--dk", "--dv"};
    if (!outputs_ok(out_paths, out_flags, 5))
        return EXIT_USAGE;
    auegen_spec_file *f = load_specs(o.spec);
    if (!f)
        return EXIT_FAIL;
    const auegen_spec *found = o.kernel ? auegen_spec_file_find(f, o.kernel) : auegen_spec_file_get(f, 0);
    if (!found || (!o.kernel && auegen_spec_file_count(f) > 1)) {
        fprintf(stderr, "aule run: %s\n", found ? "the spec declares several kernels: name one with --kernel"
                                                : "no such kernel in the spec");
        auegen_spec_file_destroy(f);
        return EXIT_USAGE;
    }
    auegen_spec spec = *found;
    auegen_spec_file_destroy(f);
    if (dop && !spec.backward) {
        fprintf(stderr, "aule run: --do needs a spec with backward = true (%s has none)\n", spec.name);
        return EXIT_USAGE;
    }
    /* Mask overrides, validated like the spec itself. */
    if (causal)
        spec.window_right = 0;
    if (window) {
        char left[32];
        const char *comma = strchr(window, ',');
        if (!comma || (size_t)(comma - window) >= sizeof left) {
            fprintf(stderr, "aule run: --window takes LEFT,RIGHT (-1 for unbounded)\n");
            return EXIT_USAGE;
        }
        snprintf(left, sizeof left, "%.*s", (int)(comma - window), window);
        if (!parse_int("run", "--window LEFT", left, -1, INT_MAX, &spec.window_left)
            || !parse_int("run", "--window RIGHT", comma + 1, -1, INT_MAX, &spec.window_right))
            return EXIT_USAGE;
    }
    if (softcap >= 0)
        spec.softcap = softcap;
    auegen_diag diag = {0};
    if (auegen_spec_normalize(&spec, &spec, &diag) != AUEGEN_OK) {
        fprintf(stderr, "aule run: %s\n", diag.errors[0].message);
        return EXIT_USAGE;
    }
    aule_context *ctx = open_context();
    if (!ctx)
        return EXIT_FAIL;
    aule_tensor *q = NULL, *k = NULL, *v = NULL, *out = NULL, *lse = NULL;
    int64_t qs[4], ks[4], vs[4];
    aule_status st = load_tensor(ctx, qp, spec.dtype, bshd, &q, qs);
    if (!st) st = load_tensor(ctx, kp, spec.dtype, bshd, &k, ks);
    if (!st) st = load_tensor(ctx, vp, spec.dtype, bshd, &v, vs);
    int64_t b = qs[0], h = bshd ? qs[2] : qs[1], sq = bshd ? qs[1] : qs[2], dv = vs[3];
    if (!st) {
        aule_tensor_desc od = {.dtype = (aule_dtype)spec.dtype, .ndim = 4, .shape = {b, h, sq, dv}};
        if (bshd && !bshd_strides(b, h, sq, dv, od.strides))
            st = AULE_ERROR_INVALID_ARGUMENT;       /* cannot happen: the inputs' strides fit */
        if (!st)
            st = aule_tensor_create(ctx, &od, &out);
        if (st)
            fprintf(stderr, "aule run: %s: %s\n", op, aule_context_last_error(ctx));
    }
    if (!st && (lp || dop)) {        /* the backward needs the forward's LSE */
        aule_tensor_desc ld = {.dtype = AULE_DTYPE_F32, .ndim = 3, .shape = {b, h, sq}};
        st = aule_tensor_create(ctx, &ld, &lse);
        if (st)
            fprintf(stderr, "aule run: %s: %s\n", lp ? lp : "lse", aule_context_last_error(ctx));
    }
    aule_tensor *dout = NULL, *grads[3] = {NULL, NULL, NULL};
    int64_t dos[4];
    if (!st && dop) {
        st = load_tensor(ctx, dop, spec.dtype, bshd, &dout, dos);
        const aule_tensor *like[3] = {q, k, v};
        for (int g = 0; g < 3 && !st; g++) {
            aule_tensor_desc gd = *aule_tensor_get_desc(like[g]);
            st = aule_tensor_create(ctx, &gd, &grads[g]);
        }
        if (st)
            fprintf(stderr, "aule run: %s: %s\n", dop, aule_context_last_error(ctx));
    }
    if (!st) {
        aule_forward_args a = {.q = q, .k = k, .v = v, .o = out, .lse = lse, .scale = (float)scale};
        st = aule_attention_forward(ctx, &spec, &a);
        if (!st && dop) {
            aule_backward_args ba = {.q = q, .k = k, .v = v, .o = out, .dout = dout, .lse = lse, .dq = grads[0],
                                     .dk = grads[1], .dv = grads[2], .scale = (float)scale};
            st = aule_attention_backward(ctx, &spec, &ba);
        }
        if (st)
            fprintf(stderr, "aule run: %s: %s\n", aule_status_string(st), aule_context_last_error(ctx));
    }
    int rc = st ? EXIT_FAIL : 0;
    if (!st) {
        /* Every output is written to a temp name first and renamed into place only
         * when all are complete: a failure leaves none changed. */
        int64_t shape[4] = {b, bshd ? sq : h, bshd ? h : sq, dv};
        int64_t lshape[3] = {b, h, sq};
        const aule_tensor *tensors[5] = {out, lp ? lse : NULL, grads[0], grads[1], grads[2]};
        int64_t gshape[3][4];
        for (int g = 0; g < 3; g++) {
            const int64_t *s4 = grads[g] ? aule_tensor_get_desc(grads[g])->shape : shape;
            gshape[g][0] = s4[0], gshape[g][1] = bshd ? s4[2] : s4[1], gshape[g][2] = bshd ? s4[1] : s4[2];
            gshape[g][3] = s4[3];
        }
        const int64_t *shapes[5] = {shape, lshape, gshape[0], gshape[1], gshape[2]};
        char tmps[5][4200];
        bool done = true;
        int written = 0;
        for (int i = 0; i < 5 && done; i++) {
            if (!tensors[i])
                continue;
            snprintf(tmps[i], sizeof tmps[i], "%s.aule-tmp.%ld", out_paths[i], (long)getpid());
            done = write_output(tensors[i], out_paths[i], tmps[i], i == 1 ? "<f4" : npy_dtype_for(spec.dtype),
                                i == 1 ? 3 : 4, shapes[i]);
            written = i + 1;
        }
        for (int i = 0; i < 5 && done; i++)
            if (tensors[i] && rename(tmps[i], out_paths[i]) != 0) {
                fprintf(stderr, "aule run: renaming %s into place: %s\n", out_paths[i], strerror(errno));
                done = false;
            }
        if (!done)
            rc = EXIT_FAIL;
        for (int i = 0; i < written; i++)
            if (tensors[i])
                unlink(tmps[i]);
    }
    aule_tensor_destroy(dout);
    for (int g = 0; g < 3; g++)
        aule_tensor_destroy(grads[g]);
    aule_tensor_destroy(q);
    aule_tensor_destroy(k);
    aule_tensor_destroy(v);
    aule_tensor_destroy(out);
    aule_tensor_destroy(lse);
    aule_context_destroy(ctx);
    return rc;
}

/* --flag=value becomes --flag value, so every command takes both forms. */
static char **split_equals(int argc, char **argv, int *out_argc)
{
    char **v = calloc((size_t)argc * 2 + 1, sizeof *v);
    int n = 0;
    for (int i = 0; v && i < argc; i++) {
        char *eq = strncmp(argv[i], "--", 2) == 0 ? strchr(argv[i], '=') : NULL;
        if (i > 0 && eq) {
            *eq = '\0';
            v[n++] = argv[i];
            v[n++] = eq + 1;
        } else {
            v[n++] = argv[i];
        }
    }
    *out_argc = n;
    return v;
}

static int dispatch_command(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("%s\n", aule_version_string());
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (command_usage(argv[1]) == 0)
                return 0;
            break;
        }
    if (getenv("AULE_VERBOSE"))
        verbosity = AULE_LOG_DEBUG;
    if (strcmp(argv[1], "info") == 0)
        return cmd_info();
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(argv[1], "bench") == 0)
        return cmd_bench(argc, argv);
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    fprintf(stderr, "aule: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* Line by line, even into a pipe: rows of a long bench appear as they finish. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int n;
    char **v = split_equals(argc, argv, &n);
    if (!v) {
        fprintf(stderr, "aule: out of memory\n");
        return EXIT_INTERNAL;
    }
    int rc = dispatch_command(n, v);
    free(v);
    return rc;
}
