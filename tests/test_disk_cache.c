/* SPDX-License-Identifier: MIT */
/*
 * test_disk_cache.c - unit tests of the on-disk SPIR-V and blob cache: round
 * trips, every kind of bad entry as a miss, bad keys and names, concurrent
 * processes and threads, an unwritable root, eviction, root resolution.
 * Each test works in its own mkdtemp folder and removes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "disk_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#define SPIRV_MAGIC 0x07230203u

/* --- helpers ----------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];     /* the mkdtemp folder */
    char root[128];   /* <dir>/cache */
    disk_cache *c;
} fixture;

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[4096];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/aule-dc-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->root, sizeof f->root, "%s/cache", f->dir);
    if (aule__disk_cache_open(f->root, &f->c) != 0) {
        remove_tree(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    aule__disk_cache_close(f->c);
    remove_tree(f->dir);
    free(f);
    return 0;
}

/* The key of a key input, as the generator computes it (XXH3-128, lowercase hex). */
static void key_of(const char *input, char out[33])
{
    XXH128_hash_t h = XXH3_128bits(input, strlen(input));
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64, (unsigned long long)h.low64);
}

/* Deterministic fake SPIR-V: n words, the magic first, the rest from seed. */
static uint32_t *fake_spirv(uint32_t seed, size_t n)
{
    uint32_t *w = malloc(n * sizeof *w);
    assert_non_null(w);
    w[0] = SPIRV_MAGIC;
    for (size_t i = 1; i < n; i++)
        w[i] = (uint32_t)(seed * 2654435761u) ^ (uint32_t)(i * 40503u) ^ (uint32_t)(i >> 3);
    return w;
}

static void entry_path(const fixture *f, const char *key, char *out, size_t size)
{
    snprintf(out, size, "%s/v1/spirv/%.2s/%s.spv", f->root, key, key + 2);
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *size = (size_t)n;
    return b;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (size)
        assert_int_equal(fwrite(data, 1, size, fp), size);
    assert_int_equal(fclose(fp), 0);
}

/* Recomputes an entry's trailing checksum, so only the check under test can catch an edit. */
static void reseal(unsigned char *b, size_t size)
{
    uint64_t h = XXH3_64bits(b, size - 8);
    for (int i = 0; i < 8; i++)
        b[size - 8 + i] = (unsigned char)(h >> (8 * i));
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Stores a small entry under input's key; fills key and path. */
static void store_one(fixture *f, const char *input, char key[33], char *path, size_t path_size)
{
    key_of(input, key);
    uint32_t *w = fake_spirv(7, 100);
    assert_true(aule__disk_cache_store(f->c, key, input, w, 100));
    free(w);
    entry_path(f, key, path, path_size);
}

static bool loads(fixture *f, const char *key, const char *input)
{
    uint32_t *w = (uint32_t *)1;
    size_t n = 99;
    bool hit = aule__disk_cache_load(f->c, key, input, &w, &n);
    if (!hit) {
        assert_null(w);
        assert_int_equal(n, 0);
    }
    free(hit ? w : NULL);
    return hit;
}

/* Counts files under path whose name starts with prefix (recursively). */
static int count_files(const char *path, const char *prefix)
{
    int n = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_files(child, prefix);
        else if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static uint64_t tree_bytes(const char *path)
{
    uint64_t n = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(child, &st) != 0)
            continue;
        n += S_ISDIR(st.st_mode) ? tree_bytes(child) : (uint64_t)st.st_size;
    }
    closedir(d);
    return n;
}

/* --- round trip and misses ----------------------------------------------------- */

