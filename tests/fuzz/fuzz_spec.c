/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spec.c - libFuzzer target: the spec loader (gen/spec_file.c and the
 * Lua sandbox) on arbitrary text. Every input must end, within the sandbox's
 * budget, with kernels or with errors; never a crash, leak or hang.
 * Corpus: tests/fuzz/corpus/spec.
 */
#include <auegen.h>

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    auegen_spec_file *f = NULL;
    auegen_status st = auegen_spec_file_load_string((const char *)data, size, "fuzz.lua", &f);
    const auegen_diag *d = auegen_spec_file_diag(f);
    /* The contract: a spec is accepted with no errors, or rejected with at least one. */
    if ((st == AUEGEN_OK) != (d && d->count == 0 && auegen_spec_file_count(f) > 0))
        __builtin_trap();
    for (int i = 0; d && i < d->count; i++) {
        char line[600];
        auegen_error_format(&d->errors[i], "fuzz.lua", line, sizeof line);
    }
    auegen_spec_file_destroy(f);
    return 0;
}
