/* SPDX-License-Identifier: MIT */
/*
 * fuzz_api.c - libFuzzer target: the C API's argument checks. The input is a
 * little program: tensor descriptors (dtypes, ranks, shapes and strides drawn
 * from small and hostile values), spec fields, and calls (forward, batch,
 * decode, append, write, read, destroy) whose arguments pick among the
 * tensors made so far, NULL, destroyed ones and a pointer that is no tensor.
 * Every call returns a status; nothing crashes, leaks or reads freed memory.
 * One context (lavapipe, no JIT: only kernels linked in from generated/ run)
 * is made once. Corpus: tests/fuzz/corpus/api.
 */
#include "aule.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TENSORS = 8 };

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static unsigned byte(reader *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static int64_t dim(reader *r)
{
    static const int64_t hostile[] = {0, -1, (int64_t)1 << 32, ((int64_t)1 << 32) + 1, INT64_MAX, (int64_t)1 << 31,
                                      INT64_MIN, 65536};
    unsigned b = byte(r);
    return b < 240 ? 1 + b % 16 : hostile[b % 8];
}

static int64_t stride(reader *r)
{
    static const int64_t values[] = {0, 1, 2, 7, 16, 64, 256, 4096, (int64_t)1 << 32, INT64_MAX, -1, 3};
    return values[byte(r) % 12];
}

static aule_context *ctx;
static char not_a_tensor[4096];

static const aule_tensor *pick(reader *r, aule_tensor **live, aule_tensor **dead)
{
    unsigned b = byte(r);
    switch (b % 4) {
    case 0: return live[b / 4 % MAX_TENSORS];
    case 1: return NULL;
    case 2: return b & 0x80 ? (const aule_tensor *)(void *)not_a_tensor : dead[b / 4 % MAX_TENSORS];
    default: return live[(b / 4 + 1) % MAX_TENSORS];
    }
}

/* The native CPU backend runs every spec without a JIT, so its attention calls
 * on large tensors are real work: there the harness makes a call only when every
 * live tensor it could pick holds at most this many bytes (Sq * Sk * D stays
 * small enough for the fuzzer's per-input timeout). */
enum { CPU_CALL_MAX_BYTES = 16 << 10 };
static bool on_cpu;

static bool calls_affordable(aule_tensor *const *live)
{
    for (int i = 0; on_cpu && i < MAX_TENSORS; i++)
        if (live[i] && aule_tensor_bytes(live[i]) > CPU_CALL_MAX_BYTES)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        aule_context_desc d = {.disable_jit = true, .disable_disk_cache = true};
        if (aule_context_create(&d, &ctx) != AULE_OK)
            abort();
        aule_device_info info;
        aule_context_device_info(ctx, &info);
        on_cpu = info.backend == AULE_BACKEND_CPU;
    }
    reader r = {data, size};
    aule_tensor *live[MAX_TENSORS] = {0}, *dead[MAX_TENSORS] = {0};
    float host[4096];
    memset(host, 0, sizeof host);
    for (int step = 0; step < 32 && r.n; step++) {
        unsigned op = byte(&r) % 8;
        int slot = (int)(byte(&r) % MAX_TENSORS);
        if (op == 0 || op == 1) {                       /* create */
            aule_tensor_desc d = {.dtype = (aule_dtype)(byte(&r) % 7 - 1), .ndim = (int)(byte(&r) % 6)};
            for (int i = 0; i < 4; i++) {
                d.shape[i] = dim(&r);
                d.strides[i] = op == 1 ? stride(&r) : 0;
            }
            aule_tensor *t = NULL;
            if (live[slot])
                aule_tensor_destroy(live[slot]);
            live[slot] = NULL;
            aule_status st = aule_tensor_create(ctx, &d, &t);
            if ((st == AULE_OK) != (t != NULL))
                __builtin_trap();
            live[slot] = t;
        } else if (op == 2) {                           /* destroy (the handle is kept as "dead") */
            aule_tensor_destroy(live[slot]);
            dead[slot] = live[slot];
            live[slot] = NULL;
        } else if (op == 3) {                           /* write and read with a chosen byte count */
            aule_tensor *t = (aule_tensor *)pick(&r, live, dead);
            size_t want = aule_tensor_bytes(t), bytes = byte(&r) & 1 ? want : byte(&r) * 4u;
            if (bytes <= sizeof host) {
                (void)aule_tensor_write(t, host, bytes);
                (void)aule_tensor_read(t, host, bytes);
            }
        } else {                                        /* an attention call */
            auegen_spec_desc sd = {.name = "f", .head_dim = (int)byte(&r) + 1, .gqa = (int)byte(&r) % 9,
                                   .dtype = (auegen_dtype)(byte(&r) % 3), .causal = byte(&r) & 1,
                                   .kind = (auegen_kind)(op >= 6 ? AUEGEN_KIND_DECODE : AUEGEN_KIND_FORWARD),
                                   .page_size = byte(&r) & 1 ? 16 : 0, .coopmat = AUEGEN_COOPMAT_NONE};
            auegen_spec spec;
            auegen_diag diag = {0};
            if (auegen_spec_validate(&sd, &spec, &diag) != AUEGEN_OK || !calls_affordable(live))
                continue;
            if (op == 4 || op == 5) {
                aule_forward_args a[2];
                for (int i = 0; i < 2; i++)
                    a[i] = (aule_forward_args){.q = pick(&r, live, dead), .k = pick(&r, live, dead),
                                               .v = pick(&r, live, dead), .o = (aule_tensor *)pick(&r, live, dead),
                                               .lse = (aule_tensor *)pick(&r, live, dead),
                                               .scale = (float)(byte(&r) % 4) - 1.0f};
                if (op == 4)
                    (void)aule_attention_forward(ctx, &spec, &a[0]);
                else
                    (void)aule_attention_forward_batch(ctx, &spec, a, (int)(byte(&r) % 4) - 1);
            } else if (op == 6) {
                aule_decode_args a = {.q = pick(&r, live, dead), .k_cache = pick(&r, live, dead),
                                      .v_cache = pick(&r, live, dead), .block_table = pick(&r, live, dead),
                                      .seq_lens = pick(&r, live, dead), .o = (aule_tensor *)pick(&r, live, dead),
                                      .num_splits = (int)(byte(&r) % 5) - 1};
                (void)aule_attention_decode(ctx, &spec, &a);
            } else {
                aule_append_args a = {.k_new = pick(&r, live, dead), .v_new = pick(&r, live, dead),
                                      .k_cache = (aule_tensor *)pick(&r, live, dead),
                                      .v_cache = (aule_tensor *)pick(&r, live, dead),
                                      .block_table = pick(&r, live, dead), .positions = pick(&r, live, dead)};
                (void)aule_kv_append(ctx, &spec, &a);
            }
        }
    }
    for (int i = 0; i < MAX_TENSORS; i++)
        aule_tensor_destroy(live[i]);
    return 0;
}