static void test_round_trip(void **state)
{
    fixture *f = *state;
    const char *input = "aule-key/1\nspec llama2 head_dim=128\ntarget nvidia-hopper\n";
    char key[33], path[512];
    key_of(input, key);
    uint32_t *w = fake_spirv(1, 1000);
    assert_true(aule__disk_cache_store(f->c, key, input, w, 1000));
    entry_path(f, key, path, sizeof path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, 16 + strlen(input) + 8 + 4000 + 8);

    uint32_t *got = NULL;
    size_t n = 0;
    assert_true(aule__disk_cache_load(f->c, key, input, &got, &n));
    assert_int_equal(n, 1000);
    assert_memory_equal(got, w, 4000);
    free(got);

    /* A second store replaces the entry. */
    uint32_t *w2 = fake_spirv(2, 37);
    assert_true(aule__disk_cache_store(f->c, key, input, w2, 37));
    assert_true(aule__disk_cache_load(f->c, key, input, &got, &n));
    assert_int_equal(n, 37);
    assert_memory_equal(got, w2, 37 * 4);
    free(got);
    free(w);
    free(w2);
    assert_string_equal(aule__disk_cache_root(f->c), f->root);
    assert_int_equal(count_files(f->root, ".tmp-"), 0);
}

static void test_absent_is_miss(void **state)
{
    fixture *f = *state;
    char key[33];
    key_of("never stored", key);
    assert_false(loads(f, key, "never stored"));
    assert_string_equal(aule__disk_cache_last_error(f->c), "");   /* absence is not an error */
}

static void test_corrupt_byte_is_miss(void **state)
{
    fixture *f = *state;
    char key[33], path[512];
    store_one(f, "corrupt me", key, path, sizeof path);
    size_t size;
    unsigned char *b = read_file(path, &size);
    /* Flip one byte at several places: header, key input, payload, checksum. */
    size_t spots[] = {3, 9, 17, size / 2, size - 40, size - 1};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        b[spots[i]] ^= 0x10;
        write_file(path, b, size);
        assert_false(loads(f, key, "corrupt me"));
        assert_true(strlen(aule__disk_cache_last_error(f->c)) > 0);
        b[spots[i]] ^= 0x10;
    }
    b[size / 2] ^= 1;
    write_file(path, b, size);
    assert_false(loads(f, key, "corrupt me"));
    assert_non_null(strstr(aule__disk_cache_last_error(f->c), "checksum"));
    b[size / 2] ^= 1;
    write_file(path, b, size);
    assert_true(loads(f, key, "corrupt me"));
    free(b);
}

static void test_truncated_is_miss(void **state)
{
    fixture *f = *state;
    char key[33], path[512];
    store_one(f, "truncate me", key, path, sizeof path);
    size_t size;
    unsigned char *b = read_file(path, &size);
    size_t klen = strlen("truncate me");
    size_t lengths[] = {1, 7, 8, 12, 15, 16, 16 + klen - 1, 16 + klen, 16 + klen + 7, 16 + klen + 8,
                        16 + klen + 12, size / 2, size - 9, size - 8, size - 4, size - 1};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        write_file(path, b, lengths[i]);
        assert_false(loads(f, key, "truncate me"));
    }
    /* One byte too many is wrong too. */
    unsigned char *longer = malloc(size + 1);
    assert_non_null(longer);
    memcpy(longer, b, size);
    longer[size] = 0;
    write_file(path, longer, size + 1);
    assert_false(loads(f, key, "truncate me"));
    free(longer);
    write_file(path, b, size);
    assert_true(loads(f, key, "truncate me"));
    free(b);
}

/* Edits a header field, reseals the checksum and expects a miss. */
static void expect_miss_after_edit(fixture *f, const char *key, const char *input, const char *path,
                                   size_t offset, uint64_t value, int bytes)
{
    size_t size;
    unsigned char *b = read_file(path, &size);
    unsigned char *copy = malloc(size);
    assert_non_null(copy);
    memcpy(copy, b, size);
    put_le(copy + offset, value, bytes);
    reseal(copy, size);
    write_file(path, copy, size);
    assert_false(loads(f, key, input));
    write_file(path, b, size);
    assert_true(loads(f, key, input));
    free(copy);
    free(b);
}

