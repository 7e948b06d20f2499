/* SPDX-License-Identifier: MIT */
/*
 * npy.c - NumPy .npy read (format 1.0, 2.0, 3.0) and write (1.0), see npy.h.
 *
 * A file is: "\x93NUMPY", major, minor, the header length (uint16 LE for 1.0,
 * uint32 LE for 2.0/3.0), the header (a Python dict literal such as
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with
 * spaces and a newline so the data starts at a multiple of 64), then the data.
 * The header parser below reads exactly that dict and nothing more general.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L   /* fseeko, ftello, getpid */
#endif

#include "npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

enum { MAX_HEADER = 1 << 20 };   /* no real header comes near; keeps a bad length from allocating GBs */

#ifdef __GNUC__
__attribute__((format(printf, 4, 5)))
#endif
static int fail(char *err, size_t err_size, const char *path, const char *fmt, ...)
{
    if (err && err_size) {
        int n = snprintf(err, err_size, "%s: ", path ? path : "(null)");
        if (n >= 0 && (size_t)n < err_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, err_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static bool host_is_little_endian(void)
{
    uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

size_t aule_npy_dtype_size(const char *dtype)
{
    static const struct { const char *name; size_t size; } known[] = {
        {"<f4", 4}, {"<f2", 2}, {"<f8", 8}, {"<i4", 4}, {"<u2", 2},
    };
    for (size_t i = 0; dtype && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(dtype, known[i].name) == 0)
            return known[i].size;
    return 0;
}

/* The element count and byte size of a shape; false on a negative dim or overflow. */
static bool shape_bytes(int ndim, const int64_t *shape, size_t elem_size, size_t *count, size_t *bytes,
                        const char **why)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            *why = "negative dimension";
            return false;
        }
        if ((uint64_t)shape[i] > SIZE_MAX || (shape[i] > 0 && n > SIZE_MAX / (size_t)shape[i])) {
            *why = "shape too large (element count overflows)";
            return false;
        }
        n *= (size_t)shape[i];
    }
    if (elem_size && n > SIZE_MAX / elem_size) {
        *why = "shape too large (byte size overflows)";
        return false;
    }
    *count = n;
    *bytes = n * elem_size;
    return true;
}

/* --- the header dict ------------------------------------------------------------ */

typedef struct parser {
    const char *at, *end;
    const char *why;   /* the first error */
} parser;

static bool parse_error(parser *p, const char *why)
{
    if (!p->why)
        p->why = why;
    return false;
}

static void skip_space(parser *p)
{
    while (p->at < p->end && (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r'))
        p->at++;
}

static bool accept(parser *p, char c)
{
    skip_space(p);
    if (p->at < p->end && *p->at == c) {
        p->at++;
        return true;
    }
    return false;
}

static bool accept_word(parser *p, const char *word)
{
    skip_space(p);
    size_t n = strlen(word);
    if ((size_t)(p->end - p->at) >= n && memcmp(p->at, word, n) == 0) {
        p->at += n;
        return true;
    }
    return false;
}

/* A quoted string without escapes, into buf (size > 0). */
static bool parse_string(parser *p, char *buf, size_t size, const char *what)
{
    skip_space(p);
    if (p->at >= p->end || (*p->at != '\'' && *p->at != '"'))
        return parse_error(p, what);
    char quote = *p->at++;
    size_t n = 0;
    while (p->at < p->end && *p->at != quote) {
        if (*p->at == '\\' || *p->at == '\0' || *p->at == '\n')
            return parse_error(p, "bad character in a header string");
        if (n + 1 >= size)
            return parse_error(p, "header string too long");
        buf[n++] = *p->at++;
    }
    if (p->at >= p->end)
        return parse_error(p, "unterminated string in header");
    p->at++;
    buf[n] = '\0';
    return true;
}

static bool parse_dim(parser *p, int64_t *out)
{
    skip_space(p);
    if (p->at < p->end && *p->at == '-')
        return parse_error(p, "negative dimension in shape");
    if (p->at >= p->end || *p->at < '0' || *p->at > '9')
        return parse_error(p, "shape must be a tuple of integers");
    int64_t v = 0;
    while (p->at < p->end && *p->at >= '0' && *p->at <= '9') {
        int digit = *p->at++ - '0';
        if (v > (INT64_MAX - digit) / 10)
            return parse_error(p, "dimension too large");
        v = v * 10 + digit;
    }
    if (p->at < p->end && *p->at == 'L')   /* Python 2 longs */
        p->at++;
    *out = v;
    return true;
}

/* "()", "(n,)", "(n, m)", "(n, m,)". */
static bool parse_shape(parser *p, aule_npy_array *a)
{
    if (!accept(p, '('))
        return parse_error(p, "shape must be a tuple of integers");
    a->ndim = 0;
    if (accept(p, ')'))
        return true;
    for (;;) {
        int64_t dim;
        if (a->ndim == AULE_NPY_MAX_DIMS) {
            /* Count what is left only to say how many. */
            return parse_error(p, "too many dimensions (at most 8)");
        }
        if (!parse_dim(p, &dim))
            return false;
        a->shape[a->ndim++] = dim;
        if (accept(p, ')'))
            return a->ndim > 1 || parse_error(p, "a 1-D shape needs a trailing comma, as in (n,)");
        if (!accept(p, ','))
            return parse_error(p, "shape must be a tuple of integers");
        if (accept(p, ')'))
            return true;
    }
}

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

static bool parse_header(parser *p, aule_npy_array *a)
{
    if (!accept(p, '{'))
        return parse_error(p, "header is not a dict");
    int seen = 0;
    while (!accept(p, '}')) {
        char key[32];
        if (!parse_string(p, key, sizeof key, "header is not a dict of quoted keys"))
            return false;
        if (!accept(p, ':'))
            return parse_error(p, "header is not a dict (missing ':')");
        int which = strcmp(key, "descr") == 0           ? KEY_DESCR
                    : strcmp(key, "fortran_order") == 0 ? KEY_FORTRAN
                    : strcmp(key, "shape") == 0         ? KEY_SHAPE
                                                        : 0;
        if (!which)
            return parse_error(p, "unknown key in header (expected 'descr', 'fortran_order', 'shape')");
        if (seen & which)
            return parse_error(p, "key repeated in header");
        seen |= which;
        if (which == KEY_DESCR) {
            if (!parse_string(p, a->dtype, sizeof a->dtype, "descr must be a dtype string such as '<f4'"))
                return false;
        } else if (which == KEY_FORTRAN) {
            if (accept_word(p, "True"))
                return parse_error(p, "fortran_order True is not supported (C order only)");
            if (!accept_word(p, "False"))
                return parse_error(p, "fortran_order must be True or False");
        } else if (!parse_shape(p, a)) {
            return false;
        }
        if (!accept(p, ',')) {
            if (!accept(p, '}'))
                return parse_error(p, "header is not a dict (expected ',' or '}')");
            break;
        }
    }
    skip_space(p);
    if (p->at != p->end)
        return parse_error(p, "unexpected text after the header dict");
    if (!(seen & KEY_DESCR))
        return parse_error(p, "header has no 'descr'");
    if (!(seen & KEY_FORTRAN))
        return parse_error(p, "header has no 'fortran_order'");
    if (!(seen & KEY_SHAPE))
        return parse_error(p, "header has no 'shape'");
    return true;
}

/* --- reading ------------------------------------------------------------------------- */

static uint32_t read_le(const unsigned char *b, int n)
{
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static int read_file(FILE *f, const char *path, size_t max_bytes, aule_npy_array *a, char *err, size_t err_size)
{
    if (fseeko(f, 0, SEEK_END) != 0)
        return fail(err, err_size, path, "cannot seek");
    off_t file_size = ftello(f);
    if (file_size < 0 || fseeko(f, 0, SEEK_SET) != 0)
        return fail(err, err_size, path, "cannot seek");
    unsigned char pre[12];
    if (file_size < 10 || fread(pre, 1, 8, f) != 8)
        return fail(err, err_size, path, "not a .npy file (too short: %lld bytes)", (long long)file_size);
    if (memcmp(pre, magic, sizeof magic) != 0)
        return fail(err, err_size, path, "not a .npy file (bad magic)");
    int major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, err_size, path, "unsupported .npy format version %d.%d", major, minor);
    int len_bytes = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, (size_t)len_bytes, f) != (size_t)len_bytes)
        return fail(err, err_size, path, "truncated header length");
    uint32_t header_len = read_le(pre + 8, len_bytes);
    off_t data_start = 8 + len_bytes + (off_t)header_len;
    if (header_len > MAX_HEADER)
        return fail(err, err_size, path, "header length %lu is too large", (unsigned long)header_len);
    if (data_start > file_size)
        return fail(err, err_size, path, "truncated header (%lu bytes announced, %lld in the file)",
                    (unsigned long)header_len, (long long)(file_size - 8 - len_bytes));
    char *header = malloc(header_len ? header_len : 1);
    if (!header)
        return fail(err, err_size, path, "out of memory");
    if (fread(header, 1, header_len, f) != header_len) {
        free(header);
        return fail(err, err_size, path, "cannot read the header");
    }
    parser p = {header, header + header_len, NULL};
    bool ok = parse_header(&p, a);
    free(header);
    if (!ok)
        return fail(err, err_size, path, "%s", p.why);

    if (a->dtype[0] == '>')
        return fail(err, err_size, path, "big-endian dtype '%s' is not supported", a->dtype);
    a->elem_size = aule_npy_dtype_size(a->dtype);
    if (!a->elem_size)
        return fail(err, err_size, path, "unsupported dtype '%s' (supported: <f4 <f2 <f8 <i4 <u2)", a->dtype);
    size_t bytes;
    const char *why = NULL;
    if (!shape_bytes(a->ndim, a->shape, a->elem_size, &a->count, &bytes, &why))
        return fail(err, err_size, path, "%s", why);
    if (bytes > max_bytes)
        return fail(err, err_size, path, "data of %zu bytes is over the limit of %zu bytes", bytes, max_bytes);
    uint64_t have = (uint64_t)(file_size - data_start);
    if (have < bytes)
        return fail(err, err_size, path, "truncated data (shape needs %zu bytes, file has %llu)", bytes,
                    (unsigned long long)have);
    if (have > bytes)
        return fail(err, err_size, path, "%llu bytes after the data", (unsigned long long)(have - bytes));
    a->data = malloc(bytes ? bytes : 1);
    if (!a->data)
        return fail(err, err_size, path, "out of memory (%zu bytes)", bytes);
    if (fread(a->data, 1, bytes, f) != bytes)
        return fail(err, err_size, path, "cannot read the data");
    return 0;
}

int aule_npy_read(const char *path, aule_npy_array *out, char *err, size_t err_size)
{
    return aule_npy_read_max(path, SIZE_MAX, out, err, err_size);
}

/* Reads from an open stream (a file or a memory buffer) into *out. */
static int read_stream(FILE *f, const char *path, size_t max_bytes, aule_npy_array *out, char *err, size_t err_size)
{
    aule_npy_array a = {0};
    int rc = read_file(f, path, max_bytes, &a, err, err_size);
    fclose(f);
    if (rc != 0) {
        free(a.data);
        return -1;
    }
    *out = a;
    return 0;
}

int aule_npy_read_max(const char *path, size_t max_bytes, aule_npy_array *out, char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return fail(err, err_size, path, "bad argument");
    if (!host_is_little_endian())
        return fail(err, err_size, path, "big-endian hosts are not supported");
    /* O_NONBLOCK: a FIFO must not block the open; only regular files are read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(err, err_size, path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, err_size, path, "not a regular file");
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return fail(err, err_size, path, "cannot open: %s", strerror(errno));
    }
    return read_stream(f, path, max_bytes, out, err, err_size);
}

int aule_npy_read_buffer(const void *data, size_t size, const char *name, size_t max_bytes, aule_npy_array *out,
                         char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    if (out)
        memset(out, 0, sizeof *out);
    if (!data || !name || !out)
        return fail(err, err_size, name, "bad argument");
    if (!host_is_little_endian())
        return fail(err, err_size, name, "big-endian hosts are not supported");
    if (size == 0)
        return fail(err, err_size, name, "not a .npy file (too short: 0 bytes)");
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return fail(err, err_size, name, "out of memory");
    return read_stream(f, name, max_bytes, out, err, err_size);
}

void aule_npy_free(aule_npy_array *arr)
{
    if (!arr)
        return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}

/* --- writing -------------------------------------------------------------------------- */

/* Preamble + header dict padded to a multiple of 64 bytes; returns its length or 0. */
static size_t format_header(char *buf, size_t size, const char *dtype, int ndim, const int64_t *shape)
{
    char dims[AULE_NPY_MAX_DIMS * 24 + 4] = "";
    size_t n = 0;
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(dims + n, sizeof dims - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (ndim == 1)
        snprintf(dims + n, sizeof dims - n, ",");
    int len = snprintf(buf + 10, size - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", dtype,
                       dims);
    if (len < 0 || (size_t)len + 10 + 64 >= size)
        return 0;
    size_t total = 10 + (size_t)len + 1;   /* with the newline */
    size_t padded = (total + 63) / 64 * 64;
    memset(buf + 10 + len, ' ', padded - total);
    buf[padded - 1] = '\n';
    memcpy(buf, magic, sizeof magic);
    buf[6] = 1;
    buf[7] = 0;
    size_t header_len = padded - 10;
    buf[8] = (char)(header_len & 0xff);
    buf[9] = (char)(header_len >> 8);
    return padded;
}

int aule_npy_write(const char *path, const char *dtype, int ndim, const int64_t *shape, const void *data,
                   char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    if (!path)
        return fail(err, err_size, path, "bad argument");
    size_t elem = aule_npy_dtype_size(dtype);
    if (!elem)
        return fail(err, err_size, path, "unsupported dtype '%s' (supported: <f4 <f2 <f8 <i4 <u2)",
                    dtype ? dtype : "(null)");
    if (ndim < 0 || ndim > AULE_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return fail(err, err_size, path, "ndim must be 0..%d with a shape (got %d)", AULE_NPY_MAX_DIMS, ndim);
    if (!host_is_little_endian())
        return fail(err, err_size, path, "big-endian hosts are not supported");
    size_t count, bytes;
    const char *why = NULL;
    if (!shape_bytes(ndim, shape, elem, &count, &bytes, &why))
        return fail(err, err_size, path, "%s", why);
    if (bytes && !data)
        return fail(err, err_size, path, "no data for %zu elements", count);
    char header[512];
    size_t header_size = format_header(header, sizeof header, dtype, ndim, shape);
    if (!header_size)
        return fail(err, err_size, path, "header does not fit");

    /* Only a regular file is replaced: renaming over a device node, a FIFO or
     * a folder's entry of another kind would lose it (as root, even /dev/full). */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return fail(err, err_size, path, "exists and is not a regular file: not replaced");
    static atomic_uint serial;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 48);
    if (!tmp)
        return fail(err, err_size, path, "out of memory");
    snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&serial, 1u));
    FILE *f = fopen(tmp, "wbx");
    if (!f) {
        free(tmp);
        return fail(err, err_size, path, "cannot create a temp file beside it");
    }
    bool ok = fwrite(header, 1, header_size, f) == header_size;
    ok = ok && (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return fail(err, err_size, path, ok ? "cannot rename the temp file over it" : "write failed");
    }
    free(tmp);
    return 0;
}
