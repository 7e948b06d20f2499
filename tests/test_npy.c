/* SPDX-License-Identifier: MIT */
/*
 * test_npy.c - .npy read/write: round trips of every dtype and of shapes from
 * a scalar to 8-D, hand-made 2.0/3.0 files, a corpus of malformed files (each
 * must fail with its message), every truncation and many byte flips of a good
 * file (none may crash), and, where python3 has numpy, files exchanged with it.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* mkdtemp, opendir */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "npy.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

/* A path in the test folder; the last four stay valid. */
static const char *in_dir(const char *name)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

static int make_dir(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/aule_npy_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int files_in_dir(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void empty_dir(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            remove(in_dir(e->d_name));
    if (d)
        closedir(d);
}

static int clean_dir(void **state)
{
    (void)state;
    empty_dir();
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    empty_dir();
    return rmdir(dir);
}

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static size_t read_bytes(const char *path, unsigned char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, size, f);
    fclose(f);
    return n;
}

/* A file of the given version with this exact header text and data_len zero bytes. */
static void write_npy(const char *path, int major, const char *header, size_t data_len)
{
    size_t hl = strlen(header), pre = major == 1 ? 10 : 12;
    unsigned char *buf = calloc(1, pre + hl + data_len + 1);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + pre, header, hl);
    write_bytes(path, buf, pre + hl + data_len);
    free(buf);
}

static void expect_error(const char *path, const char *needle)
{
    aule_npy_array a;
    memset(&a, 0x5a, sizeof a);
    char err[256];
    if (aule_npy_read(path, &a, err, sizeof err) != -1)
        fail_msg("%s: read succeeded, wanted an error containing \"%s\"", path, needle);
    if (!strstr(err, needle) || strncmp(err, path, strlen(path)) != 0)
        fail_msg("error \"%s\" lacks \"%s\" or the path", err, needle);
    assert_null(a.data);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.count, 0);
}

/* --- round trips ---------------------------------------------------------------------- */

static void test_round_trip_every_dtype(void **state)
{
    (void)state;
    const char *dtypes[] = {"<f4", "<f2", "<f8", "<i4", "<u2"};
    const size_t sizes[] = {4, 2, 8, 4, 2};
    unsigned char data[6 * 8];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (int t = 0; t < 5; t++) {
        const char *path = in_dir("rt.npy");
        char err[256] = "untouched";
        assert_int_equal(aule_npy_write(path, dtypes[t], 2, (int64_t[]){2, 3}, data, err, sizeof err), 0);
        assert_string_equal(err, "");
        aule_npy_array a;
        assert_int_equal(aule_npy_read(path, &a, err, sizeof err), 0);
        assert_string_equal(a.dtype, dtypes[t]);
        assert_int_equal(a.ndim, 2);
        assert_int_equal(a.shape[0], 2);
        assert_int_equal(a.shape[1], 3);
        assert_int_equal(a.elem_size, sizes[t]);
        assert_int_equal(aule_npy_dtype_size(dtypes[t]), sizes[t]);
        assert_int_equal(a.count, 6);
        assert_memory_equal(a.data, data, 6 * sizes[t]);
        aule_npy_free(&a);
        assert_null(a.data);

        /* The bytes NumPy itself writes: 1.0, header padded to 64 with a newline. */
        unsigned char raw[256];
        size_t n = read_bytes(path, raw, sizeof raw);
        assert_int_equal(n, 128 + 6 * sizes[t]);
        assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
        assert_int_equal(raw[8] | raw[9] << 8, 118);
        assert_int_equal(raw[127], '\n');
        char want[80];
        snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }", dtypes[t]);
        assert_memory_equal(raw + 10, want, strlen(want));
    }
    aule_npy_free(NULL);
    assert_int_equal(aule_npy_dtype_size(">f4"), 0);
    assert_int_equal(aule_npy_dtype_size(NULL), 0);
}