static void test_header_lies_are_misses(void **state)
{
    fixture *f = *state;
    const char *input = "header lies";
    char key[33], path[512];
    store_one(f, input, key, path, sizeof path);
    size_t klen = strlen(input), size_at = 16 + klen, payload_at = size_at + 8;
    expect_miss_after_edit(f, key, input, path, 8, 2, 4);                     /* format version 2 */
    expect_miss_after_edit(f, key, input, path, 8, 0, 4);                     /* format version 0 */
    expect_miss_after_edit(f, key, input, path, 0, 0x4c55414bu, 4);           /* bad magic */
    expect_miss_after_edit(f, key, input, path, 12, 0xffffffffu, 4);          /* huge key length */
    expect_miss_after_edit(f, key, input, path, 12, klen - 1, 4);             /* short key length */
    expect_miss_after_edit(f, key, input, path, size_at, UINT64_MAX, 8);      /* huge payload */
    expect_miss_after_edit(f, key, input, path, size_at, 1ull << 40, 8);
    expect_miss_after_edit(f, key, input, path, size_at, 396, 8);             /* shorter than the file */
    expect_miss_after_edit(f, key, input, path, size_at, 0, 8);
    expect_miss_after_edit(f, key, input, path, payload_at, 0x03022307u, 4);  /* not SPIR-V */
    expect_miss_after_edit(f, key, input, path, 16, 'X', 1);                  /* key input differs */

    /* A payload size that is not a multiple of 4, consistent with the file. */
    size_t size;
    unsigned char *b = read_file(path, &size);
    unsigned char *odd = malloc(size - 1);
    assert_non_null(odd);
    memcpy(odd, b, payload_at + 399);
    put_le(odd + size_at, 399, 8);
    reseal(odd, size - 1);
    write_file(path, odd, size - 1);
    assert_false(loads(f, key, input));
    free(odd);
    free(b);
}

static void test_foreign_entry_is_miss(void **state)
{
    fixture *f = *state;
    char key_a[33], key_b[33], path_a[512], path_b[512];
    store_one(f, "input A", key_a, path_a, sizeof path_a);
    key_of("input B", key_b);
    entry_path(f, key_b, path_b, sizeof path_b);
    /* A's valid entry copied to B's place. */
    size_t size;
    unsigned char *b = read_file(path_a, &size);
    char dir_b[512];
    snprintf(dir_b, sizeof dir_b, "%s/v1/spirv/%.2s", f->root, key_b);
    mkdir(dir_b, 0755);
    write_file(path_b, b, size);
    assert_false(loads(f, key_b, "input B"));
    assert_non_null(strstr(aule__disk_cache_last_error(f->c), "key input differs"));
    free(b);
    /* A's key asked with another input (a hash collision), same length or not. */
    assert_false(loads(f, key_a, "input Z"));
    assert_false(loads(f, key_a, "input A "));
    assert_false(loads(f, key_a, ""));
    assert_true(loads(f, key_a, "input A"));
    /* A blob is not a SPIR-V entry, even under the right input. */
    assert_true(aule__disk_cache_store_blob(f->c, "x", "\x03\x02\x23\x07zzzz", 8));
    char blob[512];
    snprintf(blob, sizeof blob, "%s/v1/pipeline/x.bin", f->root);
    b = read_file(blob, &size);
    char key_x[33], path_x[512];
    key_of("x", key_x);
    entry_path(f, key_x, path_x, sizeof path_x);
    snprintf(dir_b, sizeof dir_b, "%s/v1/spirv/%.2s", f->root, key_x);
    mkdir(dir_b, 0755);
    write_file(path_x, b, size);
    assert_false(loads(f, key_x, "x"));
    free(b);
}

