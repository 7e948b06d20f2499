/* SPDX-License-Identifier: MIT */
/*
 * abi.c - the kernel families' push constants, bindings and flags as tables
 * (expanded from include/auegen_abi.h) and as the GLSL block templates include.
 */
#include "gen_internal.h"

#include <stddef.h>
#include <stdio.h>

#define GLSL_TYPE_u32 "uint"
#define GLSL_TYPE_f32 "float"

#define ABI_TABLES(NAME, name, prefix)                                                                        \
    static const auegen_abi_field name##_push[] = {prefix##_PUSH(FIELD_##name)};                             \
    static const auegen_abi_binding name##_bindings[] = {prefix##_BINDINGS(BINDING_ROW)};                     \
    static const auegen_abi_flag name##_flags[] = {prefix##_FLAGS(FLAG_ROW){NULL, 0, NULL}};

#define FIELD_forward(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_forward_push, n), doc},
#define FIELD_decode(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_decode_push, n), doc},
#define FIELD_reduce(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_reduce_push, n), doc},
#define FIELD_append(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_append_push, n), doc},
#define FIELD_bwd_dot(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_bwd_dot_push, n), doc},
#define FIELD_bwd_dkdv(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_bwd_dkdv_push, n), doc},
#define FIELD_bwd_dq(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_bwd_dq_push, n), doc},
#define FIELD_bwd_dsink(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_bwd_dsink_push, n), doc},
#define FIELD_int8_quant(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_int8_quant_push, n), doc},
#define FIELD_int8_fwd(type, n, doc) {#n, GLSL_TYPE_##type, (uint32_t)offsetof(auegen_int8_fwd_push, n), doc},
#define BINDING_ROW(n, doc) {#n, doc},
#define FLAG_ROW(n, value, doc) {#n, value, doc},

AUEGEN_FAMILIES(ABI_TABLES)

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define ABI_ENTRY(NAME, name, prefix)                                                                         \
    [AUEGEN_FAMILY_##NAME] = {#name,          name##_push,     COUNT_OF(name##_push),                         \
                              (uint32_t)sizeof(auegen_##name##_push), name##_bindings, COUNT_OF(name##_bindings), \
                              name##_flags,   COUNT_OF(name##_flags) - 1},

static const auegen_family_abi abis[AUEGEN_FAMILY_COUNT] = {AUEGEN_FAMILIES(ABI_ENTRY)};

const auegen_family_abi *auegen_family_abi_get(auegen_family family)
{
    return (unsigned)family < AUEGEN_FAMILY_COUNT ? &abis[family] : NULL;
}

void auegen__abi_glsl(auegen_family family, strbuf *out)
{
    const auegen_family_abi *a = auegen_family_abi_get(family);
    if (!a)
        return;
    auegen__sb_printf(out, "// The %s family's interface (include/auegen_abi.h).\n", a->name);
    auegen__sb_puts(out, "layout(push_constant) uniform Push {\n");
    for (int i = 0; i < a->push_count; i++)
        auegen__sb_printf(out, "    %s %s;\n", a->push[i].glsl_type, a->push[i].name);
    auegen__sb_puts(out, "} p;\n");
    for (int i = 0; i < a->binding_count; i++)
        auegen__sb_printf(out, "#define BINDING_%s %d\n", a->bindings[i].name, i);
    for (int i = 0; i < a->flag_count; i++)
        auegen__sb_printf(out, "const uint %s = %uu;\n", a->flags[i].name, a->flags[i].value);
}
