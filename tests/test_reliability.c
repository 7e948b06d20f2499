/* SPDX-License-Identifier: MIT */
/*
 * test_reliability.c - issue 11's runtime defects, each as a regression test,
 * on the default Vulkan device (lavapipe in CI):
 *   - a disk cache entry whose checksum is right but whose SPIR-V is not is
 *     named, removed and replaced, and the kernel passes the correctness rule;
 *   - tensor shapes whose strides overflow 64 bits are refused (UBSan);
 *   - lifetimes: destroyed tensors, tensors outliving their context, double
 *     destroy, another context's tensor: a clear status, never a crash (ASan);
 *   - allocation-failure injection: every Nth host allocation and every Nth
 *     vkAllocateMemory fails: a status, no leak (LSan), and the context works
 *     afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aule.h"
#include "test_device.h"
#include "aule_check.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* Internal (runtime_internal.h): failure injection for tests. */
void aule__fault_injection(int host_every, int vk_every);

static char cache_dir[256];
static char log_text[8192];

static void keep_log(void *user, aule_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "%s\n", msg);
}

static aule_context *open_ctx(bool jit)
{
    aule_context_desc d = {.cache_dir = cache_dir, .disable_builtin = true, .disable_jit = !jit,
                           .log = keep_log};
    aule_context *ctx = NULL;
    if (aule_context_create(&d, &ctx) != AULE_OK)
        fail_msg("no Vulkan device: %s", aule_context_last_error(NULL));
    return ctx;
}

static auegen_spec small_spec(int d)
{
    auegen_spec_desc desc = {.name = "r", .head_dim = d, .dtype = AUEGEN_DTYPE_F32};
    auegen_spec s;
    auegen_diag diag = {0};
    if (auegen_spec_validate(&desc, &s, &diag) != AUEGEN_OK)
        fail_msg("bad test spec: %s", diag.errors[0].message);
    return s;
}

static bool read_file(const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc((size_t)n);
    *size = (size_t)n;
    bool ok = *data && fread(*data, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    return ok;
}

/* Issue 11 item 4: one SPIR-V word changed and the XXH3 trailer recomputed. */
static void test_bad_cache_entry_heals(void **state)
{
    (void)state;
    auegen_spec s = small_spec(40);
    aule_context *ctx = open_ctx(true);
    aule_kernel_report rep;
    assert_int_equal(aule_kernel_prepare(ctx, &s, &rep), AULE_OK);
    assert_int_equal(rep.source, AULE_SOURCE_JIT);
    aule_context_destroy(ctx);

    char path[1024];
    snprintf(path, sizeof path, "%s/v1/spirv/%.2s/%s.spv", cache_dir, rep.key, rep.key + 2);
    unsigned char *data = NULL;
    size_t size = 0;
    assert_true(read_file(path, &data, &size));
    uint32_t key_len;
    memcpy(&key_len, data + 12, 4);
    size_t payload = 16 + key_len + 8;
    assert_true(payload + 16 < size);
    uint32_t bound = 1;                         /* word 3, the id bound: every id is now out of range */
    memcpy(data + payload + 12, &bound, 4);
    uint64_t sum = XXH3_64bits(data, size - 8);
    memcpy(data + size - 8, &sum, 8);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    free(data);

    /* The next run names the entry, regenerates the kernel and stores it again. */
    log_text[0] = '\0';
    ctx = open_ctx(true);
    assert_int_equal(aule_kernel_prepare(ctx, &s, &rep), AULE_OK);
    assert_int_equal(rep.source, AULE_SOURCE_JIT);
    if (!strstr(log_text, path))
        fail_msg("the log does not name the bad entry %s:\n%s", path, log_text);
    aule_context_destroy(ctx);

    /* The run after that finds a good entry, and the kernel is right. */
    ctx = open_ctx(false);
    assert_int_equal(aule_kernel_prepare(ctx, &s, &rep), AULE_OK);
    assert_int_equal(rep.source, AULE_SOURCE_DISK);
    aule_check_shape sh = {.batch = 1, .heads = 2, .seq_q = 17, .seq_k = 33, .lse = true, .seed = 5};
    aule_check_result r;
    assert_int_equal(aule_check_run(ctx, &s, &sh, &r), AULE_OK);
    assert_true(r.pass);
    aule_context_destroy(ctx);
}

/* Issue 11 item 4, second half: with JIT off, a bad entry is a miss (and is removed). */
static void test_bad_cache_entry_without_jit(void **state)
{
    (void)state;
    auegen_spec s = small_spec(24);
    aule_context *ctx = open_ctx(true);
    aule_kernel_report rep;
    assert_int_equal(aule_kernel_prepare(ctx, &s, &rep), AULE_OK);
    aule_context_destroy(ctx);
    char path[1024];
    snprintf(path, sizeof path, "%s/v1/spirv/%.2s/%s.spv", cache_dir, rep.key, rep.key + 2);
    unsigned char *data;
    size_t size;
    assert_true(read_file(path, &data, &size));
    size_t payload = 16 + (size_t)data[12] + ((size_t)data[13] << 8) + 8;
    memset(data + payload + 20, 0xff, 8);      /* garbage in the first instruction */
    uint64_t sum = XXH3_64bits(data, size - 8);
    memcpy(data + size - 8, &sum, 8);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(data, 1, size, f);
    fclose(f);
    free(data);
    log_text[0] = '\0';
    ctx = open_ctx(false);
    assert_int_not_equal(aule_kernel_prepare(ctx, &s, &rep), AULE_OK);
    assert_non_null(strstr(log_text, path));
    aule_context_destroy(ctx);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0);   /* removed: a miss from now on */
}