static void test_garbage_and_empty_are_misses(void **state)
{
    fixture *f = *state;
    char key[33], path[512];
    store_one(f, "garbage", key, path, sizeof path);
    unsigned char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    write_file(path, junk, sizeof junk);
    assert_false(loads(f, key, "garbage"));
    memcpy(junk, "AULESPV", 8);   /* right magic, garbage after it */
    write_file(path, junk, sizeof junk);
    assert_false(loads(f, key, "garbage"));
    write_file(path, "", 0);
    assert_false(loads(f, key, "garbage"));
    /* A folder where the entry should be. */
    unlink(path);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_false(loads(f, key, "garbage"));
    /* ...which a store cannot replace (rename fails): false, and its temp file is gone. */
    char inner[600];
    snprintf(inner, sizeof inner, "%s/x", path);
    write_file(inner, "x", 1);
    uint32_t w4[4] = {SPIRV_MAGIC, 1, 2, 3};
    assert_false(aule__disk_cache_store(f->c, key, "garbage", w4, 4));
    assert_non_null(strstr(aule__disk_cache_last_error(f->c), "rename"));
    assert_int_equal(count_files(f->root, ".tmp-"), 0);
    unlink(inner);
    rmdir(path);
    /* A FIFO there: a miss, without blocking. */
    assert_int_equal(mkfifo(path, 0644), 0);
    assert_false(loads(f, key, "garbage"));
    assert_non_null(strstr(aule__disk_cache_last_error(f->c), "not a regular file"));
    unlink(path);
    /* A store over garbage repairs the entry. */
    write_file(path, junk, 100);
    uint32_t *w = fake_spirv(9, 10);
    assert_true(aule__disk_cache_store(f->c, key, "garbage", w, 10));
    free(w);
    assert_true(loads(f, key, "garbage"));
}

static void test_bad_keys_rejected(void **state)
{
    fixture *f = *state;
    const char *bad[] = {
        "../etc", "", "0123456789abcdef", "0123456789abcdef0123456789abcde",
        "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdeg", "../../../../../../../../../../tmp",
        "0123456789abcdef/123456789abcdef", "0123456789abcdef 0123456789abcde", NULL,
    };
    uint32_t w[4] = {SPIRV_MAGIC, 1, 2, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(aule__disk_cache_key_valid(bad[i]));
        assert_false(aule__disk_cache_store(f->c, bad[i], "in", w, 4));
        assert_non_null(strstr(aule__disk_cache_last_error(f->c), "invalid cache key"));
        assert_false(loads(f, bad[i], "in"));
    }
    assert_int_equal(count_files(f->dir, ""), 0);   /* nothing was written anywhere */
    assert_true(aule__disk_cache_key_valid("0123456789abcdef0123456789abcdef"));

    /* Other bad arguments. */
    char key[33];
    key_of("k", key);
    assert_false(aule__disk_cache_store(f->c, key, NULL, w, 4));
    assert_false(aule__disk_cache_store(f->c, key, "k", NULL, 4));
    assert_false(aule__disk_cache_store(f->c, key, "k", w, 0));
    uint32_t not_spirv[2] = {0x12345678, 0};
    assert_false(aule__disk_cache_store(f->c, key, "k", not_spirv, 2));
    assert_false(aule__disk_cache_store(f->c, key, "k", w, DISK_CACHE_MAX_SPIRV_BYTES / 4 + 1));
    assert_false(aule__disk_cache_store(NULL, key, "k", w, 4));
    uint32_t *got;
    size_t n;
    assert_false(aule__disk_cache_load(f->c, key, NULL, &got, &n));
    assert_false(aule__disk_cache_load(f->c, key, "k", NULL, &n));
    assert_false(aule__disk_cache_load(NULL, key, "k", &got, &n));
    assert_int_equal(count_files(f->dir, ""), 0);
}

/* --- concurrency ------------------------------------------------------------- */

enum { PROCS = 8, ROUNDS = 50, SHARED_KEYS = 6, VARIANTS = 3 };

/* Words of (key k, variant v): lengths differ, so a torn mix would show. */
static size_t variant_words(int k, int v)
{
    return (size_t)(64 + 97 * k + 1031 * v);
}

static bool matches_a_variant(int k, const uint32_t *got, size_t n)
{
    for (int v = 0; v < VARIANTS; v++) {
        size_t want_n = variant_words(k, v);
        if (n != want_n)
            continue;
        uint32_t *want = fake_spirv((uint32_t)(k * 10 + v), want_n);
        bool same = memcmp(want, got, n * 4) == 0;
        free(want);
        if (same)
            return true;
    }
    return false;
}

