/* SPDX-License-Identifier: MIT */
/*
 * fuzz_npy.c - libFuzzer target: the .npy reader (runtime/npy.c) on arbitrary
 * bytes. Every input is an array or an error with a message; a shape is
 * trusted only as far as the bytes present. Corpus: tests/fuzz/corpus/npy.
 */
#include "npy.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    aule_npy_array a;
    char err[256];
    if (aule_npy_read_buffer(data, size, "fuzz.npy", (size_t)64 << 20, &a, err, sizeof err) == 0) {
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++)
            n *= (size_t)a.shape[i];
        if (n != a.count || !a.data || a.count * a.elem_size > size)
            __builtin_trap();
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < a.count * a.elem_size; i++)
            sink ^= ((unsigned char *)a.data)[i];
        (void)sink;
    } else if (!err[0]) {
        __builtin_trap();               /* an error always says what */
    }
    aule_npy_free(&a);
    return 0;
}
