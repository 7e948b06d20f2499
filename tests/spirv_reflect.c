/* SPDX-License-Identifier: MIT */
/*
 * spirv_reflect.c - see spirv_reflect.h.
 */
#include "spirv_reflect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OP_NAME = 5, OP_MEMBER_NAME = 6, OP_TYPE_BOOL = 20, OP_TYPE_INT = 21, OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23,
    OP_TYPE_MATRIX = 24, OP_TYPE_ARRAY = 28, OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32, OP_CONSTANT = 43,
    OP_VARIABLE = 59, OP_DECORATE = 71, OP_MEMBER_DECORATE = 72,
    DEC_BINDING = 33, DEC_SET = 34, DEC_OFFSET = 35,
    SC_UNIFORM = 2, SC_WORKGROUP = 4, SC_PUSH_CONSTANT = 9, SC_STORAGE_BUFFER = 12,
};

typedef struct id_info {
    uint16_t op;                 /* the instruction that defines the id (types, constants, variables) */
    const uint32_t *ins;         /* its words */
    uint16_t words;
    const char *name;            /* OpName */
    int32_t binding, set;
} id_info;

static uint64_t type_size(const id_info *ids, uint32_t bound, uint32_t id, int depth)
{
    if (id >= bound || depth > 16 || !ids[id].ins)
        return 0;
    const uint32_t *w = ids[id].ins;
    switch (ids[id].op) {
    case OP_TYPE_BOOL: return 4;
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT: return w[2] / 8;
    case OP_TYPE_VECTOR:
    case OP_TYPE_MATRIX: return w[3] * type_size(ids, bound, w[2], depth + 1);
    case OP_TYPE_ARRAY: {
        uint32_t len = w[3];
        uint64_t n = len < bound && ids[len].op == OP_CONSTANT ? ids[len].ins[3] : 0;
        return n * type_size(ids, bound, w[2], depth + 1);
    }
    case OP_TYPE_STRUCT: {
        uint64_t sum = 0;
        for (int i = 2; i < ids[id].words; i++)
            sum += type_size(ids, bound, w[i], depth + 1);
        return sum;
    }
    default: return 0;
    }
}

static void copy_string(char *dst, size_t size, const uint32_t *words, int n)
{
    size_t max = (size_t)n * 4;
    size_t len = strnlen((const char *)words, max);
    if (len >= size)
        len = size - 1;
    memcpy(dst, words, len);
    dst[len] = '\0';
}

int spirv_reflect(const uint32_t *words, size_t count, spirv_reflection *r)
{
    memset(r, 0, sizeof *r);
    r->push_members = -1;
    if (!words || count < 5 || words[0] != 0x07230203u) {
        snprintf(r->error, sizeof r->error, "not a SPIR-V module");
        return -1;
    }
    uint32_t bound = words[3];
    if (bound == 0 || bound > (1u << 22)) {
        snprintf(r->error, sizeof r->error, "id bound %u out of range", bound);
        return -1;
    }
    id_info *ids = calloc(bound, sizeof *ids);
    if (!ids) {
        snprintf(r->error, sizeof r->error, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < bound; i++)
        ids[i].binding = ids[i].set = -1;
    /* First pass: what defines each id, names and decorations. */
    for (size_t at = 5; at < count;) {
        uint16_t op = (uint16_t)(words[at] & 0xffff), n = (uint16_t)(words[at] >> 16);
        if (n == 0 || at + n > count) {
            snprintf(r->error, sizeof r->error, "instruction at word %zu runs past the end", at);
            free(ids);
            return -1;
        }
        const uint32_t *w = words + at;
        uint32_t result = 0;
        if (op == OP_NAME && n >= 3 && w[1] < bound)
            ids[w[1]].name = (const char *)(w + 2);
        else if (op == OP_DECORATE && n >= 4 && w[1] < bound && w[2] == DEC_BINDING)
            ids[w[1]].binding = (int32_t)w[3];
        else if (op == OP_DECORATE && n >= 4 && w[1] < bound && w[2] == DEC_SET)
            ids[w[1]].set = (int32_t)w[3];
        else if ((op >= OP_TYPE_BOOL && op <= OP_TYPE_POINTER) && n >= 2)
            result = w[1];
        else if ((op == OP_CONSTANT || op == OP_VARIABLE) && n >= 3)
            result = w[2];
        if (result && result < bound) {
            ids[result].op = op;
            ids[result].ins = w;
            ids[result].words = n;
        }
        at += n;
    }
    /* Variables: the push-constant block, storage buffers, shared memory. */
    uint32_t push_struct = 0;
    for (uint32_t id = 1; id < bound; id++) {
        if (ids[id].op != OP_VARIABLE)
            continue;
        uint32_t ptr = ids[id].ins[1], sc = ids[id].ins[3];
        if (ptr >= bound || ids[ptr].op != OP_TYPE_POINTER)
            continue;
        uint32_t pointee = ids[ptr].ins[3];
        if (sc == SC_PUSH_CONSTANT) {
            push_struct = pointee;
        } else if (sc == SC_WORKGROUP) {
            r->shared_bytes += type_size(ids, bound, pointee, 0);
        } else if ((sc == SC_STORAGE_BUFFER || sc == SC_UNIFORM) && r->buffers < REFLECT_MAX_BUFFERS) {
            int b = r->buffers++;
            r->buffer_set[b] = (uint32_t)ids[id].set;
            r->buffer_binding[b] = (uint32_t)ids[id].binding;
            const char *name = pointee < bound && ids[pointee].name ? ids[pointee].name : "";
            snprintf(r->buffer_block[b], sizeof r->buffer_block[b], "%s", name);
        }
    }
    if (push_struct && push_struct < bound && ids[push_struct].op == OP_TYPE_STRUCT) {
        r->push_members = ids[push_struct].words - 2;
        if (r->push_members > REFLECT_MAX_MEMBERS)
            r->push_members = REFLECT_MAX_MEMBERS;
        for (int m = 0; m < r->push_members; m++) {
            uint32_t ty = ids[push_struct].ins[2 + m];
            uint16_t op = ty < bound ? ids[ty].op : 0;
            r->push_type[m] = op == OP_TYPE_INT ? 'u' : op == OP_TYPE_FLOAT ? 'f' : '?';
        }
        for (size_t at = 5; at < count;) {
            uint16_t op = (uint16_t)(words[at] & 0xffff), n = (uint16_t)(words[at] >> 16);
            const uint32_t *w = words + at;
            if (op == OP_MEMBER_NAME && n >= 4 && w[1] == push_struct && w[2] < (uint32_t)r->push_members)
                copy_string(r->push_name[w[2]], sizeof r->push_name[0], w + 3, n - 3);
            else if (op == OP_MEMBER_DECORATE && n >= 5 && w[1] == push_struct && w[3] == DEC_OFFSET
                     && w[2] < (uint32_t)r->push_members)
                r->push_offset[w[2]] = w[4];
            at += n;
        }
    }
    free(ids);
    return 0;
}