static void test_round_trip_shapes(void **state)
{
    (void)state;
    static const struct { int ndim; int64_t shape[8]; const char *text; } cases[] = {
        {0, {0}, "'shape': (), }"},
        {1, {5}, "'shape': (5,), }"},
        {2, {2, 3}, "'shape': (2, 3), }"},
        {3, {2, 3, 4}, "'shape': (2, 3, 4), }"},
        {4, {1, 2, 3, 4}, "'shape': (1, 2, 3, 4), }"},
        {1, {0}, "'shape': (0,), }"},
        {3, {3, 0, 2}, "'shape': (3, 0, 2), }"},
        {8, {1, 2, 1, 2, 1, 2, 1, 3}, "'shape': (1, 2, 1, 2, 1, 2, 1, 3), }"},
    };
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float)i * 0.5f - 3;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const char *path = in_dir("shape.npy");
        char err[256];
        size_t count = 1;
        for (int d = 0; d < cases[t].ndim; d++)
            count *= (size_t)cases[t].shape[d];
        assert_int_equal(aule_npy_write(path, "<f4", cases[t].ndim, cases[t].shape, count ? data : NULL, err,
                                        sizeof err), 0);
        aule_npy_array a;
        assert_int_equal(aule_npy_read(path, &a, err, sizeof err), 0);
        assert_int_equal(a.ndim, cases[t].ndim);
        assert_int_equal(a.count, count);
        assert_memory_equal(a.shape, cases[t].shape, sizeof a.shape);
        assert_non_null(a.data);
        if (count)
            assert_memory_equal(a.data, data, count * sizeof *data);
        aule_npy_free(&a);
        unsigned char raw[1024] = {0};
        size_t n = read_bytes(path, raw, sizeof raw - 1);
        assert_int_equal((raw[8] | raw[9] << 8) + 10, n - count * 4);
        assert_int_equal((n - count * 4) % 64, 0);
        raw[n - count * 4] = 0;
        assert_non_null(strstr((char *)raw + 10, cases[t].text));
    }
    /* Rewriting replaces the file and leaves no temp file behind. */
    assert_int_equal(files_in_dir(), 1);
}

static void test_read_other_versions_and_spellings(void **state)
{
    (void)state;
    struct { int major; const char *header; int ndim; int64_t d0, d1; } ok[] = {
        {2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }          \n", 2, 2, 3},
        {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n", 1, 6, 0},
        {1, "{\"shape\":(3,2),\"descr\":\"<f4\",\"fortran_order\":False}", 2, 3, 2},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }\n", 2, 2, 3},
        {1, "{ 'fortran_order' : False ,\n 'shape' : ( 6 , ) , 'descr' : '<f4' }\n\n", 1, 6, 0},
    };
    for (size_t t = 0; t < sizeof ok / sizeof ok[0]; t++) {
        const char *path = in_dir("v.npy");
        write_npy(path, ok[t].major, ok[t].header, 24);
        aule_npy_array a;
        char err[256];
        if (aule_npy_read(path, &a, err, sizeof err) != 0)
            fail_msg("case %zu: %s", t, err);
        assert_int_equal(a.ndim, ok[t].ndim);
        assert_int_equal(a.shape[0], ok[t].d0);
        assert_int_equal(a.shape[1], ok[t].d1);
        assert_int_equal(a.count, 6);
        aule_npy_free(&a);
    }
}

/* --- malformed files ----------------------------------------------------------------------- */

#define GOOD_TAIL "'fortran_order': False, 'shape': (2,), }\n"

