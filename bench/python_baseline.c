/* SPDX-License-Identifier: MIT */
/*
 * python_baseline.c - the direct C call that bench/python_overhead.py measures
 * aule.attention against: per call, write Q, K, V (host to device), run the
 * forward kernel, read O back, on tensors created once. f16, [1][H][S][D].
 * Prints the mean microseconds per call over CALLS calls, after a warm-up.
 *
 *   python_baseline CALLS H S D
 */
#include "aule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 5)
        return fprintf(stderr, "usage: python_baseline CALLS H S D\n"), 2;
    int calls = atoi(argv[1]), H = atoi(argv[2]), S = atoi(argv[3]), D = atoi(argv[4]);
    char text[256];
    snprintf(text, sizeof text, "attention { name = \"py_forward\", kind = \"forward\", head_dim = %d, "
             "head_dim_v = %d, gqa = 1, dtype = \"f16\" }\n", D, D);
    auegen_spec_file *file;
    aule_context *ctx;
    if (auegen_spec_file_load_string(text, strlen(text), "bench", &file) != AUEGEN_OK ||
        aule_context_create(NULL, &ctx) != AULE_OK)
        return fprintf(stderr, "python_baseline: spec or context\n"), 1;
    const auegen_spec *spec = auegen_spec_file_get(file, 0);
    aule_tensor_desc d = {.dtype = AULE_DTYPE_F16, .ndim = 4, .shape = {1, H, S, D}};
    aule_tensor *t[4];
    for (int i = 0; i < 4; i++)
        if (aule_tensor_create(ctx, &d, &t[i]) != AULE_OK)
            return fprintf(stderr, "python_baseline: %s\n", aule_context_last_error(ctx)), 1;
    size_t bytes = aule_tensor_bytes(t[0]);
    unsigned short *host = calloc(4, bytes);
    for (size_t i = 0; i < 3 * bytes / 2; i++)
        host[i] = 0x3c00 ^ (unsigned short)(i * 2654435761u >> 22 & 0x3ff);   /* f16 values in [1, 2) */
    aule_forward_args a = {.q = t[0], .k = t[1], .v = t[2], .o = t[3]};
    double t0 = 0;
    for (int n = -calls / 10 - 1; n < calls; n++) {
        if (n == 0)
            t0 = aule_clock_ms();
        for (int i = 0; i < 3; i++)
            aule_tensor_write(t[i], (char *)host + i * bytes, bytes);
        if (aule_attention_forward(ctx, spec, &a) != AULE_OK)
            return fprintf(stderr, "python_baseline: %s\n", aule_context_last_error(ctx)), 1;
        aule_tensor_read(t[3], (char *)host + 3 * bytes, bytes);
    }
    printf("%.3f\n", (aule_clock_ms() - t0) * 1000.0 / calls);
    for (int i = 0; i < 4; i++)
        aule_tensor_destroy(t[i]);
    aule_context_destroy(ctx);
    auegen_spec_file_destroy(file);
    free(host);
    return 0;
}
