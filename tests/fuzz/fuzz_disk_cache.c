/* SPDX-License-Identifier: MIT */
/*
 * fuzz_disk_cache.c - libFuzzer target: the disk cache's entry parser
 * (runtime/disk_cache.c) on arbitrary files. The first byte picks what the
 * rest is: 0 the whole entry file as it is; 1 a SPIR-V payload, wrapped in an
 * entry with the right header and checksum (so the fuzzer gets past the
 * checksum); 2 a blob payload, wrapped likewise. A load is a hit with exactly
 * the bytes stored, or a miss; never a crash. Corpus: tests/fuzz/corpus/disk_cache.
 */
#include "disk_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static char root[64];
static char spv_path[256], blob_path[256];
static const char key[] = "0123456789abcdef0123456789abcdef";
static const char key_input[] = "aule-fuzz key input";
static const char blob_name[] = "fuzz-blob";
static disk_cache *cache;

static void write_file(const char *path, const void *a, size_t na)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (na && fwrite(a, 1, na, f) != na)
        abort();
    fclose(f);
}

/* An entry: magic, version 1, key input, size, payload, XXH3 of all before. */
static unsigned char *wrap(const char *magic, const char *input, const uint8_t *payload, size_t n, size_t *out_size)
{
    uint32_t klen = (uint32_t)strlen(input), version = 1;
    uint64_t size = n;
    size_t total = 8 + 4 + 4 + klen + 8 + n + 8;
    unsigned char *e = malloc(total), *p = e;
    memcpy(p, magic, 8), p += 8;
    memcpy(p, &version, 4), p += 4;
    memcpy(p, &klen, 4), p += 4;
    memcpy(p, input, klen), p += klen;
    memcpy(p, &size, 8), p += 8;
    if (n)
        memcpy(p, payload, n);
    p += n;
    uint64_t sum = XXH3_64bits(e, total - 8);
    memcpy(p, &sum, 8);
    *out_size = total;
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cache) {
        snprintf(root, sizeof root, "/tmp/aule-fuzz-cache-%ld", (long)getpid());
        if (aule__disk_cache_open(root, &cache) != 0)
            abort();
        snprintf(spv_path, sizeof spv_path, "%s/v1/spirv/%.2s", root, key);
        mkdir(spv_path, 0755);
        snprintf(spv_path, sizeof spv_path, "%s/v1/spirv/%.2s/%s.spv", root, key, key + 2);
        snprintf(blob_path, sizeof blob_path, "%s/v1/pipeline/%s.bin", root, blob_name);
    }
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    unsigned char *file = NULL;
    size_t file_size = n;
    if (mode == 1)
        file = wrap("AULESPV", key_input, rest, n, &file_size);
    else if (mode == 2)
        file = wrap("AULEPCB", blob_name, rest, n, &file_size);
    const void *bytes = file ? (const void *)file : (const void *)rest;
    write_file(mode == 2 ? blob_path : spv_path, bytes, file_size);
    if (mode == 2) {
        void *blob = NULL;
        size_t blob_size = 0;
        if (aule__disk_cache_load_blob(cache, blob_name, &blob, &blob_size)
            && (blob_size != n || memcmp(blob, rest, n) != 0))
            __builtin_trap();           /* a hit returns exactly what was stored */
        free(blob);
    } else {
        uint32_t *words = NULL;
        size_t count = 0;
        bool hit = aule__disk_cache_load(cache, key, key_input, &words, &count);
        if (hit && (mode != 1 || count * 4 != n || memcmp(words, rest, n) != 0 || words[0] != 0x07230203u))
            __builtin_trap();
        free(words);
    }
    free(file);
    return 0;
}