/* Issue 11 item 5: {2^32, 2^32, 2^32, 2^32} is inside the per-dimension range;
 * its strides overflowed int64 (UBSan). */
static void test_shape_overflow(void **state)
{
    (void)state;
    aule_context *ctx = open_ctx(false);
    int64_t big = (int64_t)1 << 32;
    aule_tensor_desc d = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {big, big, big, big}};
    aule_tensor *t = NULL;
    assert_int_equal(aule_tensor_create(ctx, &d, &t), AULE_ERROR_INVALID_ARGUMENT);
    assert_null(t);
    aule_tensor_desc e = {.dtype = AULE_DTYPE_F16, .ndim = 3, .shape = {big, big, 2}};
    assert_int_equal(aule_tensor_create(ctx, &e, &t), AULE_ERROR_INVALID_ARGUMENT);
    aule_tensor_desc g = {.dtype = AULE_DTYPE_F32, .ndim = 2, .shape = {2, 2}, .strides = {INT64_MAX / 2, 1}};
    assert_int_equal(aule_tensor_create(ctx, &g, &t), AULE_ERROR_INVALID_ARGUMENT);
    aule_context_destroy(ctx);
}

static aule_tensor *tensor(aule_context *ctx, int64_t s, int64_t d)
{
    aule_tensor_desc desc = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, 2, s, d}};
    aule_tensor *t = NULL;
    assert_int_equal(aule_tensor_create(ctx, &desc, &t), AULE_OK);
    return t;
}

