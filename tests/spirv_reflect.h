/* SPDX-License-Identifier: MIT */
/*
 * spirv_reflect.h - what the tests read back from a SPIR-V module: the
 * push-constant block's members (name where the module keeps names, type, offset), the storage buffers' bindings
 * (with their block names) and the bytes of workgroup (shared) memory declared.
 * A small walker over the binary's instructions (SPIR-V 1.x, section 2.3).
 */
#ifndef AULE_TESTS_SPIRV_REFLECT_H
#define AULE_TESTS_SPIRV_REFLECT_H

#include <stddef.h>
#include <stdint.h>

enum { REFLECT_MAX_MEMBERS = 64, REFLECT_MAX_BUFFERS = 32 };

typedef struct spirv_reflection {
    int push_members;                     /* -1: no push-constant block */
    char push_name[REFLECT_MAX_MEMBERS][48];
    uint32_t push_offset[REFLECT_MAX_MEMBERS];
    char push_type[REFLECT_MAX_MEMBERS];  /* 'u' int, 'f' float, '?' other */
    int buffers;
    uint32_t buffer_set[REFLECT_MAX_BUFFERS], buffer_binding[REFLECT_MAX_BUFFERS];
    char buffer_block[REFLECT_MAX_BUFFERS][48];   /* the block type's name: QBuf, KBuf4, ... */
    uint64_t shared_bytes;                /* sum over Workgroup variables */
    char error[160];                      /* non-empty: the module could not be read */
} spirv_reflection;

/* Fills r from the module; returns 0, or -1 with r->error set. */
int spirv_reflect(const uint32_t *words, size_t count, spirv_reflection *r);

#endif