/* One worker's rounds on cache c: stores and loads of shared keys and of its
 * own key. Returns the number of bad loads (-1: a store failed). */
static int hammer(disk_cache *c, int worker)
{
    int bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int k = (r + worker) % SHARED_KEYS;
        if (r % 5 == 4)
            k = SHARED_KEYS + worker;   /* a key only this worker uses */
        char input[64], key[33];
        snprintf(input, sizeof input, "concurrent key %d", k);
        key_of(input, key);
        int v = (r * 7 + worker) % VARIANTS;
        uint32_t *w = fake_spirv((uint32_t)(k * 10 + v), variant_words(k, v));
        if (!aule__disk_cache_store(c, key, input, w, variant_words(k, v)))
            bad = -1000;
        free(w);
        for (int j = 0; j < 3; j++) {
            int lk = (r * 3 + j + worker) % (SHARED_KEYS + 1);
            snprintf(input, sizeof input, "concurrent key %d", lk);
            key_of(input, key);
            uint32_t *got = NULL;
            size_t n = 0;
            if (aule__disk_cache_load(c, key, input, &got, &n) && !matches_a_variant(lk, got, n))
                bad++;
            free(got);
        }
    }
    return bad;
}

static void check_final_state(fixture *f, int workers)
{
    assert_int_equal(count_files(f->root, ".tmp-"), 0);
    /* Every key was stored at least once, so every one loads, whole. */
    for (int k = 0; k < SHARED_KEYS + workers; k++) {
        char input[64], key[33];
        snprintf(input, sizeof input, "concurrent key %d", k);
        key_of(input, key);
        uint32_t *got = NULL;
        size_t n = 0;
        assert_true(aule__disk_cache_load(f->c, key, input, &got, &n));
        assert_true(matches_a_variant(k, got, n));
        free(got);
    }
}

static void test_processes(void **state)
{
    fixture *f = *state;
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            disk_cache *c;
            if (aule__disk_cache_open(f->root, &c) != 0)
                _exit(3);
            int bad = hammer(c, p);
            aule__disk_cache_close(c);
            _exit(bad == 0 ? 0 : bad < 0 ? 2 : 1);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    check_final_state(f, PROCS);
}

typedef struct worker_arg {
    disk_cache *c;
    int worker;
    int bad;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *a = p;
    a->bad = hammer(a->c, a->worker);
    /* Each thread reads the shared error text while others write it. */
    (void)strlen(aule__disk_cache_last_error(a->c));
    return NULL;
}

static void test_threads_share_one_cache(void **state)
{
    fixture *f = *state;
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.c = f->c, .worker = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].bad, 0);
    }
    check_final_state(f, THREADS);
}

/* --- failures, eviction, blobs, roots --------------------------------------------- */

static void test_unwritable_root(void **state)
{
    fixture *f = *state;
    char file[128], root[160];
    snprintf(file, sizeof file, "%s/file", f->dir);
    write_file(file, "x", 1);
    snprintf(root, sizeof root, "%s/cache", file);   /* below a regular file: mkdir fails */
    disk_cache *c = NULL;
    assert_int_equal(aule__disk_cache_open(root, &c), 0);
    assert_non_null(c);
    assert_non_null(strstr(aule__disk_cache_last_error(c), "cannot create"));
    char key[33];
    key_of("k", key);
    uint32_t w[8] = {SPIRV_MAGIC, 1, 2, 3, 4, 5, 6, 7};
    assert_false(aule__disk_cache_store(c, key, "k", w, 8));
    assert_non_null(strstr(aule__disk_cache_last_error(c), "Not a directory"));
    uint32_t *got = (uint32_t *)1;
    size_t n = 5;
    assert_false(aule__disk_cache_load(c, key, "k", &got, &n));
    assert_null(got);
    assert_false(aule__disk_cache_store_blob(c, "pc", "abc", 3));
    void *blob;
    size_t size;
    assert_false(aule__disk_cache_load_blob(c, "pc", &blob, &size));
    aule__disk_cache_close(c);
}

