/* SPDX-License-Identifier: MIT */
/*
 * generate.c - one kernel from spec to SPIR-V and C stub: plan, template,
 * glslang, SPIRV-Tools, key. Each step runs only when the one before it
 * succeeded; the first error is the one reported.
 */
#include "gen_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "lanes/cluster/row_step/col_step:row_off,..:col_off,.." or "none". */
static int layout_string(const auegen_lane_layout *l, char *buf, size_t size)
{
    if (l->lanes <= 0 || l->elems <= 0 || l->elems > AUEGEN_LANE_MAX_ELEMS)
        return snprintf(buf, size, "none");
    int n = snprintf(buf, size, "%d/%d/%d/%d", l->lanes, l->cluster, l->row_step, l->col_step);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < l->elems && n > 0 && (size_t)n < size; i++)
            n += snprintf(buf + n, size - (size_t)n, "%c%d", i ? ',' : ':', pass ? l->col_off[i] : l->row_off[i]);
    return n;
}

static void target_caps(const auegen_target *t, char *buf, size_t size)
{
    char layout[400];
    layout_string(&t->lane_layout, layout, sizeof layout);
    int n = snprintf(buf, size, "sg=%d/%d..%d smem=%d inv=%d cu=%d s16=%d s8=%d f16=%d i8dot=%d cpu=%d layout=%s "
                     "a_layout=%d emulated=%d fadd=%d mma=", t->subgroup_size, t->subgroup_min, t->subgroup_max,
                     t->shared_memory_bytes, t->max_workgroup_invocations, t->compute_units, t->storage16, t->storage8,
                     t->fp16_arith, t->int8_dot, t->cpu, layout, t->lane_layout_a, t->coopmat_emulated,
                     t->atomic_float_add);
    for (int i = 0; i < t->coopmat_count && n > 0 && (size_t)n < size; i++) {
        const auegen_coopmat_shape *c = &t->coopmat[i];
        n += snprintf(buf + n, size - (size_t)n, "%s%dx%dx%d:%s:%s", i ? "," : "", c->m, c->n, c->k,
                      auegen__scalar_type_name(c->a_type), auegen__scalar_type_name(c->c_type));
    }
}

/* Every field of a plan, one line: part of the module key. */
static int plan_string(const auegen_plan *p, char *buf, size_t size)
{
    char layout[400];
    layout_string(&p->lane, layout, sizeof layout);
    char slots[200] = "";
    for (int i = 0, n = 0; i < p->lane.elems && i < AUEGEN_LANE_MAX_ELEMS && p->lane_slots > 0; i++)
        n += snprintf(slots + n, sizeof slots - (size_t)n, "%d,", p->lane_slot[i]);
    return snprintf(buf, size, "family=%d variant=%d wg=%d sg=%d tile=%dx%d d=%d/%d strides=%d/%d/%d smem=%d opt=%d spt=%d "
                    "mma=%dx%dx%d:%d:%d nsg=%d lane=%s rs=%d pr=%d qs=%d rb=%d emu=%d s16=%d kvr=%d slots=%d:%s adq=%d",
                    (int)p->family, (int)p->variant, p->workgroup_size, p->subgroup_size, p->tile_q, p->tile_kv, p->d_pad,
                    p->dv_pad, p->q_stride, p->k_stride, p->v_stride, p->shared_memory_bytes, p->out_per_thread,
                    p->scores_per_thread, p->mma.m, p->mma.n, p->mma.k, (int)p->mma.a_type, (int)p->mma.c_type,
                    p->subgroups, layout, p->register_softmax, p->p_in_registers, p->q_in_shared, p->row_blocks,
                    p->emulated, p->storage16, p->kv_rows, p->lane_slots, slots, p->atomic_dq);
}

/* plan_string, plus the fields that only INT8 kernels set (so no other key changes). */
static int plan_text(const auegen_plan *p, char *buf, size_t size)
{
    int n = plan_string(p, buf, size);
    if (n > 0 && (size_t)n < size && p->int8_dot)
        n += snprintf(buf + n, size - (size_t)n, " i8dot=1");
    return n;
}

