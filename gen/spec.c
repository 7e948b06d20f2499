/* SPDX-License-Identifier: MIT */
/*
 * spec.c - the spec field table (include/auegen_spec_fields.h) and what iterates it:
 * validation, defaults, normalization and the canonical form; small shared helpers.
 */
#include "gen_internal.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *auegen_status_string(auegen_status status)
{
    switch (status) {
    case AUEGEN_OK: return "ok";
    case AUEGEN_ERROR_SPEC: return "invalid spec";
    case AUEGEN_ERROR_USAGE: return "invalid argument";
    case AUEGEN_ERROR_PLAN: return "spec does not fit the target";
    case AUEGEN_ERROR_COMPILE: return "GLSL compilation failed";
    case AUEGEN_ERROR_VALIDATE: return "SPIR-V validation failed";
    case AUEGEN_ERROR_IO: return "I/O error";
    case AUEGEN_ERROR_UNSUPPORTED: return "unsupported by this toolchain";
    case AUEGEN_ERROR_OUT_OF_MEMORY: return "out of memory";
    case AUEGEN_ERROR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *auegen__dtype_name(auegen_dtype dtype)
{
    const auegen__spec_value *v =
        auegen__spec_value_find(AUEGEN__FIELD_dtype, dtype == AUEGEN_DTYPE_DEFAULT ? AUEGEN_DTYPE_F16 : dtype);
    return v ? v->name : "?";
}

const char *auegen__coopmat_name(auegen_coopmat mode)
{
    const auegen__spec_value *v = auegen__spec_value_find(AUEGEN__FIELD_coopmat, mode);
    return v ? v->name : "?";
}

const char *auegen__kind_name(auegen_kind kind)
{
    const auegen__spec_value *v = auegen__spec_value_find(AUEGEN__FIELD_kind, kind);
    return v ? v->name : "?";
}

const char *auegen__scalar_type_name(auegen_scalar_type t)
{
    switch (t) {
    case AUEGEN_TYPE_F16: return "f16";
    case AUEGEN_TYPE_BF16: return "bf16";
    case AUEGEN_TYPE_F32: return "f32";
    case AUEGEN_TYPE_S8: return "s8";
    case AUEGEN_TYPE_S32: return "s32";
    }
    return "?";
}

const char *auegen_variant_name(auegen_variant v)
{
    return v == AUEGEN_VARIANT_COOPMAT ? "coopmat" : "scalar";
}

void auegen__diag_add(auegen_diag *diag, const char *field, int line, const char *fmt, ...)
{
    if (!diag)
        return;
    if (diag->count >= AUEGEN_MAX_ERRORS) {
        diag->truncated = true;
        return;
    }
    auegen_error *e = &diag->errors[diag->count++];
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void auegen_error_format(const auegen_error *err, const char *file, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    if (!err) {
        buf[0] = '\0';
        return;
    }
    if (file && err->line > 0)
        snprintf(buf, size, "%s:%d: %s", file, err->line, err->message);
    else if (file)
        snprintf(buf, size, "%s: %s", file, err->message);
    else
        snprintf(buf, size, "%s", err->message);
}

static bool is_identifier(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
        bool digit = *p >= '0' && *p <= '9';
        if (!alpha && !(digit && p != s))
            return false;
    }
    return true;
}

static bool is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

/* --- the field table -------------------------------------------------------- */

/* A field added to include/auegen_spec_fields.h is read, validated, copied by
 * normalize, written in the canonical form, the stubs and the template globals
 * by the code that iterates the table; what needs a look by hand is listed in
 * docs/spec.md, "Adding a spec field". */
static_assert(AUEGEN__SPEC_FIELD_COUNT == 17, "a spec field was added or removed: see docs/spec.md, "
                                              "\"Adding a spec field\", then update this count");

/* Hand-written checks named by the table's CHECK column. */
static bool check_name(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_kind(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_window(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_softcap(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_int8(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_tile(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_page_size(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_kv_int8(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_backward(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);
static bool check_atomic_dq(const auegen__spec_field *, const auegen_spec_desc *, auegen_spec *, auegen_diag *);

/* Offsets of the one member of a single-member kind (0 for the others). */
#define DESC_OFFSET_INT(f) offsetof(auegen_spec_desc, f)
#define DESC_OFFSET_BOOL(f) offsetof(auegen_spec_desc, f)
#define DESC_OFFSET_ENUM(f) offsetof(auegen_spec_desc, f)
#define DESC_OFFSET_DOUBLE(f) offsetof(auegen_spec_desc, f)
#define DESC_OFFSET_CAUSAL(f) offsetof(auegen_spec_desc, f)
#define DESC_OFFSET_NAME(f) 0
#define DESC_OFFSET_WINDOW(f) 0
#define DESC_OFFSET_TILE(f) 0
#define SPEC_OFFSET_INT(f) offsetof(auegen_spec, f)
#define SPEC_OFFSET_BOOL(f) offsetof(auegen_spec, f)
#define SPEC_OFFSET_ENUM(f) offsetof(auegen_spec, f)
#define SPEC_OFFSET_DOUBLE(f) offsetof(auegen_spec, f)
#define SPEC_OFFSET_CAUSAL(f) 0
#define SPEC_OFFSET_NAME(f) 0
#define SPEC_OFFSET_WINDOW(f) 0
#define SPEC_OFFSET_TILE(f) 0
/* INT and ENUM members are read and written as int. */
#define INT_SIZED_INT(f, t) static_assert(sizeof(t) == sizeof(int), #f " must be int-sized");
#define INT_SIZED_ENUM(f, t) static_assert(sizeof(t) == sizeof(int), #f " must be int-sized");
#define INT_SIZED_BOOL(f, t)
#define INT_SIZED_DOUBLE(f, t)
#define INT_SIZED_NAME(f, t)
#define INT_SIZED_CAUSAL(f, t)
#define INT_SIZED_WINDOW(f, t)
#define INT_SIZED_TILE(f, t)

#define AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, LO, HI, ZERO, DEFAULT, ...) \
    INT_SIZED_##KIND(FIELD, CTYPE)                                          \
    static int default_##FIELD(const auegen_spec *s) { (void)s; return (int)(DEFAULT); }
#include "auegen_spec_fields.h"

const auegen__spec_field auegen__spec_fields[AUEGEN__SPEC_FIELD_COUNT] = {
#define AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, LO, HI, ZERO, DEFAULT, UNITS, TOKEN, CANON, TMPL, CHECK, ...)         \
    [AUEGEN__FIELD_##FIELD] = {#FIELD, AUEGEN__SPEC_##KIND, DESC_OFFSET_##KIND(FIELD), SPEC_OFFSET_##KIND(FIELD), LO, \
                               HI, AUEGEN__ZERO_##ZERO, default_##FIELD, UNITS, TOKEN, AUEGEN__CANON_##CANON, TMPL,  \
                               CHECK},
#include "auegen_spec_fields.h"
};

const auegen__spec_value auegen__spec_values[] = {
#define AUEGEN_SPEC_VALUE(FIELD, CONSTANT, NAME) {AUEGEN__FIELD_##FIELD, CONSTANT, NAME, #CONSTANT},
#include "auegen_spec_fields.h"
};
const int auegen__spec_value_count = (int)(sizeof auegen__spec_values / sizeof auegen__spec_values[0]);

const auegen__spec_field *auegen__spec_field_find(const char *name)
{
    for (int i = 0; name && i < AUEGEN__SPEC_FIELD_COUNT; i++)
        if (strcmp(auegen__spec_fields[i].name, name) == 0)
            return &auegen__spec_fields[i];
    return NULL;
}

const auegen__spec_value *auegen__spec_value_find(int field, int value)
{
    for (int i = 0; i < auegen__spec_value_count; i++)
        if (auegen__spec_values[i].field == field && auegen__spec_values[i].value == value)
            return &auegen__spec_values[i];
    return NULL;
}

void auegen__spec_value_list(int field, const char *last_sep, char *buf, size_t size)
{
    int count = 0, n = 0;
    for (int i = 0; i < auegen__spec_value_count; i++)
        count += auegen__spec_values[i].field == field;
    buf[0] = '\0';
    for (int i = 0, k = 0; i < auegen__spec_value_count && n >= 0 && (size_t)n < size; i++) {
        if (auegen__spec_values[i].field != field)
            continue;
        const char *sep = k == 0 ? "" : k == count - 1 ? last_sep : ", ";
        n += snprintf(buf + n, size - (size_t)n, "%s\"%s\"", sep, auegen__spec_values[i].name);
        k++;
    }
}

/* --- validation --------------------------------------------------------------- */

#define FAIL(field, ...) do { ok = false; auegen__diag_add(diag, field, 0, __VA_ARGS__); } while (0)

bool auegen__spec_check_generic(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                                auegen_diag *diag)
{
    bool ok = true;
    switch (f->kind) {
    case AUEGEN__SPEC_INT: {
        int v = *auegen__member_int(d, f->desc_offset);
        int *o = auegen__member_int(out, f->spec_offset);
        *o = v;
        if (v == 0 && f->zero == AUEGEN__ZERO_DEFAULT)
            *o = f->default_value(out);
        else if ((v != 0 || f->zero == AUEGEN__ZERO_REQUIRED) && (v < f->lo || v > f->hi))
            FAIL(f->name, "%s must be in %d..%d%s (got %d)", f->name, f->lo, f->hi, f->units, v);
        break;
    }
    case AUEGEN__SPEC_ENUM: {
        int v = *auegen__member_int(d, f->desc_offset);
        bool is_default = v == 0 && f->zero == AUEGEN__ZERO_DEFAULT;
        if (!is_default && !auegen__spec_value_find((int)(f - auegen__spec_fields), v)) {
            char list[160];
            auegen__spec_value_list((int)(f - auegen__spec_fields), " or ", list, sizeof list);
            FAIL(f->name, "%s must be %s", f->name, list);
        }
        *auegen__member_int(out, f->spec_offset) = is_default ? f->default_value(out) : v;
        break;
    }
    case AUEGEN__SPEC_BOOL:
        *auegen__member_bool(out, f->spec_offset) = *auegen__member_bool(d, f->desc_offset);
        break;
    case AUEGEN__SPEC_DOUBLE:
        *auegen__member_double(out, f->spec_offset) = *auegen__member_double(d, f->desc_offset);
        break;
    case AUEGEN__SPEC_CAUSAL:           /* checked and stored by the window */
        break;
    case AUEGEN__SPEC_NAME:
    case AUEGEN__SPEC_WINDOW:
    case AUEGEN__SPEC_TILE:             /* the table names their checks */
        FAIL(f->name, "%s has no check (an auegen bug)", f->name);
        break;
    }
    return ok;
}

static bool check_name(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out, auegen_diag *diag)
{
    bool ok = true;
    if (!d->name)
        FAIL("name", "name is required (a C identifier naming the kernel)");
    else if (!is_identifier(d->name))
        FAIL("name", "name must be a C identifier ([A-Za-z_][A-Za-z0-9_]*) (got \"%.40s\")", d->name);
    else if (strlen(d->name) > AUEGEN_MAX_NAME)
        FAIL("name", "name must be at most %d characters (got %zu)", AUEGEN_MAX_NAME, strlen(d->name));
    else
        snprintf(out->name, sizeof out->name, "%s", d->name);
    return ok;
}

static bool check_kind(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out, auegen_diag *diag)
{
    bool ok = auegen__spec_check_generic(f, d, out, diag);
    if (ok && d->kind == AUEGEN_KIND_BACKWARD)
        FAIL("kind", "kind \"%s\" is not generated by auegen %s yet (only \"forward\" and \"decode\")",
             auegen__kind_name(d->kind), AUEGEN_VERSION_STRING);
    return ok;
}

static bool check_window(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                         auegen_diag *diag)
{
    bool ok = true;
    out->window_left = AUEGEN_WINDOW_UNBOUNDED;
    out->window_right = AUEGEN_WINDOW_UNBOUNDED;
    if (d->has_window) {
        if (d->window_left < AUEGEN_WINDOW_UNBOUNDED)
            FAIL("window", "window.left must be >= 0, or -1 for unbounded (got %d)", d->window_left);
        if (d->window_right < AUEGEN_WINDOW_UNBOUNDED)
            FAIL("window", "window.right must be >= 0, or -1 for unbounded (got %d)", d->window_right);
        if (d->causal && d->window_right > 0)
            FAIL("window", "window.right must be 0 or -1 when causal = true (got %d)", d->window_right);
        out->window_left = d->window_left;
        out->window_right = d->window_right;
    }
    if (d->causal)
        out->window_right = 0;
    return ok;
}

static bool check_softcap(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                          auegen_diag *diag)
{
    bool ok = true;
    if (!isfinite(d->softcap) || d->softcap < 0)
        FAIL("softcap", "softcap must be a finite number >= 0, 0 for off (got %g)", d->softcap);
    else if (d->softcap != 0 && (d->softcap < 1e-3 || d->softcap > 1e6))
        FAIL("softcap", "softcap must be 0 (off) or in 0.001..1e6 (got %g)", d->softcap);
    out->softcap = d->softcap;
    return ok;
}

static bool check_int8(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out, auegen_diag *diag)
{
    bool ok = auegen__spec_check_generic(f, d, out, diag);
    if (!d->int8)
        return ok;
    /* Smoothing K (subtracting its mean over tokens) shifts each row's scores by a
     * constant: exact for the softmax, not through a softcap or beside a sink logit. */
    if (d->kind != AUEGEN_KIND_FORWARD)
        FAIL("int8", "int8 = true is generated for kind = \"forward\" only in this version (decode: kv_int8 = true)");
    else if (d->backward)
        FAIL("int8", "int8 = true has no backward kernels: training needs the unquantized forward (drop backward)");
    else if (d->softcap != 0)
        FAIL("int8", "int8 = true does not combine with softcap: smoothing K shifts the scores, which a cap does not allow");
    else if (d->sinks)
        FAIL("int8", "int8 = true does not combine with sinks in this version");
    return ok;
}

static bool check_tile(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out, auegen_diag *diag)
{
    bool ok = true;
    if (d->tile_q != 0 || d->tile_kv != 0) {
        if (!is_pow2(d->tile_q) || d->tile_q > f->hi)
            FAIL("tile", "tile.q must be a power of two in 1..%d (got %d)", f->hi, d->tile_q);
        if (!is_pow2(d->tile_kv) || d->tile_kv > f->hi)
            FAIL("tile", "tile.kv must be a power of two in 1..%d (got %d)", f->hi, d->tile_kv);
    }
    if (d->tile_rows != 0) {
        if (d->tile_rows != 16 && d->tile_rows != 32)
            FAIL("tile", "tile.rows_per_subgroup must be 16 or 32 (got %d)", d->tile_rows);
        else if (d->tile_q == 0)
            FAIL("tile", "tile.rows_per_subgroup needs an explicit tile { q = Br, kv = Bc }");
        else if (d->tile_q % d->tile_rows != 0)
            FAIL("tile", "tile.q = %d is not a multiple of tile.rows_per_subgroup = %d", d->tile_q, d->tile_rows);
    }
    out->tile_q = d->tile_q;
    out->tile_kv = d->tile_kv;
    out->tile_rows = d->tile_rows == 16 ? 0 : d->tile_rows;   /* 16 is the default: one spelling */
    return ok;
}

static bool check_page_size(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                            auegen_diag *diag)
{
    bool ok = true;
    if (d->page_size != 0 && d->kind != AUEGEN_KIND_DECODE)
        FAIL("page_size", "page_size applies to kind = \"decode\" only (got %d)", d->page_size);
    else if (d->page_size != 0 && (!is_pow2(d->page_size) || d->page_size < f->lo || d->page_size > f->hi))
        FAIL("page_size", "page_size must be a power of two in %d..%d, or 0 for a contiguous cache (got %d)", f->lo,
             f->hi, d->page_size);
    out->page_size = d->page_size;
    return ok;
}

static bool check_kv_int8(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                          auegen_diag *diag)
{
    bool ok = auegen__spec_check_generic(f, d, out, diag);
    if (d->kv_int8 && (d->kind != AUEGEN_KIND_DECODE || d->page_size == 0))
        FAIL("kv_int8", "kv_int8 needs kind = \"decode\" and a page_size (the scales are per page and KV head)");
    return ok;
}

static bool check_backward(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                           auegen_diag *diag)
{
    bool ok = auegen__spec_check_generic(f, d, out, diag);
    if (d->backward && d->kind != AUEGEN_KIND_FORWARD)
        FAIL("backward", "backward = true needs kind = \"forward\" (the backward kernels come with a forward one)");
    return ok;
}

static bool check_atomic_dq(const auegen__spec_field *f, const auegen_spec_desc *d, auegen_spec *out,
                            auegen_diag *diag)
{
    bool ok = auegen__spec_check_generic(f, d, out, diag);
    if (d->atomic_dq && !d->backward)
        FAIL("atomic_dq", "atomic_dq = true needs backward = true (it chooses how the backward accumulates dQ)");
    else if (d->atomic_dq && d->sinks)
        FAIL("atomic_dq", "atomic_dq = true cannot be combined with sinks (the sinks' gradient needs the "
                          "deterministic dQ kernel's row sums)");
    return ok;
}

#undef FAIL

auegen_status auegen_spec_validate(const auegen_spec_desc *d, auegen_spec *out, auegen_diag *diag)
{
    if (!d || !out)
        return AUEGEN_ERROR_USAGE;
    memset(out, 0, sizeof *out);
    bool bad = false;
    for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
        const auegen__spec_field *f = &auegen__spec_fields[i];
        bad |= !(f->check ? f->check(f, d, out, diag) : auegen__spec_check_generic(f, d, out, diag));
    }
    return bad ? AUEGEN_ERROR_SPEC : AUEGEN_OK;
}

/* The desc that says what spec says, field by field: validating it gives the
 * spec back (normalized). */
static void desc_from_spec(const auegen_spec *in, auegen_spec_desc *d, char name[AUEGEN_MAX_NAME + 1])
{
    memset(d, 0, sizeof *d);
    for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
        const auegen__spec_field *f = &auegen__spec_fields[i];
        switch (f->kind) {
        case AUEGEN__SPEC_INT:
        case AUEGEN__SPEC_ENUM:
            *auegen__member_int(d, f->desc_offset) = *auegen__member_int(in, f->spec_offset);
            break;
        case AUEGEN__SPEC_BOOL:
            *auegen__member_bool(d, f->desc_offset) = *auegen__member_bool(in, f->spec_offset);
            break;
        case AUEGEN__SPEC_DOUBLE:
            *auegen__member_double(d, f->desc_offset) = *auegen__member_double(in, f->spec_offset);
            break;
        case AUEGEN__SPEC_NAME:
            memcpy(name, in->name, AUEGEN_MAX_NAME + 1);
            name[AUEGEN_MAX_NAME] = '\0';
            if (!name[0])
                snprintf(name, AUEGEN_MAX_NAME + 1, "unnamed");   /* a spec built in C may leave the label out */
            d->name = name;
            break;
        case AUEGEN__SPEC_CAUSAL:
            d->causal = in->window_right == 0;
            break;
        case AUEGEN__SPEC_WINDOW:
            d->has_window = true;
            d->window_left = in->window_left;
            d->window_right = in->window_right;
            break;
        case AUEGEN__SPEC_TILE:
            d->tile_q = in->tile_q;
            d->tile_kv = in->tile_kv;
            d->tile_rows = in->tile_rows;
            break;
        }
    }
}

auegen_status auegen_spec_normalize(const auegen_spec *in, auegen_spec *out, auegen_diag *diag)
{
    if (!in || !out)
        return AUEGEN_ERROR_USAGE;
    char name[AUEGEN_MAX_NAME + 1];
    auegen_spec_desc d;
    desc_from_spec(in, &d, name);
    return auegen_spec_validate(&d, out, diag);
}

/* --- the canonical form --------------------------------------------------------- */

/* Appends to buf at *n; *n becomes -1 once it does not fit. */
static void put(char *buf, size_t size, int *n, const char *fmt, ...) AUEGEN_PRINTF(4, 5);
static void put(char *buf, size_t size, int *n, const char *fmt, ...)
{
    if (*n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, size - (size_t)*n, fmt, ap);
    va_end(ap);
    *n = k < 0 || (size_t)k >= size - (size_t)*n ? -1 : *n + k;
}

int auegen_spec_canonical(const auegen_spec *s, char *buf, size_t size)
{
    if (!s || !buf || size == 0)
        return -1;
    int n = 0;
    put(buf, size, &n, "aule-spec/1");
    /* The name is left out: it labels a kernel, it does not change it. */
    for (int i = 0; i < AUEGEN__SPEC_FIELD_COUNT; i++) {
        const auegen__spec_field *f = &auegen__spec_fields[i];
        if (f->canon == AUEGEN__CANON_NONE)
            continue;
        bool if_set = f->canon == AUEGEN__CANON_IF_SET;
        switch (f->kind) {
        case AUEGEN__SPEC_INT: {
            int v = *auegen__member_int(s, f->spec_offset);
            if (v || !if_set)
                put(buf, size, &n, " %s=%d", f->token, v);
            break;
        }
        case AUEGEN__SPEC_ENUM: {
            int v = *auegen__member_int(s, f->spec_offset);
            if (v == 0 && f->zero == AUEGEN__ZERO_DEFAULT)
                v = f->default_value(s);
            const auegen__spec_value *e = auegen__spec_value_find(i, v);
            if (v || !if_set)
                put(buf, size, &n, " %s=%s", f->token, e ? e->name : "?");
            break;
        }
        case AUEGEN__SPEC_BOOL: {
            bool v = *auegen__member_bool(s, f->spec_offset);
            if (if_set && v)
                put(buf, size, &n, " %s", f->token);
            else if (!if_set)
                put(buf, size, &n, " %s=%d", f->token, v ? 1 : 0);
            break;
        }
        case AUEGEN__SPEC_DOUBLE: {
            double v = *auegen__member_double(s, f->spec_offset);
            if (v != 0 || !if_set)
                put(buf, size, &n, " %s=%.17g", f->token, v);
            break;
        }
        case AUEGEN__SPEC_WINDOW:
            put(buf, size, &n, " %s=%d,%d", f->token, s->window_left, s->window_right);
            break;
        case AUEGEN__SPEC_TILE:
            if (s->tile_q && s->tile_rows)
                put(buf, size, &n, " %s=%dx%d/r%d", f->token, s->tile_q, s->tile_kv, s->tile_rows);
            else if (s->tile_q)
                put(buf, size, &n, " %s=%dx%d", f->token, s->tile_q, s->tile_kv);
            else
                put(buf, size, &n, " %s=auto", f->token);
            break;
        case AUEGEN__SPEC_NAME:
        case AUEGEN__SPEC_CAUSAL:       /* causal is window.right = 0 */
            break;
        }
    }
    return n;
}

/* --- strbuf --------------------------------------------------------------- */

void auegen__sb_append(strbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *p = realloc(sb->data, cap);
        if (!p) {
            sb->failed = true;
            return;
        }
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void auegen__sb_puts(strbuf *sb, const char *s) { auegen__sb_append(sb, s, strlen(s)); }

void auegen__sb_printf(strbuf *sb, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        auegen__sb_append(sb, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        sb->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    auegen__sb_append(sb, big, (size_t)n);
    free(big);
}

char *auegen__sb_take(strbuf *sb)
{
    char *p = sb->failed ? NULL : sb->data;
    if (sb->failed)
        free(sb->data);
    if (p == NULL && !sb->failed) {
        p = calloc(1, 1);
    }
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->failed = false;
    return p;
}

void auegen__sb_free(strbuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
    sb->failed = false;
}