static void test_eviction_keeps_under_cap(void **state)
{
    fixture *f = *state;
    const uint64_t cap = 40000;
    aule__disk_cache_set_limit(f->c, cap);
    char spirv[256];
    snprintf(spirv, sizeof spirv, "%s/v1/spirv", f->root);
    char last_key[33] = "", last_input[64] = "";
    for (int i = 0; i < 60; i++) {
        snprintf(last_input, sizeof last_input, "evict %d", i);
        key_of(last_input, last_key);
        size_t n = 200 + (size_t)(i % 7) * 150;   /* 0.8 .. 4.4 KB */
        uint32_t *w = fake_spirv((uint32_t)i, n);
        assert_true(aule__disk_cache_store(f->c, last_key, last_input, w, n));
        free(w);
        assert_true(tree_bytes(spirv) <= cap);
        assert_true(loads(f, last_key, last_input));   /* the newest entry stays */
    }
    assert_true(tree_bytes(spirv) > cap / 2);
}

static void test_eviction_drops_oldest(void **state)
{
    fixture *f = *state;
    enum { N = 10 };
    char keys[N][33], inputs[N][32], paths[N][512];
    for (int i = 0; i < N; i++) {
        snprintf(inputs[i], sizeof inputs[i], "age %d", i);
        key_of(inputs[i], keys[i]);
        uint32_t *w = fake_spirv((uint32_t)i, 250);   /* entries of 1038 bytes */
        assert_true(aule__disk_cache_store(f->c, keys[i], inputs[i], w, 250));
        free(w);
        entry_path(f, keys[i], paths[i], sizeof paths[i]);
        /* Entry i was last used at hour i of some old day: 0 is the oldest. */
        struct timespec times[2] = {{.tv_sec = 1000000 + i * 3600}, {.tv_sec = 1000000 + i * 3600}};
        assert_int_equal(utimensat(AT_FDCWD, paths[i], times, 0), 0);
    }
    /* Using entry 1 makes it recent. */
    assert_true(loads(f, keys[1], inputs[1]));
    /* 11 entries against a cap of 8: the store walks the tree and trims it to 90%
     * of the cap (7.2 entries), so the 4 least recently used go. */
    aule__disk_cache_set_limit(f->c, 8 * 1038);
    uint32_t *w = fake_spirv(99, 250);
    char key[33];
    key_of("age new", key);
    assert_true(aule__disk_cache_store(f->c, key, "age new", w, 250));
    free(w);
    struct stat st;
    for (int i = 0; i < N; i++) {
        bool kept = stat(paths[i], &st) == 0;
        bool want = i == 1 || i >= 5;   /* 0, 2, 3, 4 were the least recently used */
        assert_int_equal(kept, want);
    }
    assert_true(loads(f, key, "age new"));
    /* Entries deleted behind the cache's back do not upset the next walk. */
    for (int i = 5; i < N; i++)
        unlink(paths[i]);
    w = fake_spirv(100, 250);
    key_of("age newer", key);
    assert_true(aule__disk_cache_store(f->c, key, "age newer", w, 250));
    free(w);
    /* A cap of 0: no eviction. */
    aule__disk_cache_set_limit(f->c, 0);
    w = fake_spirv(101, 20000);
    key_of("big", key);
    assert_true(aule__disk_cache_store(f->c, key, "big", w, 20000));
    free(w);
    assert_true(loads(f, key, "big"));
    assert_true(loads(f, keys[1], inputs[1]));
    /* A cap below one entry: the entry just stored stays, every other goes. */
    aule__disk_cache_set_limit(f->c, 100);
    w = fake_spirv(102, 300);
    key_of("lone", key);
    assert_true(aule__disk_cache_store(f->c, key, "lone", w, 300));
    free(w);
    assert_true(loads(f, key, "lone"));
    char spirv[256];
    snprintf(spirv, sizeof spirv, "%s/v1/spirv", f->root);
    assert_int_equal(count_files(spirv, ""), 1);
}