/* The plan's lane layout as a C initializer. */
static void lane_initializer(strbuf *c, const auegen_lane_layout *l)
{
    auegen__sb_printf(c, "{.lanes = %d, .cluster = %d, .row_step = %d, .col_step = %d, .elems = %d", l->lanes, l->cluster,
              l->row_step, l->col_step, l->elems);
    for (int pass = 0; pass < 2 && l->lanes > 0; pass++) {
        auegen__sb_puts(c, pass ? ",\n                      .col_off = {" : ",\n                      .row_off = {");
        for (int i = 0; i < l->elems && i < AUEGEN_LANE_MAX_ELEMS; i++)
            auegen__sb_printf(c, "%s%d", i ? ", " : "", pass ? l->col_off[i] : l->row_off[i]);
        auegen__sb_puts(c, "}");
    }
    auegen__sb_puts(c, "}");
}

/* A C identifier from a target name ("nvidia-hopper" -> "nvidia_hopper"). */
static void c_ident(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++)
        out[i] = (s[i] == '-' || s[i] == '.') ? '_' : s[i];
    out[i] = '\0';
}

/* The stub's .spec initializer: every member, from the field table. The line
 * breaks (after these fields) only keep the generated files as they were. */
static void spec_initializer(strbuf *c, const auegen_spec *s)
{
    static const char *const break_after[] = {"gqa", "dtype"};
    const char *sep = "";
    auegen__sb_puts(c, "    .spec = {");
    for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
        const auegen__spec_field *f = &auegen__spec_fields[i];
        char item[160] = "";
        switch (f->kind) {
        case AUEGEN__SPEC_INT:
            snprintf(item, sizeof item, ".%s = %d", f->name, *auegen__member_int(s, f->spec_offset));
            break;
        case AUEGEN__SPEC_ENUM: {
            int v = *auegen__member_int(s, f->spec_offset);
            const auegen__spec_value *e = auegen__spec_value_find(i, v);
            if (e)
                snprintf(item, sizeof item, ".%s = %s", f->name, e->constant);
            else
                snprintf(item, sizeof item, ".%s = %d", f->name, v);
            break;
        }
        case AUEGEN__SPEC_BOOL:
            snprintf(item, sizeof item, ".%s = %s", f->name, *auegen__member_bool(s, f->spec_offset) ? "true" : "false");
            break;
        case AUEGEN__SPEC_DOUBLE:
            snprintf(item, sizeof item, ".%s = %.17g", f->name, *auegen__member_double(s, f->spec_offset));
            break;
        case AUEGEN__SPEC_NAME:
            snprintf(item, sizeof item, ".name = \"%s\"", s->name);
            break;
        case AUEGEN__SPEC_WINDOW:
            snprintf(item, sizeof item, ".window_left = %d, .window_right = %d", s->window_left, s->window_right);
            break;
        case AUEGEN__SPEC_TILE:
            snprintf(item, sizeof item, ".tile_q = %d, .tile_kv = %d, .tile_rows = %d", s->tile_q, s->tile_kv,
                     s->tile_rows);
            break;
        case AUEGEN__SPEC_CAUSAL:           /* no member: window_right == 0 */
            break;
        }
        if (!item[0])
            continue;
        auegen__sb_printf(c, "%s%s", sep, item);
        sep = ", ";
        for (size_t k = 0; k < sizeof break_after / sizeof break_after[0]; k++)
            if (strcmp(f->name, break_after[k]) == 0)
                sep = ",\n             ";
    }
    auegen__sb_puts(c, "},\n");
}

static const char *type_enum(auegen_scalar_type t)
{
    static const char *const names[] = {"AUEGEN_TYPE_F16", "AUEGEN_TYPE_BF16", "AUEGEN_TYPE_F32",
                                        "AUEGEN_TYPE_S8", "AUEGEN_TYPE_S32"};
    return t >= 0 && t <= AUEGEN_TYPE_S32 ? names[t] : "AUEGEN_TYPE_F16";
}