static void test_malformed_corpus(void **state)
{
    (void)state;
    struct { const char *name, *header; size_t data; const char *error; } corpus[] = {
        {"no_shape", "{'descr': '<f4', 'fortran_order': False, }", 0, "header has no 'shape'"},
        {"no_descr", "{'fortran_order': False, 'shape': (2,), }", 8, "header has no 'descr'"},
        {"no_fortran", "{'descr': '<f4', 'shape': (2,), }", 8, "header has no 'fortran_order'"},
        {"big_endian", "{'descr': '>f4', " GOOD_TAIL, 8, "big-endian dtype '>f4' is not supported"},
        {"complex", "{'descr': '<c8', " GOOD_TAIL, 16, "unsupported dtype '<c8'"},
        {"bytes", "{'descr': '|u1', " GOOD_TAIL, 2, "unsupported dtype '|u1'"},
        {"fortran", "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8,
         "fortran_order True is not supported"},
        {"fortran_int", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", 8,
         "fortran_order must be True or False"},
        {"nine_dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
         "too many dimensions"},
        {"negative", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0, "negative dimension"},
        {"huge_dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 0,
         "dimension too large"},
        {"count_overflow",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }", 0,
         "element count overflows"},
        {"bytes_overflow", "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", 0,
         "byte size overflows"},
        {"huge_but_fits", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }", 8,
         "truncated data (shape needs 4000000000000 bytes, file has 8)"},
        {"truncated_data", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", 40,
         "truncated data (shape needs 4000 bytes, file has 40)"},
        {"extra_data", "{'descr': '<f4', " GOOD_TAIL, 12, "4 bytes after the data"},
        {"not_a_dict", "hello", 0, "header is not a dict"},
        {"empty_header", "", 0, "header is not a dict"},
        {"unterminated", "{'descr", 0, "unterminated string"},
        {"no_close", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8, "expected ',' or '}'"},
        {"no_colon", "{'descr' '<f4'}", 0, "missing ':'"},
        {"repeated", "{'descr': '<f4', 'descr': '<f4', " GOOD_TAIL, 8, "key repeated"},
        {"unknown_key", "{'descr': '<f4', 'endian': 'little', " GOOD_TAIL, 8, "unknown key"},
        {"unquoted_key", "{descr: '<f4', " GOOD_TAIL, 8, "quoted keys"},
        {"descr_int", "{'descr': 5, " GOOD_TAIL, 8, "descr must be a dtype string"},
        {"structured", "{'descr': [('a', '<f4')], " GOOD_TAIL, 8, "descr must be a dtype string"},
        {"long_descr", "{'descr': '<f4aaaaaaaaaaaa', " GOOD_TAIL, 8, "header string too long"},
        {"escape", "{'descr': '<f\\4', " GOOD_TAIL, 8, "bad character"},
        {"shape_list", "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8, "tuple of integers"},
        {"shape_int", "{'descr': '<f4', 'fortran_order': False, 'shape': 2, }", 8, "tuple of integers"},
        {"shape_paren", "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8, "trailing comma"},
        {"shape_float", "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", 8, "tuple of integers"},
        {"shape_comma", "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", 8, "tuple of integers"},
        {"after_dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", 8, "unexpected text"},
    };
    for (size_t t = 0; t < sizeof corpus / sizeof corpus[0]; t++) {
        char name[64];
        snprintf(name, sizeof name, "%s.npy", corpus[t].name);
        write_npy(in_dir(name), 1, corpus[t].header, corpus[t].data);
        expect_error(in_dir(name), corpus[t].error);
    }

    /* Header with a NUL byte inside. */
    const char nul_header[] = "{'descr': '<f4', 'fortran_order': False, 'sh\0pe': (2,), }\n";
    unsigned char buf[128] = "\x93NUMPY\x01\x00";
    buf[8] = sizeof nul_header - 1;
    memcpy(buf + 10, nul_header, sizeof nul_header - 1);
    write_bytes(in_dir("nul.npy"), buf, 10 + sizeof nul_header - 1 + 8);
    expect_error(in_dir("nul.npy"), "bad character");

    /* The preamble. */
    write_bytes(in_dir("empty.npy"), "", 0);
    expect_error(in_dir("empty.npy"), "too short");
    write_bytes(in_dir("short.npy"), "\x93NUMPY\x01", 7);
    expect_error(in_dir("short.npy"), "too short");
    write_bytes(in_dir("magic.npy"), "\x93NUMPX\x01\x00\x10\x00{}              ", 26);
    expect_error(in_dir("magic.npy"), "bad magic");
    write_bytes(in_dir("text.npy"), "just some text, long enough", 27);
    expect_error(in_dir("text.npy"), "bad magic");
    write_bytes(in_dir("v4.npy"), "\x93NUMPY\x04\x00\x10\x00{}              ", 26);
    expect_error(in_dir("v4.npy"), "unsupported .npy format version 4.0");
    write_bytes(in_dir("v1_1.npy"), "\x93NUMPY\x01\x01\x10\x00{}              ", 26);
    expect_error(in_dir("v1_1.npy"), "unsupported .npy format version 1.1");
    write_bytes(in_dir("v2_short.npy"), "\x93NUMPY\x02\x00\x10\x00", 10);
    expect_error(in_dir("v2_short.npy"), "truncated header length");
    write_bytes(in_dir("header_trunc.npy"), "\x93NUMPY\x01\x00\x76\x00{'descr': '<f4'", 25);
    expect_error(in_dir("header_trunc.npy"), "truncated header (118 bytes announced, 15 in the file)");
    write_bytes(in_dir("v2_huge.npy"), "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    expect_error(in_dir("v2_huge.npy"), "header length 4294967295 is too large");
    expect_error(in_dir("missing.npy"), "cannot open");
    expect_error(dir, "");   /* a folder: whatever the message, an error */
}

static void test_every_truncation_and_byte_flip(void **state)
{
    (void)state;
    float data[12];
    for (int i = 0; i < 12; i++)
        data[i] = (float)i;
    const char *good = in_dir("good.npy"), *bad = in_dir("bad.npy");
    char err[256];
    assert_int_equal(aule_npy_write(good, "<f4", 2, (int64_t[]){3, 4}, data, err, sizeof err), 0);
    unsigned char raw[256], copy[256];
    size_t n = read_bytes(good, raw, sizeof raw);
    assert_int_equal(n, 128 + 48);
    for (size_t len = 0; len < n; len++) {
        write_bytes(bad, raw, len);
        aule_npy_array a;
        assert_int_equal(aule_npy_read(bad, &a, err, sizeof err), -1);
        assert_null(a.data);
    }
    /* Flips in the preamble and header: any outcome but a crash; a success must be consistent. */
    const unsigned char values[] = {0x00, 0x01, 0x20, 0x7f, 0x80, 0xff, '(', ')', ',', '}', '{', '\'', '9', '-', 'L'};
    int successes = 0;
    for (size_t pos = 0; pos < 128; pos++)
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(copy, raw, n);
            copy[pos] = values[v];
            write_bytes(bad, copy, n);
            aule_npy_array a;
            if (aule_npy_read(bad, &a, err, sizeof err) == 0) {
                assert_int_equal(a.count * a.elem_size + 128, n);
                successes++;
                aule_npy_free(&a);
            } else {
                assert_true(err[0] != '\0');
            }
        }
    assert_true(successes > 0);   /* padding spaces may become other whitespace */
    remove(good);
    remove(bad);
}

