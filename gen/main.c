/* SPDX-License-Identifier: MIT */
/*
 * main.c - the auegen command line. Parses argv and calls the generator
 * library; everything else lives in the library.
 */
#include "auegen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_SPEC = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

static void usage(FILE *f)
{
    fprintf(f,
        "usage: auegen --spec FILE [--kernel NAME] [--target PROFILE[,PROFILE...]] --out DIR\n"
        "              [--emit glsl,spirv,stub] [--no-opt] [--register FILE] [--depfile FILE]\n"
        "       auegen --spec FILE [--kernel NAME] [--target LIST] --out DIR [--register FILE] --list-outputs\n"
        "       auegen --spec FILE --list\n"
        "       auegen --validate FILE.spv...\n"
        "       auegen --targets | --help | --version\n"
        "\n"
        "Generates fused attention kernels from a Lua spec: for each kernel and target,\n"
        "DIR/NAME.TARGET.comp (GLSL), .spv (validated SPIR-V), .c and .h (C stub); for a\n"
        "native CPU profile (cpu-*), DIR/NAME.TARGET.c, a C kernel (docs/cpu.md).\n"
        "Files are written only when their content changes.\n"
        "\n"
        "  --spec FILE      the spec file (docs/spec.md)\n"
        "  --kernel NAME    only this kernel of the file\n"
        "  --target LIST    device profiles to plan for (default: portable); see --targets\n"
        "  --out DIR        output folder (created if missing)\n"
        "  --emit LIST      which files: glsl, spirv, stub (default: all)\n"
        "  --no-opt         skip SPIRV-Tools' performance passes\n"
        "  --list           print the kernels the spec declares and their canonical form\n"
        "  --list-outputs   print the files a run with these arguments writes, one a line; generate nothing\n"
        "  --register FILE  also write FILE (in DIR), a C file that includes every GPU .c written and\n"
        "                   registers their kernels with libaule when the program loads\n"
        "                   (aule_register_kernels); the CPU kernels (compiled on their own, each with\n"
        "                   its profile's flags) it registers by name (aule_register_cpu_kernels);\n"
        "                   rewritten on every run, so a build system can take it as the run's stamp\n"
        "  --depfile FILE   write a Makefile-style depfile: the outputs (or the --register file)\n"
        "                   depend on the spec and on auegen itself (the templates are built in)\n"
        "  --validate       validate SPIR-V files as auegen does before writing them (bf16 kernels,\n"
        "                   which a spirv-val older than SPV_KHR_bfloat16 rejects, included)\n"
        "\n"
        "exit status: 0 ok, 1 spec error (or an invalid module), 2 usage error, 3 internal error\n");
}

static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* DIR/NAME.TARGET.EXT: every output's name (NAME carries the part: NAME.reduce). */
static int output_path(char *path, size_t size, const char *dir, const char *name, const char *target,
                       const char *ext)
{
    if (snprintf(path, size, "%s/%s.%s.%s", dir, name, target, ext) >= (int)size) {
        fprintf(stderr, "auegen: output path too long\n");
        return -1;
    }
    return 0;
}