static void test_stale_temp_files_removed(void **state)
{
    fixture *f = *state;
    char key[33], path[512];
    store_one(f, "temps", key, path, sizeof path);
    char dir[512], stale[600], fresh[600];
    snprintf(dir, sizeof dir, "%s/v1/spirv/%.2s", f->root, key);
    snprintf(stale, sizeof stale, "%s/.tmp-1-2-3-dead", dir);
    snprintf(fresh, sizeof fresh, "%s/.tmp-1-2-4-live", dir);
    write_file(stale, "partial", 7);
    write_file(fresh, "partial", 7);
    struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
    assert_int_equal(utimensat(AT_FDCWD, stale, old, 0), 0);
    /* A fresh cache walks the tree on its first store. */
    disk_cache *c;
    assert_int_equal(aule__disk_cache_open(f->root, &c), 0);
    uint32_t *w = fake_spirv(3, 16);
    assert_true(aule__disk_cache_store(c, key, "temps", w, 16));
    free(w);
    aule__disk_cache_close(c);
    struct stat st;
    assert_int_not_equal(stat(stale, &st), 0);
    assert_int_equal(stat(fresh, &st), 0);   /* maybe a live writer's */
    unlink(fresh);
}

static void test_blobs(void **state)
{
    fixture *f = *state;
    unsigned char data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37);
    const char *name = "pipeline-10de-2335.v1_x";
    assert_true(aule__disk_cache_store_blob(f->c, name, data, sizeof data));
    void *got = NULL;
    size_t size = 0;
    assert_true(aule__disk_cache_load_blob(f->c, name, &got, &size));
    assert_int_equal(size, sizeof data);
    assert_memory_equal(got, data, sizeof data);
    free(got);
    assert_false(aule__disk_cache_load_blob(f->c, "absent", &got, &size));
    assert_null(got);

    /* Corrupt and truncated blobs miss. */
    char path[512];
    snprintf(path, sizeof path, "%s/v1/pipeline/%s.bin", f->root, name);
    size_t fsize;
    unsigned char *b = read_file(path, &fsize);
    b[fsize / 2] ^= 4;
    write_file(path, b, fsize);
    assert_false(aule__disk_cache_load_blob(f->c, name, &got, &size));
    write_file(path, b, fsize / 2);
    assert_false(aule__disk_cache_load_blob(f->c, name, &got, &size));
    b[fsize / 2] ^= 4;
    /* A blob renamed to another name misses (its name is its key input). */
    char other[512];
    snprintf(other, sizeof other, "%s/v1/pipeline/other.bin", f->root);
    write_file(other, b, fsize);
    assert_false(aule__disk_cache_load_blob(f->c, "other", &got, &size));
    free(b);

    char long_name[DISK_CACHE_MAX_BLOB_NAME + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *bad[] = {"", ".hidden", "..", "a/b", "../x", "sp ace", "a\\b", "ü", long_name, NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(aule__disk_cache_blob_name_valid(bad[i]));
        assert_false(aule__disk_cache_store_blob(f->c, bad[i], data, 10));
        assert_non_null(strstr(aule__disk_cache_last_error(f->c), "invalid blob name"));
        assert_false(aule__disk_cache_load_blob(f->c, bad[i], &got, &size));
    }
    long_name[DISK_CACHE_MAX_BLOB_NAME] = '\0';
    assert_true(aule__disk_cache_blob_name_valid(long_name));
    assert_true(aule__disk_cache_store_blob(f->c, long_name, data, 1));
    assert_true(aule__disk_cache_load_blob(f->c, long_name, &got, &size));
    assert_int_equal(size, 1);
    free(got);
    assert_false(aule__disk_cache_store_blob(f->c, "empty", data, 0));
    assert_false(aule__disk_cache_store_blob(f->c, "null", NULL, 5));
    assert_int_equal(count_files(f->root, ".tmp-"), 0);
}