/* --- writing errors ----------------------------------------------------------------------- */

static void test_write_errors(void **state)
{
    (void)state;
    float data[4] = {0};
    char err[256];
    const char *path = in_dir("w.npy");
    struct { const char *dtype; int ndim; const int64_t *shape; const void *data; const char *error; } cases[] = {
        {"<f16", 1, (int64_t[]){4}, data, "unsupported dtype '<f16'"},
        {"bf16", 1, (int64_t[]){4}, data, "unsupported dtype 'bf16'"},
        {">f4", 1, (int64_t[]){4}, data, "unsupported dtype '>f4'"},
        {NULL, 1, (int64_t[]){4}, data, "unsupported dtype '(null)'"},
        {"<f4", 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, data, "ndim must be 0..8"},
        {"<f4", -1, (int64_t[]){4}, data, "ndim must be 0..8"},
        {"<f4", 2, NULL, data, "ndim must be 0..8 with a shape"},
        {"<f4", 2, (int64_t[]){2, -2}, data, "negative dimension"},
        {"<f8", 2, (int64_t[]){INT64_MAX, INT64_MAX}, data, "overflows"},
        {"<f4", 1, (int64_t[]){4}, NULL, "no data for 4 elements"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        assert_int_equal(aule_npy_write(path, cases[t].dtype, cases[t].ndim, cases[t].shape, cases[t].data, err,
                                        sizeof err), -1);
        if (!strstr(err, cases[t].error))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", t, err, cases[t].error);
    }
    assert_int_equal(files_in_dir(), 0);
    assert_int_equal(aule_npy_write(in_dir("no/such/dir.npy"), "<f4", 1, (int64_t[]){4}, data, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "cannot create a temp file"));
    assert_int_equal(aule_npy_write(NULL, "<f4", 1, (int64_t[]){4}, data, err, sizeof err), -1);
    /* No element, no data needed; a scalar needs no shape. */
    assert_int_equal(aule_npy_write(path, "<f4", 2, (int64_t[]){0, 5}, NULL, err, sizeof err), 0);
    assert_int_equal(aule_npy_write(path, "<i4", 0, NULL, data, NULL, 0), 0);
    assert_int_equal(files_in_dir(), 1);
    remove(path);
}

static void test_read_arguments(void **state)
{
    (void)state;
    aule_npy_array a;
    char err[8];
    assert_int_equal(aule_npy_read(NULL, &a, err, sizeof err), -1);
    assert_int_equal(aule_npy_read(in_dir("x.npy"), NULL, NULL, 0), -1);
    /* A short message buffer is truncated, still terminated. */
    assert_int_equal(aule_npy_read(in_dir("missing.npy"), &a, err, sizeof err), -1);
    assert_int_equal(strlen(err), sizeof err - 1);
}

/* --- NumPy itself, where it is installed ---------------------------------------------------------- */

static void test_numpy_interop(void **state)
{
    (void)state;
    if (system("python3 -c 'import numpy' >/dev/null 2>&1") != 0)
        skip();
    float data[6] = {1, -2, 3.5f, 0, 1e-3f, 65504};
    char err[256], cmd[2048];
    assert_int_equal(aule_npy_write(in_dir("c.npy"), "<f4", 2, (int64_t[]){2, 3}, data, err, sizeof err), 0);
    assert_int_equal(aule_npy_write(in_dir("s.npy"), "<f8", 0, NULL, (double[]){2.5}, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import numpy as np, sys\n"
             "a = np.load('%s/c.npy')\n"
             "assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)\n"
             "assert (a.ravel() == np.array([1, -2, 3.5, 0, 1e-3, 65504], np.float32)).all()\n"
             "s = np.load('%s/s.npy'); assert s.shape == () and s == 2.5\n"
             "np.save('%s/p.npy', np.arange(24, dtype=np.float16).reshape(2, 3, 4))\n"
             "np.save('%s/p1.npy', np.arange(5, dtype=np.int32))\n"
             "\"",
             dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    aule_npy_array a;
    assert_int_equal(aule_npy_read(in_dir("p.npy"), &a, err, sizeof err), 0);
    assert_string_equal(a.dtype, "<f2");
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.count, 24);
    assert_int_equal(((uint16_t *)a.data)[1], 0x3c00);   /* 1.0 in f16 */
    aule_npy_free(&a);
    assert_int_equal(aule_npy_read(in_dir("p1.npy"), &a, err, sizeof err), 0);
    assert_string_equal(a.dtype, "<i4");
    assert_int_equal(((int32_t *)a.data)[4], 4);
    aule_npy_free(&a);
    empty_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip_every_dtype, clean_dir),
        cmocka_unit_test_setup(test_round_trip_shapes, clean_dir),
        cmocka_unit_test_setup(test_read_other_versions_and_spellings, clean_dir),
        cmocka_unit_test_setup(test_malformed_corpus, clean_dir),
        cmocka_unit_test_setup(test_every_truncation_and_byte_flip, clean_dir),
        cmocka_unit_test_setup(test_write_errors, clean_dir),
        cmocka_unit_test_setup(test_read_arguments, clean_dir),
        cmocka_unit_test_setup(test_numpy_interop, clean_dir),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
