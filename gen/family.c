/* SPDX-License-Identifier: MIT */
/*
 * family.c - the kernel families: for each, the spec kind and part it serves,
 * its planner, how it picks its template, and its ABI (include/auegen_abi.h).
 * Adding a family is a row here, a planner, its templates, an ABI list and a
 * runtime launcher.
 */
#include "gen_internal.h"

#include <stdio.h>
#include <string.h>

enum { PART_WORKGROUP = 64 };   /* the reduce and append kernels: one invocation per row / element */

/* The decode parts are elementwise: a fixed workgroup, 16-bit storage when the dtype is. */
static auegen_status plan_part(auegen_family family, const auegen_spec *s, const auegen_target *t,
                               const auegen_toolchain *tools, auegen_plan *p, char *why, size_t why_size)
{
    (void)tools;
    memset(p, 0, sizeof *p);
    if (s->kind != AUEGEN_KIND_DECODE) {
        snprintf(why, why_size, "the reduce and append parts belong to kind = \"decode\" specs");
        return AUEGEN_ERROR_USAGE;
    }
    p->storage16 = s->dtype != AUEGEN_DTYPE_F32;
    if (p->storage16 && !t->storage16) {
        snprintf(why, why_size, "dtype %s needs 16-bit storage buffers, which target '%s' lacks", auegen__dtype_name(s->dtype),
                 t->name);
        return AUEGEN_ERROR_PLAN;
    }
    if (s->kv_int8 && !t->storage8) {
        snprintf(why, why_size, "kv_int8 needs 8-bit storage buffers, which target '%s' lacks", t->name);
        return AUEGEN_ERROR_PLAN;
    }
    p->variant = AUEGEN_VARIANT_SCALAR;
    p->family = family;
    p->workgroup_size = PART_WORKGROUP < t->max_workgroup_invocations ? PART_WORKGROUP : t->max_workgroup_invocations;
    return AUEGEN_OK;
}

/* The forward and decode kernels: the public planner, which reads the kind itself. */
static auegen_status plan_main(auegen_family f, const auegen_spec *s, const auegen_target *t,
                               const auegen_toolchain *tools, auegen_plan *p, char *why, size_t why_size)
{
    (void)f;
    return auegen_plan_make(s, t, tools, p, why, why_size);
}

static const char *forward_template(const auegen_spec *s, const auegen_plan *p)
{
    (void)s;
    if (p->variant != AUEGEN_VARIANT_COOPMAT)
        return "forward_scalar.comp";
    return p->register_softmax ? "forward_coopmat_fast.comp" : "forward_coopmat.comp";
}

static const char *dkdv_template(const auegen_spec *s, const auegen_plan *p)
{
    (void)s;
    return p->variant == AUEGEN_VARIANT_COOPMAT ? "backward_dkdv_coopmat.comp" : "backward_dkdv.comp";
}

static const char *dq_template(const auegen_spec *s, const auegen_plan *p)
{
    (void)s;
    if (p->atomic_dq)
        return "backward_dq_convert.comp";
    return p->variant == AUEGEN_VARIANT_COOPMAT ? "backward_dq_coopmat.comp" : "backward_dq.comp";
}

static const char *int8_template(const auegen_spec *s, const auegen_plan *p)
{
    (void)s;
    return p->variant == AUEGEN_VARIANT_COOPMAT ? "forward_int8_coopmat.comp" : "forward_int8.comp";
}

static const char *append_template(const auegen_spec *s, const auegen_plan *p)
{
    (void)p;
    return s->kv_int8 ? "decode_append_int8.comp" : "decode_append.comp";
}

/* {family, kind, part, planner, template chooser (NULL: the one template named)}. */
static const family_desc families[] = {
    {AUEGEN_FAMILY_FORWARD, AUEGEN_KIND_FORWARD, NULL, plan_main, forward_template, NULL},
    {AUEGEN_FAMILY_DECODE, AUEGEN_KIND_DECODE, NULL, plan_main, forward_template, NULL},
    {AUEGEN_FAMILY_REDUCE, AUEGEN_KIND_DECODE, "reduce", plan_part, NULL, "decode_reduce.comp"},
    {AUEGEN_FAMILY_APPEND, AUEGEN_KIND_DECODE, "append", plan_part, append_template, NULL},
    {AUEGEN_FAMILY_BWD_DOT, AUEGEN_KIND_FORWARD, "bwd_dot", auegen__plan_backward, NULL, "backward_dot.comp"},
    {AUEGEN_FAMILY_BWD_DKDV, AUEGEN_KIND_FORWARD, "bwd_dkdv", auegen__plan_backward, dkdv_template, NULL},
    {AUEGEN_FAMILY_BWD_DQ, AUEGEN_KIND_FORWARD, "bwd_dq", auegen__plan_backward, dq_template, NULL},
    {AUEGEN_FAMILY_BWD_DSINK, AUEGEN_KIND_FORWARD, "bwd_dsink", auegen__plan_backward, NULL, "backward_dsink.comp"},
};

/* INT8 specs (int8 = true; gen/plan_int8.c): the forward over quantized Q and K, and
 * the quantizer part that makes them. Looked up before families[] for such specs. */
static const family_desc int8_families[] = {
    {AUEGEN_FAMILY_INT8_FWD, AUEGEN_KIND_FORWARD, NULL, auegen__plan_int8, int8_template, NULL},
    {AUEGEN_FAMILY_INT8_QUANT, AUEGEN_KIND_FORWARD, "int8_quant", auegen__plan_int8, NULL, "int8_quant.comp"},
};
_Static_assert(sizeof families / sizeof families[0] + sizeof int8_families / sizeof int8_families[0]
                   == AUEGEN_FAMILY_COUNT, "a family without a row in families[] or int8_families[]");

static const family_desc *find_in(const family_desc *rows, size_t n, auegen_kind kind, const char *part)
{
    for (size_t i = 0; i < n; i++) {
        const family_desc *f = &rows[i];
        if (f->kind == kind && ((!part && !f->part) || (part && f->part && strcmp(part, f->part) == 0)))
            return f;
    }
    return NULL;
}

const family_desc *auegen__family_find(const auegen_spec *spec, const char *part)
{
    const family_desc *f = NULL;
    if (spec->int8)
        f = find_in(int8_families, sizeof int8_families / sizeof int8_families[0], spec->kind, part);
    return f ? f : find_in(families, sizeof families / sizeof families[0], spec->kind, part);
}

const char *const *auegen_kind_parts(auegen_kind kind)
{
    static const char *const decode_parts[] = {"reduce", "append", NULL};
    static const char *const none[] = {NULL};
    return kind == AUEGEN_KIND_DECODE ? decode_parts : none;
}

const char *const *auegen_spec_parts(const auegen_spec *spec)
{
    static const char *const backward_parts[] = {"bwd_dot", "bwd_dkdv", "bwd_dq", NULL};
    static const char *const backward_sinks_parts[] = {"bwd_dot", "bwd_dkdv", "bwd_dq", "bwd_dsink", NULL};
    static const char *const int8_parts[] = {"int8_quant", NULL};
    if (spec && spec->kind == AUEGEN_KIND_FORWARD && spec->backward)
        return spec->sinks ? backward_sinks_parts : backward_parts;
    if (spec && spec->kind == AUEGEN_KIND_FORWARD && spec->int8)
        return int8_parts;
    return auegen_kind_parts(spec ? spec->kind : AUEGEN_KIND_FORWARD);
}