static int write_one(const char *dir, const char *name, const char *target, const char *ext,
                     const void *data, size_t size, int *written)
{
    char path[4096];
    if (output_path(path, sizeof path, dir, name, target, ext))
        return -1;
    bool changed = false;
    auegen_status st = auegen_write_if_changed(path, data, size, &changed);
    if (st != AUEGEN_OK) {
        fprintf(stderr, "auegen: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    *written += changed;
    return 0;
}

/* A growing text buffer (the --register file, the depfile); NULL text after a failed append. */
typedef struct textbuf {
    char *s;
    size_t len, cap;
    bool failed;
} textbuf;

static void text_add(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(textbuf *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

/* A path in a depfile: spaces, '#' and '$' escaped as make reads them. */
static void text_add_dep_path(textbuf *t, const char *path)
{
    for (const char *p = path; *p; p++) {
        if (*p == ' ' || *p == '#' || *p == '\\')
            text_add(t, "\\%c", *p);
        else if (*p == '$')
            text_add(t, "$$");
        else
            text_add(t, "%c", *p);
    }
}

/* The C symbol of a kernel's auegen_kernel_info, as gen/generate.c's stubs name it:
 * aule_kernel_NAME[_PART]_TARGET, '-' and '.' of the target as '_'. */
static void kernel_symbol(char *out, size_t size, const char *fname_ident, const char *target)
{
    int n = snprintf(out, size, "aule_kernel_%s_", fname_ident);
    for (const char *p = target; *p && n > 0 && (size_t)n + 1 < size; p++)
        out[n++] = (*p == '-' || *p == '.') ? '_' : *p;
    if (n > 0 && (size_t)n < size)
        out[n] = '\0';
}

static void print_targets(void)
{
    for (int i = 0; i < auegen_target_profile_count(); i++) {
        const auegen_target *t = auegen_target_profile(i);
        printf("%-18s subgroup %-3d shared %6d B  coopmat shapes %d\n", t->name, t->subgroup_size,
               t->shared_memory_bytes, t->coopmat_count);
    }
    for (int i = 0; i < auegen_cpu_profile_count(); i++) {
        const auegen_cpu_profile *c = auegen_cpu_profile_get(i);
        printf("%-18s native CPU, %s: %d lanes, tile %dx%d, %s\n", c->name, c->arch, c->lanes, c->tile_rows,
               c->tile_keys, c->cflags);
    }
}

/* Whether target t of the run makes a file for this kernel part: a CPU profile
 * only for the main kernel of a spec the CPU backend runs. */
static bool cpu_target_skips(const auegen_cpu_profile *cpu, const auegen_spec *s, const char *part)
{
    return cpu && (part || !auegen_cpu_supports(s));
}

/* One native CPU kernel: DIR/NAME.PROFILE.c (and its line in the depfile). */
static int generate_cpu(const auegen_spec *s, const auegen_cpu_profile *cpu, const char *shown, const char *spec_path,
                        const char *out, textbuf *deps)
{
    char *text = NULL, key[33], log[512] = "";
    auegen_status st = auegen_generate_cpu(s, cpu, shown, &text, key, log, sizeof log);
    if (st != AUEGEN_OK) {
        fprintf(stderr, "%s: kernel %s, target %s: %s: %s\n", spec_path, s->name, cpu->name, auegen_status_string(st),
                log);
        return st == AUEGEN_ERROR_PLAN || st == AUEGEN_ERROR_SPEC ? EXIT_SPEC : EXIT_INTERNAL;
    }
    int written = 0, rc = write_one(out, s->name, cpu->name, "c", text, strlen(text), &written) ? EXIT_INTERNAL : 0;
    free(text);
    if (rc == 0 && deps) {
        char path[4096];
        if (output_path(path, sizeof path, out, s->name, cpu->name, "c") == 0) {
            text_add_dep_path(deps, path);
            text_add(deps, " \\\n");
        }
    }
    if (rc == 0)
        printf("%-24s %-14s %-7s %d lanes, tile %3dx%-3d %s  %d file(s) written\n", s->name, cpu->name, "cpu",
               cpu->lanes, cpu->tile_rows, cpu->tile_keys, cpu->arch, written);
    return rc;
}

/* auegen --validate: each file as the generator validates its modules. */
static int validate_files(int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0)
            size = ftell(f);
        if (!f || size < 0 || size > (64L << 20) || size % 4 || fseek(f, 0, SEEK_SET) != 0) {
            fprintf(stderr, "%s: %s\n", argv[i], !f ? strerror(errno) : "not a SPIR-V file (size)");
            if (f)
                fclose(f);
            rc = rc ? rc : EXIT_SPEC;
            continue;
        }
        size_t n = (size_t)size / 4;
        uint32_t *w = malloc(n ? n * 4 : 4);
        bool read_ok = w && fread(w, 4, n, f) == n;
        fclose(f);
        char log[1024];
        auegen_status st = read_ok ? auegen_spirv_validate(w, n, log, sizeof log) : AUEGEN_ERROR_OUT_OF_MEMORY;
        bool bf16 = false;
        for (size_t k = 5; read_ok && k + 4 < n && k < 64; k++)   /* OpExtension "SPV_KHR_bfloat16" in the header */
            bf16 = bf16 || ((w[k] & 0xffffu) == 10 && memcmp(w + k + 1, "SPV_KHR_bfloat16", 16) == 0);
        free(w);
        if (st == AUEGEN_OK) {
            printf("ok  %s%s\n", argv[i], bf16 ? "  (bf16: its carrier form validated, SPV_KHR_bfloat16's rule checked)" : "");
        } else {
            fprintf(stderr, "%s: %s\n", argv[i], read_ok ? log : "read failed");
            rc = rc ? rc : (read_ok ? EXIT_SPEC : EXIT_INTERNAL);
        }
    }
    return rc;
}

static int print_diag(const auegen_spec_file *f)
{
    const auegen_diag *d = auegen_spec_file_diag(f);
    for (int i = 0; d && i < d->count; i++) {
        char line[512];
        auegen_error_format(&d->errors[i], auegen_spec_file_name(f), line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    if (d && d->truncated)
        fprintf(stderr, "%s: too many errors, stopping after %d\n", auegen_spec_file_name(f), AUEGEN_MAX_ERRORS);
    return d ? d->count : 0;
}

int main(int argc, char **argv)
{
    const char *spec_path = NULL, *kernel = NULL, *targets = "portable", *out = NULL, *emit = "glsl,spirv,stub";
    const char *register_path = NULL, *depfile = NULL;
    bool list = false, list_outputs = false, optimize = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **val = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("auegen %s (%s, SPIRV-Tools %s)\n", AUEGEN_VERSION_STRING, auegen_compiler_version(),
                   auegen_spirv_tools_version());
            return 0;
        } else if (strcmp(a, "--targets") == 0) {
            print_targets();
            return 0;
        } else if (strcmp(a, "--validate") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "auegen: --validate needs at least one file\n");
                return EXIT_USAGE;
            }
            return validate_files(argc - i - 1, argv + i + 1);
        } else if (strcmp(a, "--list") == 0) {
            list = true;
        } else if (strcmp(a, "--list-outputs") == 0) {
            list_outputs = true;
        } else if (strcmp(a, "--register") == 0) {
            val = &register_path;
        } else if (strcmp(a, "--depfile") == 0) {
            val = &depfile;
        } else if (strcmp(a, "--no-opt") == 0) {
            optimize = false;
        } else if (strcmp(a, "--spec") == 0) {
            val = &spec_path;
        } else if (strcmp(a, "--kernel") == 0) {
            val = &kernel;
        } else if (strcmp(a, "--target") == 0) {
            val = &targets;
        } else if (strcmp(a, "--out") == 0) {
            val = &out;
        } else if (strcmp(a, "--emit") == 0) {
            val = &emit;
        } else {
            fprintf(stderr, "auegen: unknown argument '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
        if (val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "auegen: %s needs a value\n", a);
                return EXIT_USAGE;
            }
            *val = argv[++i];
        }
    }
    if (!spec_path || (!list && !out)) {
        fprintf(stderr, "auegen: --spec and --out (or --list) are required\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    bool want_glsl = false, want_spirv = false, want_stub = false;
    {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", emit);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            if (strcmp(tok, "glsl") == 0)
                want_glsl = true;
            else if (strcmp(tok, "spirv") == 0)
                want_spirv = true;
            else if (strcmp(tok, "stub") == 0)
                want_stub = true;
            else {
                fprintf(stderr, "auegen: --emit takes glsl, spirv, stub (got '%s')\n", tok);
                return EXIT_USAGE;
            }
        }
    }
    if (register_path && !want_stub) {
        fprintf(stderr, "auegen: --register needs the C stubs (--emit ...,stub)\n");
        return EXIT_USAGE;
    }
    const auegen_target *chosen[16];
    const auegen_cpu_profile *chosen_cpu[16];
    const char *chosen_name[16];
    int ntargets = 0;
    {
        char buf[512];
        snprintf(buf, sizeof buf, "%s", targets);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            const auegen_target *t = auegen_target_profile_find(tok);
            const auegen_cpu_profile *cpu = t ? NULL : auegen_cpu_profile_find(tok);
            if (!t && !cpu) {
                fprintf(stderr, "auegen: unknown target '%s' (auegen --targets lists them)\n", tok);
                return EXIT_USAGE;
            }
            if (ntargets == 16) {
                fprintf(stderr, "auegen: at most 16 targets at once\n");
                return EXIT_USAGE;
            }
            chosen[ntargets] = t;
            chosen_cpu[ntargets] = cpu;
            chosen_name[ntargets++] = t ? t->name : cpu->name;
        }
        if (ntargets == 0) {
            fprintf(stderr, "auegen: --target is empty\n");
            return EXIT_USAGE;
        }
    }

    bool any_cpu = false;
    for (int t = 0; t < ntargets; t++)
        any_cpu = any_cpu || chosen_cpu[t];

    auegen_spec_file *file = NULL;
    auegen_status st = auegen_spec_file_load(spec_path, NULL, &file);
    if (st != AUEGEN_OK) {
        if (file)
            print_diag(file);
        else
            fprintf(stderr, "auegen: %s: %s\n", spec_path, auegen_status_string(st));
        auegen_spec_file_destroy(file);
        return st == AUEGEN_ERROR_SPEC || st == AUEGEN_ERROR_IO ? EXIT_SPEC : EXIT_INTERNAL;
    }
    if (kernel && !auegen_spec_file_find(file, kernel)) {
        fprintf(stderr, "%s: no kernel named '%s' (auegen --spec %s --list)\n", spec_path, kernel, spec_path);
        auegen_spec_file_destroy(file);
        return EXIT_SPEC;
    }
    if (list) {
        for (int i = 0; i < auegen_spec_file_count(file); i++) {
            const auegen_spec *s = auegen_spec_file_get(file, i);
            char canon[512];
            auegen_spec_canonical(s, canon, sizeof canon);
            printf("%-28s %s\n", s->name, canon);
        }
        auegen_spec_file_destroy(file);
        return 0;
    }
    if (list_outputs) {
        static const char *const exts[] = {"comp", "spv", "c", "h"};
        const bool wanted[] = {want_glsl, want_spirv, want_stub, want_stub};
        int rc = 0;
        for (int i = 0; i < auegen_spec_file_count(file) && rc == 0; i++) {
            const auegen_spec *s = auegen_spec_file_get(file, i);
            if (kernel && strcmp(kernel, s->name) != 0)
                continue;
            const char *const *extra = auegen_spec_parts(s);
            for (int pi = -1; (pi < 0 || extra[pi]) && rc == 0; pi++)
                for (int t = 0; t < ntargets && rc == 0; t++)
                    for (int e = 0; e < 4 && rc == 0; e++) {
                        char fname[AUEGEN_MAX_NAME + 16], path[4096];
                        snprintf(fname, sizeof fname, pi >= 0 ? "%s.%s" : "%s", s->name, pi >= 0 ? extra[pi] : "");
                        if (!wanted[e] || cpu_target_skips(chosen_cpu[t], s, pi >= 0 ? extra[pi] : NULL)
                            || (chosen_cpu[t] && strcmp(exts[e], "c") != 0))
                            continue;
                        if (output_path(path, sizeof path, out, fname, chosen_name[t], exts[e]))
                            rc = EXIT_USAGE;
                        else
                            printf("%s\n", path);
                    }
        }
        if (rc == 0 && register_path)
            printf("%s\n", register_path);
        auegen_spec_file_destroy(file);
        return rc;
    }
    if (make_dirs(out) != 0) {
        fprintf(stderr, "auegen: cannot create output folder %s: %s\n", out, strerror(errno));
        auegen_spec_file_destroy(file);
        return EXIT_INTERNAL;
    }
    int rc = 0;
    /* Outputs name the spec as given, but never by an absolute path. */
    const char *shown = spec_path[0] == '/' ? strrchr(spec_path, '/') + 1 : spec_path;
    textbuf reg = {0}, reg_list = {0}, reg_cpu = {0}, deps = {0};
    if (register_path) {
        text_add(&reg, "/* generated by auegen %s from %s: its kernels for target%s %s, registered with libaule"
                 " when the program or library loads */\n/* SPDX-License-Identifier: MIT */\n#include \"aule.h\"\n%s\n"
                 "/* Not exported from a shared library or plugin that links these in. */\n"
                 "#pragma GCC visibility push(hidden)\n",
                 AUEGEN_VERSION_STRING, shown, ntargets > 1 ? "s" : "", targets,
                 any_cpu ? "/* The CPU kernels' layouts and their ABI version (AULE_CPU_KERNEL_ABI). */\n"
                           "#include \"aule/cpu/cpu_internal.h\"\n" : "");
    }
    for (int i = 0; i < auegen_spec_file_count(file) && rc == 0; i++) {
        const auegen_spec *s = auegen_spec_file_get(file, i);
        if (kernel && strcmp(kernel, s->name) != 0)
            continue;
        /* The kernel, then the parts of its family (decode: reduce and append). */
        const char *const *extra = auegen_spec_parts(s);
        for (int pi = -1; (pi < 0 || extra[pi]) && rc == 0; pi++)
        for (int t = 0; t < ntargets && rc == 0; t++) {
            const char *part = pi < 0 ? NULL : extra[pi];
            char fname[AUEGEN_MAX_NAME + 16];
            snprintf(fname, sizeof fname, part ? "%s.%s" : "%s", s->name, part);
            if (chosen_cpu[t]) {
                if (cpu_target_skips(chosen_cpu[t], s, part) || !want_stub)
                    continue;
                rc = generate_cpu(s, chosen_cpu[t], shown, spec_path, out, depfile && !register_path ? &deps : NULL);
                if (rc == 0 && register_path) {
                    /* Compiled on its own with its profile's flags: declared here, not included. */
                    char pid[64];
                    snprintf(pid, sizeof pid, "%s", chosen_cpu[t]->name);
                    for (char *c = pid; *c; c++)
                        if (*c == '-' || *c == '.')
                            *c = '_';
                    text_add(&reg, "extern const aule__cpu_kernel aule__cpu_kernel_%s_%s;   /* %s.%s.c */\n", s->name,
                             pid, s->name, chosen_cpu[t]->name);
                    text_add(&reg_cpu, "    &aule__cpu_kernel_%s_%s,\n", s->name, pid);
                }
                continue;
            }
            auegen_kernel k;
            auegen_generate_options opts = {.spec_file = shown, .optimize = optimize, .skip_stub = !want_stub,
                                            .part = part};
            st = auegen_generate(s, chosen[t], &opts, &k);
            if (st != AUEGEN_OK) {
                fprintf(stderr, "%s: kernel %s, target %s: %s: %s\n", spec_path, fname, chosen[t]->name,
                        auegen_status_string(st), k.log);
                rc = st == AUEGEN_ERROR_PLAN || st == AUEGEN_ERROR_SPEC ? EXIT_SPEC : EXIT_INTERNAL;
                auegen_kernel_release(&k);
                break;
            }
            int written = 0;
            char header[512];
            snprintf(header, sizeof header, "// generated by auegen %s from %s: kernel %s, target %s, key %s\n"
                     "// SPDX-License-Identifier: MIT\n",
                     AUEGEN_VERSION_STRING, shown, fname, chosen[t]->name, k.key);
            if (want_glsl) {
                size_t hl = strlen(header), gl = strlen(k.glsl);
                char *text = malloc(hl + gl);
                if (!text) {
                    rc = EXIT_INTERNAL;
                } else {
                    memcpy(text, header, hl);
                    memcpy(text + hl, k.glsl, gl);
                    if (write_one(out, fname, chosen[t]->name, "comp", text, hl + gl, &written))
                        rc = EXIT_INTERNAL;
                    free(text);
                }
            }
            if (rc == 0 && want_spirv
                && write_one(out, fname, chosen[t]->name, "spv", k.spirv, k.spirv_words * 4, &written))
                rc = EXIT_INTERNAL;
            if (rc == 0 && want_stub
                && (write_one(out, fname, chosen[t]->name, "c", k.stub_c, strlen(k.stub_c), &written)
                    || write_one(out, fname, chosen[t]->name, "h", k.stub_h, strlen(k.stub_h), &written)))
                rc = EXIT_INTERNAL;
            if (rc == 0 && register_path) {
                char ident[AUEGEN_MAX_NAME + 16], sym[256];
                snprintf(ident, sizeof ident, part ? "%s_%s" : "%s", s->name, part);
                kernel_symbol(sym, sizeof sym, ident, chosen[t]->name);
                text_add(&reg, "#include \"%s.%s.c\"\n", fname, chosen[t]->name);
                text_add(&reg_list, "    &%s,\n", sym);
            }
            if (rc == 0 && depfile && !register_path) {
                static const char *const exts[] = {"comp", "spv", "c", "h"};
                const bool wanted[] = {want_glsl, want_spirv, want_stub, want_stub};
                for (int e = 0; e < 4; e++) {
                    char path[4096];
                    if (wanted[e] && output_path(path, sizeof path, out, fname, chosen[t]->name, exts[e]) == 0) {
                        text_add_dep_path(&deps, path);
                        text_add(&deps, " \\\n");
                    }
                }
            }
            if (rc == 0)
                printf("%-24s %-14s %-7s wg %-4d tile %3dx%-3d shared %5d B  %6zu words  %d file(s) written\n",
                       fname, chosen[t]->name, auegen_variant_name(k.plan.variant), k.plan.workgroup_size,
                       k.plan.tile_q, k.plan.tile_kv, k.plan.shared_memory_bytes, k.spirv_words, written);
            auegen_kernel_release(&k);
        }
    }
    auegen_spec_file_destroy(file);
    if (rc == 0 && register_path) {
        /* Rewritten on every run (its time is the run's): see --register. */
        text_add(&reg, "#pragma GCC visibility pop\n\n");
        if (reg_list.s)
            text_add(&reg, "static const auegen_kernel_info *const kernels[] = {\n%s};\n\n", reg_list.s);
        if (reg_cpu.s)
            text_add(&reg, "static const void *const cpu_kernels[] = {\n%s};\n\n", reg_cpu.s);
        /* A CPU kernel compiled against another libaule's aule/cpu/ headers is refused there (ABI version). */
        text_add(&reg, "__attribute__((constructor)) static void kernels_register(void)\n{\n%s%s}\n\n"
                       "__attribute__((destructor)) static void kernels_unregister(void)\n{\n%s%s}\n",
                 reg_list.s ? "    aule_register_kernels(kernels, (int)(sizeof kernels / sizeof kernels[0]));\n" : "",
                 reg_cpu.s ? "    aule_register_cpu_kernels(cpu_kernels, (int)(sizeof cpu_kernels / sizeof cpu_kernels[0]),\n"
                             "                              AULE_CPU_KERNEL_ABI);\n" : "",
                 reg_list.s ? "    aule_unregister_kernels(kernels, (int)(sizeof kernels / sizeof kernels[0]));\n" : "",
                 reg_cpu.s ? "    aule_unregister_cpu_kernels(cpu_kernels, (int)(sizeof cpu_kernels / sizeof cpu_kernels[0]));\n"
                           : "");
        FILE *f = reg.failed || reg_list.failed || reg_cpu.failed ? NULL : fopen(register_path, "wb");
        if (!f || fwrite(reg.s, 1, reg.len, f) != reg.len || fclose(f) != 0) {
            fprintf(stderr, "auegen: cannot write %s: %s\n", register_path, strerror(errno));
            rc = EXIT_INTERNAL;
        }
    }
    if (rc == 0 && depfile) {
        /* The outputs depend on the spec and on auegen itself, which carries the templates. */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0)
            self[n] = '\0';
        else
            snprintf(self, sizeof self, "%s", argv[0]);
        textbuf dep = {0};
        if (register_path) {
            text_add_dep_path(&dep, register_path);
        } else if (deps.len > 4) {
            deps.s[deps.len - 3] = '\0';     /* the last " \\\n" */
            text_add(&dep, "%s", deps.s);
        }
        text_add(&dep, ": ");
        text_add_dep_path(&dep, spec_path);
        text_add(&dep, " ");
        text_add_dep_path(&dep, self);
        text_add(&dep, "\n");
        if (dep.failed || auegen_write_if_changed(depfile, dep.s, dep.len, NULL) != AUEGEN_OK) {
            fprintf(stderr, "auegen: cannot write %s: %s\n", depfile, strerror(errno));
            rc = EXIT_INTERNAL;
        }
        free(dep.s);
    }
    free(reg.s);
    free(reg_list.s);
    free(reg_cpu.s);
    free(deps.s);
    return rc;
}
