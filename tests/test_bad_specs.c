/* SPDX-License-Identifier: MIT */
/*
 * test_bad_specs.c - every spec in tests/bad_specs/ must be rejected with
 * exactly the messages its header announces, quickly.
 *
 * Header of each file (before the spec's own lines):
 *   -- expect: 7: message     one line per error, in order: "<file>:7: message"
 *   -- expect: : message      an error without a line: "<file>: message"
 *   -- expect-truncated       more than AUEGEN_MAX_ERRORS errors: exactly that
 *                             many are reported and the list is marked truncated
 * "{version}" in a message stands for AUEGEN_VERSION_STRING.
 *
 *   test_bad_specs DIR
 */
#include <auegen.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

enum { MIN_FILES = 30, MAX_EXPECT = 64, LINE_MAX_LEN = 512 };
#define MAX_SECONDS 2.0

static const char *bad_dir;

typedef struct expectation {
    int count;
    bool truncated;
    char lines[MAX_EXPECT][LINE_MAX_LEN];
} expectation;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replaces each "{version}" in s (in place, within size). */
static void substitute_version(char *s, size_t size)
{
    static const char key[] = "{version}";
    char *at;
    while ((at = strstr(s, key)) != NULL) {
        char rest[LINE_MAX_LEN];
        snprintf(rest, sizeof rest, "%s", at + sizeof key - 1);
        snprintf(at, size - (size_t)(at - s), "%s%s", AUEGEN_VERSION_STRING, rest);
    }
}

/* Reads the header of path into *ex; returns false (and says why) when malformed. */
static bool read_expectation(const char *path, const char *base, expectation *ex)
{
    memset(ex, 0, sizeof *ex);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        printf("FAIL %s: cannot open\n", base);
        return false;
    }
    char buf[LINE_MAX_LEN];
    bool ok = true;
    while (fgets(buf, sizeof buf, fp)) {
        size_t n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        if (strcmp(buf, "-- expect-truncated") == 0) {
            ex->truncated = true;
            continue;
        }
        if (strncmp(buf, "-- expect:", 10) != 0)
            continue;
        const char *p = buf + 10;
        while (*p == ' ')
            p++;
        char *end;
        long line = strtol(p, &end, 10);
        if (end == p)
            line = 0;                       /* "-- expect: : msg" */
        if (*end != ':' || end[1] != ' ' || (end != p && line <= 0)) {
            printf("FAIL %s: malformed expect line: %s\n", base, buf);
            ok = false;
            continue;
        }
        if (ex->count == MAX_EXPECT) {
            printf("FAIL %s: more than %d expect lines\n", base, MAX_EXPECT);
            ok = false;
            break;
        }
        char *out = ex->lines[ex->count++];
        if (line > 0)
            snprintf(out, LINE_MAX_LEN, "%s:%ld: %s", base, line, end + 2);
        else
            snprintf(out, LINE_MAX_LEN, "%s: %s", base, end + 2);
        substitute_version(out, LINE_MAX_LEN);
    }
    fclose(fp);
    if (ok && ex->count == 0) {
        printf("FAIL %s: no '-- expect:' line\n", base);
        ok = false;
    }
    if (ok && ex->truncated && ex->count != AUEGEN_MAX_ERRORS) {
        printf("FAIL %s: expect-truncated needs exactly %d expect lines (has %d)\n", base, AUEGEN_MAX_ERRORS,
               ex->count);
        ok = false;
    }
    return ok;
}