/* What each family's generated .h offers libaule's users. */
static void typed_launcher(strbuf *h, const auegen_kernel *k, const char *kname, const char *tid, const char *sym)
{
    const char *args = NULL, *launch = NULL, *what = NULL;
    switch (k->plan.family) {
    case AUEGEN_FAMILY_FORWARD:
        args = "aule_forward_args", launch = "aule_forward_launch";
        what = "Q, K, V, O (and optional LSE, varlen bounds) as in aule_forward_args";
        break;
    case AUEGEN_FAMILY_DECODE:
        args = "aule_decode_args", launch = "aule_decode_launch";
        what = "Q, the KV cache, lengths and O as in aule_decode_args; the split merge is its reduce part";
        break;
    case AUEGEN_FAMILY_APPEND:
        args = "aule_append_args", launch = "aule_append_launch";
        what = "new K/V tokens into the cache, as in aule_append_args";
        break;
    case AUEGEN_FAMILY_BWD_DQ:
        /* The backward's three parts run together: the launcher sits on its last one. */
        auegen__sb_puts(h, "#ifdef AULE_H\n/* Typed backward through libaule: dQ, dK, dV as in aule_backward_args (its three\n"
                   " * parts found among the linked-in kernels, or generated when JIT is on). */\n");
        auegen__sb_printf(h, "static inline aule_status aule_%s_backward_%s(aule_context *ctx, const aule_backward_args *args)\n",
                  k->spec.name, tid);
        auegen__sb_printf(h, "{\n    return aule_attention_backward(ctx, &%s.spec, args);\n}\n#endif\n\n", sym);
        return;
    case AUEGEN_FAMILY_REDUCE:
        auegen__sb_puts(h, "/* No launcher of its own: the decode launcher runs it after the split kernel. */\n\n");
        return;
    case AUEGEN_FAMILY_INT8_FWD:
        args = "aule_forward_args", launch = "aule_forward_launch";
        what = "Q, K, V, O (and optional LSE) as in aule_forward_args, Q and K quantized first by its int8_quant part";
        break;
    case AUEGEN_FAMILY_INT8_QUANT:
        auegen__sb_puts(h, "/* No launcher of its own: the INT8 forward's launcher runs it first. */\n\n");
        return;
    default:
        auegen__sb_puts(h, "/* No launcher of its own: aule_attention_backward runs it with the other backward parts. */\n\n");
        return;
    }
    auegen__sb_printf(h, "#ifdef AULE_H\n/* Typed launch through libaule: %s;\n * shapes are checked against this kernel. */\n", what);
    auegen__sb_printf(h, "static inline aule_status aule_%s_%s(aule_context *ctx, const %s *args)\n", kname, tid, args);
    auegen__sb_printf(h, "{\n    return %s(ctx, &%s, args);\n}\n#endif\n\n", launch, sym);
}

static const char *family_enum(auegen_family f)
{
#define FAMILY_ENUM_NAME(NAME, name, prefix) [AUEGEN_FAMILY_##NAME] = "AUEGEN_FAMILY_" #NAME,
    static const char *const names[AUEGEN_FAMILY_COUNT] = {AUEGEN_FAMILIES(FAMILY_ENUM_NAME)};
#undef FAMILY_ENUM_NAME
    return (unsigned)f < AUEGEN_FAMILY_COUNT ? names[f] : "AUEGEN_FAMILY_COUNT /* invalid */";
}