/* Issue 11 item 6. */
static void test_lifetimes(void **state)
{
    (void)state;
    auegen_spec s = small_spec(16);
    aule_context *ctx = open_ctx(true);
    aule_tensor *q = tensor(ctx, 8, 16), *k = tensor(ctx, 8, 16), *v = tensor(ctx, 8, 16), *o = tensor(ctx, 8, 16);
    aule_forward_args a = {.q = q, .k = k, .v = v, .o = o};
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_OK);

    /* A destroyed tensor passed to a call (a use-after-free in check_tensor). */
    aule_tensor_destroy(v);
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "not a live tensor"));
    float buf[2 * 8 * 16];
    assert_int_equal(aule_tensor_write(v, buf, sizeof buf), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_tensor_bytes(v), 0);
    assert_null(aule_tensor_get_desc(v));
    aule_tensor_destroy(v);                     /* twice: a no-op */

    /* Another context's tensor. */
    aule_context *other = open_ctx(false);
    aule_tensor *w = tensor(other, 8, 16);
    a.v = w;
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "another context"));

    /* Tensors that outlive their context: destroying them after it touched freed memory. */
    log_text[0] = '\0';
    aule_context_destroy(other);
    assert_non_null(strstr(log_text, "outlive"));
    assert_int_equal(aule_tensor_write(w, buf, sizeof buf), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_attention_forward(ctx, &s, &a), AULE_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(aule_context_last_error(ctx), "outlived its context"));
    aule_tensor_destroy(w);
    aule_context_destroy(ctx);
    aule_tensor_destroy(q);                     /* after their context */
    aule_tensor_destroy(k);
    aule_tensor_destroy(o);
}

/* One forward call and its read-back; AULE_OK or the first failure. */
static aule_status round_trip(aule_context *ctx, const auegen_spec *s)
{
    aule_tensor_desc d = {.dtype = AULE_DTYPE_F32, .ndim = 4, .shape = {1, 2, 9, s->head_dim}};
    aule_tensor *t[4] = {NULL, NULL, NULL, NULL};
    aule_status st = AULE_OK;
    for (int i = 0; i < 4 && st == AULE_OK; i++)
        st = aule_tensor_create(ctx, &d, &t[i]);
    float *x = calloc(2 * 9 * (size_t)s->head_dim, sizeof *x);
    for (int i = 0; i < 3 && st == AULE_OK; i++)
        st = aule_tensor_write(t[i], x, aule_tensor_bytes(t[i]));
    if (st == AULE_OK) {
        aule_forward_args a = {.q = t[0], .k = t[1], .v = t[2], .o = t[3]};
        st = aule_attention_forward(ctx, s, &a);
    }
    if (st == AULE_OK)
        st = aule_tensor_read(t[3], x, aule_tensor_bytes(t[3]));
    free(x);
    for (int i = 0; i < 4; i++)
        aule_tensor_destroy(t[i]);
    return st;
}

/* Allocation-failure injection: each failure is a status, nothing leaks
 * (LSan in the ASan build), and the context works once injection stops. */
static void test_allocation_failures(void **state)
{
    (void)state;
    auegen_spec specs[] = {small_spec(8), small_spec(56)};
    int failed_calls = 0, runs = 0;
    for (int n = 1; n <= 24; n++) {
        for (int vk = 0; vk <= 1; vk++) {
            aule_context *ctx = open_ctx(true);
            aule__fault_injection(vk ? 0 : n, vk ? (n + 1) / 2 : 0);
            for (int i = 0; i < 2; i++) {
                aule_status st = round_trip(ctx, &specs[i]);
                failed_calls += st != AULE_OK;
                runs++;
            }
            aule__fault_injection(0, 0);
            for (int i = 0; i < 2; i++) {
                aule_status st = round_trip(ctx, &specs[i]);
                if (st != AULE_OK)
                    fail_msg("after injection (host every %d, vk every %d) the context fails: %s: %s",
                             vk ? 0 : n, vk ? (n + 1) / 2 : 0, aule_status_string(st), aule_context_last_error(ctx));
            }
            aule_context_destroy(ctx);
        }
    }
    print_message("allocation failures: %d of %d injected runs failed with a status; all recovered\n",
                  failed_calls, runs);
    assert_true(failed_calls > 0);
}

static int make_cache_dir(void **state)
{
    (void)state;
    snprintf(cache_dir, sizeof cache_dir, "/tmp/aule-reliability-XXXXXX");
    return mkdtemp(cache_dir) ? 0 : -1;
}

static int remove_cache_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    test_device_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_cache_entry_heals),
        cmocka_unit_test(test_bad_cache_entry_without_jit),
        cmocka_unit_test(test_shape_overflow),
        cmocka_unit_test(test_lifetimes),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, make_cache_dir, remove_cache_dir);
}