/* Loads one spec and compares; returns the number of problems found. */
static int check_file(const char *path, const char *base, int *truncated_files)
{
    expectation *ex = malloc(sizeof *ex);
    if (!ex) {
        printf("FAIL %s: out of memory\n", base);
        return 1;
    }
    if (!read_expectation(path, base, ex)) {
        free(ex);
        return 1;
    }
    int problems = 0;
    auegen_spec_file *f = NULL;
    double t0 = now_seconds();
    auegen_status st = auegen_spec_file_load(path, base, &f);
    double secs = now_seconds() - t0;

    if (st != AUEGEN_ERROR_SPEC) {
        printf("FAIL %s: status %d (%s), expected AUEGEN_ERROR_SPEC\n", base, (int)st, auegen_status_string(st));
        problems++;
    }
    if (secs > MAX_SECONDS) {
        printf("FAIL %s: took %.2f s (limit %.1f s)\n", base, secs, MAX_SECONDS);
        problems++;
    }
    const auegen_diag *d = auegen_spec_file_diag(f);
    if (!d) {
        printf("FAIL %s: no diagnostics\n", base);
        free(ex);
        auegen_spec_file_destroy(f);
        return problems + 1;
    }
    int n = d->count > ex->count ? d->count : ex->count;
    bool differ = d->count != ex->count;
    char got[LINE_MAX_LEN];
    for (int i = 0; i < n && !differ; i++) {
        auegen_error_format(&d->errors[i], base, got, sizeof got);
        differ = strcmp(got, ex->lines[i]) != 0;
    }
    if (differ) {
        printf("FAIL %s: messages differ (%d expected, %d reported)\n", base, ex->count, d->count);
        for (int i = 0; i < n; i++) {
            if (i < d->count)
                auegen_error_format(&d->errors[i], base, got, sizeof got);
            const char *want = i < ex->count ? ex->lines[i] : "(none)";
            const char *have = i < d->count ? got : "(none)";
            printf("  %s [%d] expected: %s\n", strcmp(want, have) ? "!" : " ", i + 1, want);
            if (strcmp(want, have) != 0)
                printf("    [%d] got:      %s\n", i + 1, have);
        }
        problems++;
    }
    if (d->truncated != ex->truncated) {
        printf("FAIL %s: truncated is %s, expected %s\n", base, d->truncated ? "true" : "false",
               ex->truncated ? "true" : "false");
        problems++;
    }
    if (ex->truncated) {
        ++*truncated_files;
        if (d->count != AUEGEN_MAX_ERRORS) {
            printf("FAIL %s: %d errors recorded, expected exactly %d\n", base, d->count, AUEGEN_MAX_ERRORS);
            problems++;
        }
    }
    if (problems == 0)
        printf("ok   %s (%d error%s, %.3f s)\n", base, d->count, d->count == 1 ? "" : "s", secs);
    free(ex);
    auegen_spec_file_destroy(f);
    return problems;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_bad_specs(void **state)
{
    (void)state;
    DIR *dir = opendir(bad_dir);
    if (!dir)
        fail_msg("cannot open %s", bad_dir);
    char **names = NULL;
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".lua") != 0)
            continue;
        char **grown = realloc(names, (count + 1) * sizeof *grown);
        assert_non_null(grown);
        names = grown;
        names[count] = strdup(de->d_name);
        assert_non_null(names[count]);
        count++;
    }
    closedir(dir);
    if (count)
        qsort(names, count, sizeof *names, compare_names);

    int failed_files = 0, truncated_files = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", bad_dir, names[i]);
        if (check_file(path, names[i], &truncated_files) > 0)
            failed_files++;
        free(names[i]);
    }
    free(names);
    printf("%zu bad specs, %d failed\n", count, failed_files);
    if (count < MIN_FILES)
        fail_msg("found %zu .lua files in %s, expected at least %d", count, bad_dir, MIN_FILES);
    if (truncated_files == 0)
        fail_msg("no file tests the stop after %d errors (-- expect-truncated)", AUEGEN_MAX_ERRORS);
    assert_int_equal(failed_files, 0);
}

/* A zero-byte file (the corpus' empty.lua holds its expect line). */
static void test_zero_byte_file(void **state)
{
    (void)state;
    char path[] = "/tmp/aule_empty_specXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    assert_non_null(fp);
    fclose(fp);
    auegen_spec_file *f = NULL;
    auegen_status st = auegen_spec_file_load(path, "zero.lua", &f);
    remove(path);
    assert_int_equal(st, AUEGEN_ERROR_SPEC);
    const auegen_diag *d = auegen_spec_file_diag(f);
    assert_int_equal(d->count, 1);
    char line[LINE_MAX_LEN];
    auegen_error_format(&d->errors[0], "zero.lua", line, sizeof line);
    assert_string_equal(line, "zero.lua: declares no kernel (write attention { name = ..., head_dim = ... })");
    auegen_spec_file_destroy(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    bad_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_zero_byte_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