/* Sets or unsets an environment variable (value NULL: unset). */
static void set_env(const char *name, const char *value)
{
    if (value)
        assert_int_equal(setenv(name, value, 1), 0);
    else
        assert_int_equal(unsetenv(name), 0);
}

static void expect_root(const char *want)
{
    disk_cache *c = NULL;
    assert_int_equal(aule__disk_cache_open(NULL, &c), 0);
    if (want)
        assert_string_equal(aule__disk_cache_root(c), want);
    else
        assert_null(aule__disk_cache_root(c));
    aule__disk_cache_close(c);
}

static void test_env_resolution(void **state)
{
    fixture *f = *state;
    const char *names[] = {"AULE_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
    char *saved[3];
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    char aule[128], xdg[128], home[128], want[200];
    snprintf(aule, sizeof aule, "%s/aule-dir", f->dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", f->dir);
    snprintf(home, sizeof home, "%s/home", f->dir);

    set_env("AULE_CACHE_DIR", aule);
    set_env("XDG_CACHE_HOME", xdg);
    set_env("HOME", home);
    expect_root(aule);
    struct stat st;
    assert_int_equal(stat(aule, &st), 0);   /* created, with v1/spirv below */

    set_env("AULE_CACHE_DIR", "");           /* empty counts as unset */
    snprintf(want, sizeof want, "%s/aule", xdg);
    expect_root(want);

    set_env("AULE_CACHE_DIR", NULL);
    expect_root(want);

    set_env("XDG_CACHE_HOME", "relative/path");   /* XDG: relative paths are ignored */
    snprintf(want, sizeof want, "%s/.cache/aule", home);
    expect_root(want);

    set_env("XDG_CACHE_HOME", NULL);
    expect_root(want);
    snprintf(want, sizeof want, "%s/.cache/aule/v1/spirv", home);
    assert_int_equal(stat(want, &st), 0);

    set_env("HOME", NULL);
    expect_root(NULL);   /* nothing to go on: always miss */
    disk_cache *c;
    assert_int_equal(aule__disk_cache_open(NULL, &c), 0);
    assert_non_null(strstr(aule__disk_cache_last_error(c), "no cache folder"));
    char key[33];
    key_of("k", key);
    uint32_t w[2] = {SPIRV_MAGIC, 0};
    assert_false(aule__disk_cache_store(c, key, "k", w, 2));
    uint32_t *got;
    size_t n;
    assert_false(aule__disk_cache_load(c, key, "k", &got, &n));
    aule__disk_cache_close(c);

    /* An explicit root wins over everything; trailing slashes are dropped. */
    set_env("AULE_CACHE_DIR", aule);
    snprintf(want, sizeof want, "%s/explicit//", f->dir);
    assert_int_equal(aule__disk_cache_open(want, &c), 0);
    snprintf(want, sizeof want, "%s/explicit", f->dir);
    assert_string_equal(aule__disk_cache_root(c), want);
    aule__disk_cache_close(c);

    for (int i = 0; i < 3; i++) {
        set_env(names[i], saved[i]);
        free(saved[i]);
    }
}

static void test_null_and_defaults(void **state)
{
    (void)state;
    aule__disk_cache_close(NULL);
    assert_null(aule__disk_cache_root(NULL));
    assert_string_equal(aule__disk_cache_last_error(NULL), "");
    aule__disk_cache_set_limit(NULL, 1);
    aule__disk_cache_set_fsync(NULL, true);
    assert_int_equal(aule__disk_cache_open(NULL, NULL), EINVAL);
}

static void test_fsync_store(void **state)
{
    fixture *f = *state;
    aule__disk_cache_set_fsync(f->c, true);
    char key[33], path[512];
    store_one(f, "durable", key, path, sizeof path);
    assert_true(loads(f, key, "durable"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_is_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_byte_is_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_is_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_lies_are_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_entry_is_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_and_empty_are_misses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_one_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_keeps_under_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_drops_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temp_files_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_resolution, setup, teardown),
        cmocka_unit_test(test_null_and_defaults),
        cmocka_unit_test_setup_teardown(test_fsync_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