static void build_stubs(auegen_kernel *k, const char *spec_file, const char *part)
{
    char tid[64], sym[200], guard[240], base[200], kname[100];
    c_ident(k->target.name, tid, sizeof tid);
    snprintf(kname, sizeof kname, part ? "%s_%s" : "%s", k->spec.name, part);
    snprintf(sym, sizeof sym, "aule_kernel_%s_%s", kname, tid);
    snprintf(base, sizeof base, part ? "%s.%s.%s" : "%s.%s", k->spec.name, part ? part : k->target.name,
             k->target.name);
    snprintf(guard, sizeof guard, "AULE_GENERATED_%s_%s_H", kname, tid);
    for (char *p = guard; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    char first[512];
    snprintf(first, sizeof first, "/* generated by auegen %s from %s: kernel %s%s%s, target %s, key %s */\n",
             AUEGEN_VERSION_STRING, spec_file, k->spec.name, part ? ", part " : "", part ? part : "", k->target.name,
             k->key);
    /* The stubs carry the templates' license: they are expanded from them. */
    static const char spdx[] = "/* SPDX-License-Identifier: MIT */\n";

    strbuf h = {0};
    auegen__sb_puts(&h, first);
    auegen__sb_puts(&h, spdx);
    auegen__sb_printf(&h, "#ifndef %s\n#define %s\n\n#include \"auegen.h\"\n\n", guard, guard);
    auegen__sb_printf(&h, "/* %s */\n", k->canonical);
    auegen__sb_printf(&h, "extern const auegen_kernel_info %s;\n\n", sym);
    typed_launcher(&h, k, kname, tid, sym);
    auegen__sb_puts(&h, "#endif\n");

    strbuf c = {0};
    auegen__sb_puts(&c, first);
    auegen__sb_puts(&c, spdx);
    /* The module's array is named after the kernel, so that several stubs can
     * share one translation unit (auegen --register). */
    auegen__sb_printf(&c, "#include \"%s.h\"\n\nstatic const uint32_t %s_spirv[%zu] = {", base, sym, k->spirv_words);
    for (size_t i = 0; i < k->spirv_words; i++)
        auegen__sb_printf(&c, "%s0x%08xu,", i % 8 ? " " : "\n    ", k->spirv[i]);
    auegen__sb_puts(&c, "\n};\n\n");
    const auegen_spec *s = &k->spec;
    const auegen_plan *p = &k->plan;
    auegen__sb_printf(&c, "const auegen_kernel_info %s = {\n", sym);
    auegen__sb_printf(&c, "    .name = \"%s\",\n    .target = \"%s\",\n    .canonical = \"%s\",\n    .key = \"%s\",\n"
                  "    .module_key = \"%s\",\n",
              s->name, k->target.name, k->canonical, k->key, k->module_key);
    spec_initializer(&c, s);
    auegen__sb_printf(&c, "    .plan = {.family = %s, .variant = %s, .workgroup_size = %d, .subgroup_size = %d, .tile_q = %d, "
                  ".tile_kv = %d,\n             .d_pad = %d, .dv_pad = %d, .q_stride = %d, .k_stride = %d, "
                  ".v_stride = %d,\n             .shared_memory_bytes = %d, .out_per_thread = %d, "
                  ".scores_per_thread = %d,\n             .mma = {%d, %d, %d, %s, %s}, .subgroups = %d, "
                  ".register_softmax = %s, .p_in_registers = %s, .q_in_shared = %s,\n             .row_blocks = %d, .emulated = %s, "
                  ".storage16 = %s, .lane = ",
              family_enum(p->family), p->variant == AUEGEN_VARIANT_COOPMAT ? "AUEGEN_VARIANT_COOPMAT" : "AUEGEN_VARIANT_SCALAR",
              p->workgroup_size, p->subgroup_size, p->tile_q, p->tile_kv, p->d_pad, p->dv_pad, p->q_stride,
              p->k_stride, p->v_stride, p->shared_memory_bytes, p->out_per_thread, p->scores_per_thread,
              p->mma.m, p->mma.n, p->mma.k, type_enum(p->mma.a_type), type_enum(p->mma.c_type), p->subgroups,
              p->register_softmax ? "true" : "false", p->p_in_registers ? "true" : "false",
              p->q_in_shared ? "true" : "false", p->row_blocks,
              p->emulated ? "true" : "false",
              p->storage16 ? "true" : "false");
    lane_initializer(&c, &p->lane);
    if (p->kv_rows)
        auegen__sb_printf(&c, ",\n             .kv_rows = %d", p->kv_rows);
    if (p->atomic_dq)
        auegen__sb_printf(&c, ",\n             .atomic_dq = true");
    if (p->int8_dot)
        auegen__sb_puts(&c, ",\n             .int8_dot = true");
    if (p->lane_slots > 0 && p->lane_slots <= AUEGEN_LANE_MAX_ELEMS) {
        auegen__sb_printf(&c, ",\n             .lane_slots = %d, .lane_slot = {", p->lane_slots);
        for (int i = 0; i < p->lane.elems && i < AUEGEN_LANE_MAX_ELEMS; i++)
            auegen__sb_printf(&c, "%s%d", i ? ", " : "", p->lane_slot[i]);
        auegen__sb_puts(&c, "}, .slot_row = {");
        for (int i = 0; i < p->lane_slots; i++)
            auegen__sb_printf(&c, "%s%d", i ? ", " : "", p->slot_row[i]);
        auegen__sb_puts(&c, "}");
    }
    auegen__sb_puts(&c, "},\n");
    auegen__sb_printf(&c, "    .spirv = %s_spirv,\n    .spirv_words = %zu,\n};\n", sym, k->spirv_words);
    k->stub_h = auegen__sb_take(&h);
    k->stub_c = auegen__sb_take(&c);
}

auegen_status auegen_prepare(const auegen_spec *spec, const auegen_target *target,
                             const auegen_generate_options *opts, auegen_kernel *k)
{
    if (!k)
        return AUEGEN_ERROR_USAGE;
    memset(k, 0, sizeof *k);
    if (!spec || !target) {
        snprintf(k->log, sizeof k->log, "spec and target must not be NULL");
        return AUEGEN_ERROR_USAGE;
    }
    auegen_generate_options defaults = {.optimize = true};
    if (!opts)
        opts = &defaults;
    /* Validate again: a spec filled in by hand may not have come through validation. */
    auegen_diag diag = {0};
    if (auegen_spec_normalize(spec, &k->spec, &diag) != AUEGEN_OK) {
        snprintf(k->log, sizeof k->log, "%s", diag.errors[0].message);
        return AUEGEN_ERROR_SPEC;
    }
    k->target = *target;
    const family_desc *family = auegen__family_find(&k->spec, opts->part);
    if (!family) {
        snprintf(k->log, sizeof k->log, "kind \"%s\" has no part \"%s\"", auegen__kind_name(k->spec.kind),
                 opts->part ? opts->part : "(main)");
        return AUEGEN_ERROR_USAGE;
    }
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    auegen_status st = family->plan(family->family, &k->spec, target, &tools, &k->plan, k->log, sizeof k->log);
    if (st != AUEGEN_OK)
        return st;

    if (auegen_spec_canonical(&k->spec, k->canonical, sizeof k->canonical) < 0) {
        snprintf(k->log, sizeof k->log, "canonical form too long");
        return AUEGEN_ERROR_INTERNAL;
    }
    char caps[1200];
    target_caps(target, caps, sizeof caps);
    int n = snprintf(k->key_input, sizeof k->key_input,
                     "aule-key/1\n%s\ntarget %s\ngenerator auegen %s\ntemplates %s\ncompiler %s\n"
                     "spirv-tools %s\noptimize %d\npart %s\n",
                     k->canonical, caps, AUEGEN_VERSION_STRING, auegen__templates_hash(), auegen_compiler_version(),
                     auegen_spirv_tools_version(), opts->optimize && auegen__spirv_optimizer_available() ? 1 : 0, opts->part ? opts->part : "kernel");
    if (n < 0 || (size_t)n >= sizeof k->key_input) {
        snprintf(k->log, sizeof k->log, "key input too long");
        return AUEGEN_ERROR_INTERNAL;
    }
    auegen__hash_hex(k->key_input, (size_t)n, k->key);

    char plan[1000], module[2048];
    plan_text(&k->plan, plan, sizeof plan);
    n = snprintf(module, sizeof module,
                 "aule-module/1\n%s\nplan %s\ngenerator auegen %s\ntemplates %s\ncompiler %s\nspirv-tools %s\n"
                 "optimize %d\npart %s\n",
                 k->canonical, plan, AUEGEN_VERSION_STRING, auegen__templates_hash(), auegen_compiler_version(),
                 auegen_spirv_tools_version(), opts->optimize && auegen__spirv_optimizer_available() ? 1 : 0,
                 opts->part ? opts->part : "kernel");
    if (n < 0 || (size_t)n >= sizeof module) {
        snprintf(k->log, sizeof k->log, "module key input too long");
        return AUEGEN_ERROR_INTERNAL;
    }
    auegen__hash_hex(module, (size_t)n, k->module_key);
    return AUEGEN_OK;
}

auegen_status auegen_generate(const auegen_spec *spec, const auegen_target *target,
                              const auegen_generate_options *opts, auegen_kernel *k)
{
    auegen_status st = auegen_prepare(spec, target, opts, k);
    if (st != AUEGEN_OK)
        return st;
    auegen_generate_options defaults = {.optimize = true};
    if (!opts)
        opts = &defaults;
    const family_desc *family = auegen__family_find(&k->spec, opts->part);
    const char *tname = family->template_for ? family->template_for(&k->spec, &k->plan) : family->template;
    k->glsl = auegen__template_expand(tname, &k->spec, &k->plan, target, k->log, sizeof k->log);
    if (!k->glsl)
        return AUEGEN_ERROR_INTERNAL;
    st = auegen__glsl_compile(k->glsl, tname, &k->spirv, &k->spirv_words, k->log, sizeof k->log);
    if (st != AUEGEN_OK)
        return st;
    /* The key says whether the module is optimized: a failed optimization is an
     * error, never an unoptimized module under an optimized key. */
    if (opts->optimize && auegen__spirv_optimizer_available()) {
        st = auegen__spirv_optimize(&k->spirv, &k->spirv_words, k->log, sizeof k->log);
        if (st != AUEGEN_OK)
            return st;
    }
    st = auegen_spirv_validate(k->spirv, k->spirv_words, k->log, sizeof k->log);
    if (st != AUEGEN_OK)
        return st;
    /* bf16 matrices: the validated f16-carrier module becomes a bf16 one (spirv_bf16.c,
     * which checks SPV_KHR_bfloat16's rule; validating again would re-run spirv-val on
     * the module it just validated). */
    if (auegen__plan_bf16_matrices(&k->plan)) {
        st = auegen__spirv_bf16_retype(&k->spirv, &k->spirv_words, k->log, sizeof k->log);
        if (st != AUEGEN_OK)
            return st;
    }
    if (!opts->skip_stub) {
        build_stubs(k, opts->spec_file ? opts->spec_file : "(api)", opts->part);
        if (!k->stub_c || !k->stub_h) {
            snprintf(k->log, sizeof k->log, "out of memory building the C stub");
            return AUEGEN_ERROR_OUT_OF_MEMORY;
        }
    }
    return AUEGEN_OK;
}

void auegen_kernel_release(auegen_kernel *k)
{
    if (!k)
        return;
    free(k->glsl);
    free(k->spirv);
    free(k->stub_c);
    free(k->stub_h);
    k->glsl = NULL;
    k->spirv = NULL;
    k->stub_c = k->stub_h = NULL;
    k->spirv_words = 0;
}

auegen_status auegen_write_if_changed(const char *path, const void *data, size_t size, bool *changed)
{
    if (changed)
        *changed = false;
    if (!path || (!data && size))
        return AUEGEN_ERROR_USAGE;
    FILE *f = fopen(path, "rb");
    if (f) {
        bool same = false;
        if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == (long)size && fseek(f, 0, SEEK_SET) == 0) {
            char *old = malloc(size ? size : 1);
            same = old && fread(old, 1, size, f) == size && memcmp(old, data, size) == 0;
            free(old);
        }
        fclose(f);
        if (same)
            return AUEGEN_OK;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return AUEGEN_ERROR_OUT_OF_MEMORY;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        free(tmp);
        return AUEGEN_ERROR_IO;
    }
    bool ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return AUEGEN_ERROR_IO;
    }
    free(tmp);
    if (changed)
        *changed = true;
    return AUEGEN_OK;
}
