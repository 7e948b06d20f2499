/* SPDX-License-Identifier: MIT */
/*
 * test_unit.c - unit tests of spec validation, the canonical form, spec files,
 * the planner, templates, keys and write-if-changed; the spec field table
 * (include/auegen_spec_fields.h) against its consumers and docs/spec.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auegen.h"
#include "gen_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static auegen_spec valid(const auegen_spec_desc *d)
{
    auegen_spec s;
    auegen_diag diag = {0};
    assert_int_equal(auegen_spec_validate(d, &s, &diag), AUEGEN_OK);
    assert_int_equal(diag.count, 0);
    return s;
}

static void test_defaults(void **state)
{
    (void)state;
    auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 64});
    assert_int_equal(s.head_dim_v, 64);
    assert_int_equal(s.gqa, 1);
    assert_int_equal(s.dtype, AUEGEN_DTYPE_F16);
    assert_int_equal(s.window_left, AUEGEN_WINDOW_UNBOUNDED);
    assert_int_equal(s.window_right, AUEGEN_WINDOW_UNBOUNDED);
    assert_int_equal(s.coopmat, AUEGEN_COOPMAT_AUTO);
    assert_false(auegen_spec_causal(&s));
}

static void test_errors(void **state)
{
    (void)state;
    auegen_spec s;
    auegen_diag diag = {0};
    auegen_spec_desc d = {.name = "9bad", .head_dim = 300, .gqa = -2, .softcap = -1, .tile_q = 48, .tile_kv = 64};
    assert_int_equal(auegen_spec_validate(&d, &s, &diag), AUEGEN_ERROR_SPEC);
    assert_int_equal(diag.count, 5);
    assert_string_equal(diag.errors[1].message, "head_dim must be in 1..256 (got 300)");
    assert_string_equal(diag.errors[1].field, "head_dim");
    assert_string_equal(diag.errors[4].message, "tile.q must be a power of two in 1..256 (got 48)");
    assert_int_equal(auegen_spec_validate(NULL, &s, NULL), AUEGEN_ERROR_USAGE);
    assert_int_equal(auegen_spec_validate(&d, NULL, NULL), AUEGEN_ERROR_USAGE);
    /* Without a diag list the status still says it. */
    assert_int_equal(auegen_spec_validate(&d, &s, NULL), AUEGEN_ERROR_SPEC);
}

static void test_canonical_same_meaning(void **state)
{
    (void)state;
    char a[512], b[512], c[512];
    auegen_spec causal = valid(&(auegen_spec_desc){.name = "a", .head_dim = 128, .gqa = 4, .causal = true});
    auegen_spec window = valid(&(auegen_spec_desc){.name = "b", .head_dim = 128, .head_dim_v = 128, .gqa = 4,
                                                   .has_window = true, .window_left = -1, .window_right = 0,
                                                   .dtype = AUEGEN_DTYPE_F16});
    assert_true(auegen_spec_canonical(&causal, a, sizeof a) > 0);
    assert_true(auegen_spec_canonical(&window, b, sizeof b) > 0);
    assert_string_equal(a, b);      /* names differ, meaning does not */
    assert_true(auegen_spec_causal(&window));
    auegen_spec capped = valid(&(auegen_spec_desc){.name = "a", .head_dim = 128, .gqa = 4, .causal = true,
                                                   .softcap = 50});
    auegen_spec_canonical(&capped, c, sizeof c);
    assert_string_not_equal(a, c);
    assert_int_equal(auegen_spec_canonical(&causal, a, 10), -1);
    assert_string_equal(b, "aule-spec/1 kind=forward head_dim=128 head_dim_v=128 gqa=4 window=-1,0 softcap=0 "
                           "dtype=f16 int8=0 coopmat=auto tile=auto page=0");
}

/* --- the field table (include/auegen_spec_fields.h) ----------------------------- */

#define UNPAREN(...) __VA_ARGS__

typedef struct field_case {
    const char *field, *kind, *ctype;
    auegen_spec_desc needs, example;
    const char *doc_row;             /* the start of its row in docs/spec.md */
} field_case;

static const field_case field_cases[] = {
#define AUEGEN_SPEC_FIELD(FIELD, KIND, CTYPE, LO, HI, ZERO, DEFAULT, UNITS, TOKEN, CANON, TMPL, CHECK, NEEDS, \
                          EXAMPLE, LUA_TYPE, VALUES, DOC_DEFAULT, DOC)                                        \
    {#FIELD, #KIND, #CTYPE, {.name = NULL, UNPAREN NEEDS}, {UNPAREN EXAMPLE, UNPAREN NEEDS},          \
     "| `" #FIELD "` | " LUA_TYPE " | " VALUES " | " DOC_DEFAULT " | " DOC},
#include "auegen_spec_fields.h"
};
enum { FIELD_CASES = sizeof field_cases / sizeof field_cases[0] };

/* The required fields a case leaves out. */
static auegen_spec_desc completed(auegen_spec_desc d)
{
    if (!d.name)
        d.name = "base";
    if (!d.head_dim)
        d.head_dim = 64;
    return d;
}

/* Each field's example value, set on its own (with what it needs), survives
 * auegen_spec_normalize and reaches the canonical form; a value validation
 * rejects (int8 = true) is rejected again by normalize, not dropped. */
static void test_fields_survive_normalize(void **state)
{
    (void)state;
    for (int i = 0; i < FIELD_CASES; i++) {
        const field_case *c = &field_cases[i];
        auegen_spec_desc base_desc = completed(c->needs), ex_desc = completed(c->example);
        auegen_spec base, ex, norm;
        auegen_diag diag = {0};
        char base_text[512], ex_text[512], norm_text[512];
        assert_int_equal(auegen_spec_validate(&base_desc, &base, &diag), AUEGEN_OK);
        auegen_status st = auegen_spec_validate(&ex_desc, &ex, &diag);
        if (st != AUEGEN_OK) {
            printf("  %s: the example is rejected (%s); normalize must reject it too\n", c->field,
                   diag.errors[0].message);
            assert_string_equal(diag.errors[0].field, c->field);
            auegen_diag again = {0};
            assert_int_equal(auegen_spec_normalize(&ex, &norm, &again), AUEGEN_ERROR_SPEC);
            assert_int_equal(again.count, 1);
            assert_string_equal(again.errors[0].field, c->field);
            assert_string_equal(again.errors[0].message, diag.errors[0].message);
            continue;
        }
        assert_int_not_equal(memcmp(&base, &ex, sizeof base), 0);   /* the example changes the spec */
        assert_int_equal(auegen_spec_normalize(&ex, &norm, &diag), AUEGEN_OK);
        if (memcmp(&ex, &norm, sizeof ex) != 0)
            fail_msg("field %s: auegen_spec_normalize changed the spec", c->field);
        assert_true(auegen_spec_canonical(&base, base_text, sizeof base_text) > 0);
        assert_true(auegen_spec_canonical(&ex, ex_text, sizeof ex_text) > 0);
        assert_true(auegen_spec_canonical(&norm, norm_text, sizeof norm_text) > 0);
        assert_string_equal(ex_text, norm_text);
        if (strcmp(c->kind, "NAME") == 0)
            assert_string_equal(base_text, ex_text);                /* the name labels, it is not in the key */
        else if (strcmp(base_text, ex_text) == 0)
            fail_msg("field %s: the canonical form does not show it (%s)", c->field, ex_text);
    }
}

/* The C stub's .spec initializer names every member of a single-member field. */
static void test_fields_in_stub(void **state)
{
    (void)state;
    auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 32, .dtype = AUEGEN_DTYPE_F32});
    auegen_kernel k;
    assert_int_equal(auegen_generate(&s, auegen_target_profile_find("lavapipe"), NULL, &k), AUEGEN_OK);
    const char *init = strstr(k.stub_c, "    .spec = {");
    assert_non_null(init);
    const char *end = strstr(init, "},\n");
    for (int i = 0; i < FIELD_CASES; i++) {
        char member[64];
        snprintf(member, sizeof member, ".%s = ", field_cases[i].field);
        bool single = strcmp(field_cases[i].ctype, "void") != 0 && strcmp(field_cases[i].kind, "CAUSAL") != 0;
        const char *at = strstr(init, member);
        if (single && !(at && at < end))
            fail_msg("the stub's .spec initializer has no %s", member);
    }
    assert_non_null(strstr(init, ".window_left = -1, .window_right = -1"));
    assert_non_null(strstr(init, ".tile_q = 0, .tile_kv = 0, .tile_rows = 0"));
    auegen_kernel_release(&k);
}

/* docs/spec.md's field table lists the table's fields, in its order, with the
 * Lua type, accepted values, default and the start of the meaning the table
 * gives; the C table has a row per field. */
static void test_fields_documented(void **state)
{
    (void)state;
    FILE *fp = fopen(AULE_SOURCE_DIR "/docs/spec.md", "r");
    assert_non_null(fp);
    static char doc[1 << 17];
    size_t n = fread(doc, 1, sizeof doc - 1, fp);
    fclose(fp);
    doc[n] = '\0';
    const char *row = strstr(doc, "| field | Lua type | accepted values | default | meaning |\n| --- |");
    assert_non_null(row);
    row = strchr(strchr(row, '\n') + 1, '\n') + 1;
    int bad = 0;
    for (int i = 0; i < FIELD_CASES; i++) {
        const char *want = field_cases[i].doc_row;
        if (strncmp(row, want, strlen(want)) != 0) {
            printf("docs/spec.md: row %d of the field table should start with\n  %s\nbut is\n  %.*s\n", i + 1, want,
                   (int)strcspn(row, "\n"), row);
            bad++;
        }
        row = strchr(row, '\n') + 1;
    }
    if (strncmp(row, "| ", 2) == 0) {
        printf("docs/spec.md: the field table has more rows than the field table: %.*s\n", (int)strcspn(row, "\n"), row);
        bad++;
    }
    const char *ctable = strstr(doc, "| Lua | `auegen_spec_desc` | zero means |");
    assert_non_null(ctable);
    for (int i = 0; i < FIELD_CASES; i++) {
        char want[160], member[96];
        snprintf(want, sizeof want, "\n| `%s` | ", field_cases[i].field);
        const char *at = strstr(ctable, want);
        snprintf(member, sizeof member, "`%s %s`", field_cases[i].ctype, field_cases[i].field);
        if (!at || (strcmp(field_cases[i].ctype, "void") != 0 && !strstr(at, member))) {
            printf("docs/spec.md: the C table needs a row | `%s` | %s | ... |\n", field_cases[i].field, member);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_spec_file(void **state)
{
    (void)state;
    const char *text =
        "-- two kernels\n"
        "local D = 64\n"
        "for _, g in ipairs { 1, 4 } do\n"
        "  attention { name = 'k' .. g, head_dim = D, gqa = g, causal = true }\n"
        "end\n";
    auegen_spec_file *f = NULL;
    assert_int_equal(auegen_spec_file_load_string(text, strlen(text), "two.lua", &f), AUEGEN_OK);
    assert_int_equal(auegen_spec_file_count(f), 2);
    assert_int_equal(auegen_spec_file_find(f, "k4")->gqa, 4);
    assert_null(auegen_spec_file_find(f, "k2"));
    assert_null(auegen_spec_file_get(f, 2));
    auegen_spec_file_destroy(f);

    const char *bad =
        "attention {\n"
        "  name = 'x',\n"
        "  head_dim = 300,\n"
        "  dtype = 'fp8',\n"
        "}\n";
    assert_int_equal(auegen_spec_file_load_string(bad, strlen(bad), "bad.lua", &f), AUEGEN_ERROR_SPEC);
    const auegen_diag *d = auegen_spec_file_diag(f);
    assert_int_equal(d->count, 2);
    char line[512];
    auegen_error_format(&d->errors[0], "bad.lua", line, sizeof line);
    char line2[512];
    auegen_error_format(&d->errors[1], "bad.lua", line2, sizeof line2);
    /* Table iteration order is Lua's; check both, by line. */
    const char *h = strstr(line, "head_dim") ? line : line2;
    const char *t = h == line ? line2 : line;
    assert_string_equal(h, "bad.lua:3: head_dim must be in 1..256 (got 300)");
    assert_string_equal(t, "bad.lua:4: dtype must be one of \"f32\", \"f16\", \"bf16\" (got \"fp8\")");
    auegen_spec_file_destroy(f);
    auegen_spec_file_destroy(NULL);
    assert_int_equal(auegen_spec_file_load(NULL, NULL, &f), AUEGEN_ERROR_USAGE);
    assert_int_equal(auegen_spec_file_load("/nonexistent/x.lua", "x.lua", &f), AUEGEN_ERROR_IO);
    assert_non_null(f);
    assert_int_equal(auegen_spec_file_diag(f)->count, 1);
    auegen_spec_file_destroy(f);
}

static void test_planner(void **state)
{
    (void)state;
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    char why[256];
    auegen_plan p;
    const auegen_target *lvp = auegen_target_profile_find("lavapipe");
    const auegen_target *hopper = auegen_target_profile_find("nvidia-hopper");
    const auegen_target *portable = auegen_target_profile_find("portable");
    assert_non_null(lvp);
    assert_non_null(hopper);
    assert_non_null(portable);
    assert_null(auegen_target_profile_find("nope"));

    for (int d = 1; d <= 256; d++) {
        auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = d});
        for (int i = 0; i < auegen_target_profile_count(); i++) {
            const auegen_target *t = auegen_target_profile(i);
            assert_int_equal(auegen_plan_make(&s, t, &tools, &p, why, sizeof why), AUEGEN_OK);
            assert_true(p.shared_memory_bytes <= t->shared_memory_bytes);
            assert_true(p.workgroup_size <= t->max_workgroup_invocations);
            assert_true(p.tile_q >= 1 && p.tile_kv >= 1);
            if (p.variant == AUEGEN_VARIANT_COOPMAT) {
                assert_int_equal(p.d_pad % p.mma.k, 0);
                assert_int_equal(p.dv_pad % p.mma.n, 0);
                assert_int_equal(p.tile_q, p.subgroups * p.mma.m);
            }
        }
    }
    /* f16 on a target with tensor cores gets them (when glslang can compile them). */
    auegen_spec f16 = valid(&(auegen_spec_desc){.name = "k", .head_dim = 128, .gqa = 4, .causal = true});
    assert_int_equal(auegen_plan_make(&f16, hopper, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_int_equal(p.variant, tools.coopmat_khr ? AUEGEN_VARIANT_COOPMAT : AUEGEN_VARIANT_SCALAR);
    assert_int_equal(auegen_plan_make(&f16, lvp, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_int_equal(p.variant, AUEGEN_VARIANT_SCALAR);
    /* bf16 gets bf16 matrices where the target reports a bf16 shape (H100's do),
     * f32 stays scalar; khr where none exists is an error that says why. */
    auegen_spec bf = valid(&(auegen_spec_desc){.name = "k", .head_dim = 128, .dtype = AUEGEN_DTYPE_BF16});
    assert_int_equal(auegen_plan_make(&bf, hopper, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_int_equal(p.variant, tools.coopmat_khr ? AUEGEN_VARIANT_COOPMAT : AUEGEN_VARIANT_SCALAR);
    if (tools.coopmat_khr)
        assert_int_equal(p.mma.a_type, AUEGEN_TYPE_BF16);
    auegen_target no_bf16 = *hopper;
    no_bf16.coopmat_count = 0;
    for (int i = 0; i < hopper->coopmat_count; i++)
        if (hopper->coopmat[i].a_type != AUEGEN_TYPE_BF16)
            no_bf16.coopmat[no_bf16.coopmat_count++] = hopper->coopmat[i];
    assert_int_equal(auegen_plan_make(&bf, &no_bf16, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_int_equal(p.variant, AUEGEN_VARIANT_SCALAR);
    auegen_spec bf_khr = bf;
    bf_khr.coopmat = AUEGEN_COOPMAT_KHR;
    assert_int_equal(auegen_plan_make(&bf_khr, &no_bf16, &tools, &p, why, sizeof why), AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "bf16 x bf16"));
    auegen_spec f32 = valid(&(auegen_spec_desc){.name = "k", .head_dim = 128, .dtype = AUEGEN_DTYPE_F32});
    assert_int_equal(auegen_plan_make(&f32, hopper, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_int_equal(p.variant, AUEGEN_VARIANT_SCALAR);
    auegen_spec khr = valid(&(auegen_spec_desc){.name = "k", .head_dim = 64, .coopmat = AUEGEN_COOPMAT_KHR});
    assert_int_equal(auegen_plan_make(&khr, lvp, &tools, &p, why, sizeof why), AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "lavapipe"));
    /* An explicit tile that can't fit names the sizes. */
    auegen_spec big = valid(&(auegen_spec_desc){.name = "k", .head_dim = 256, .tile_q = 128, .tile_kv = 128,
                                                .coopmat = AUEGEN_COOPMAT_NONE});
    assert_int_equal(auegen_plan_make(&big, portable, &tools, &p, why, sizeof why), AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "shared memory"));
    /* More query rows than invocations is fine; more O registers than allowed is not. */
    auegen_spec tall = valid(&(auegen_spec_desc){.name = "k", .head_dim = 16, .tile_q = 256, .tile_kv = 16,
                                                 .coopmat = AUEGEN_COOPMAT_NONE});
    assert_int_equal(auegen_plan_make(&tall, hopper, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_true(p.tile_q > p.workgroup_size);
    auegen_spec wide = valid(&(auegen_spec_desc){.name = "k", .head_dim = 1, .head_dim_v = 256, .tile_q = 256,
                                                 .tile_kv = 16, .coopmat = AUEGEN_COOPMAT_NONE});
    assert_int_equal(auegen_plan_make(&wide, hopper, &tools, &p, why, sizeof why), AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "registers"));
    assert_int_equal(auegen_plan_make(NULL, lvp, &tools, &p, why, sizeof why), AUEGEN_ERROR_USAGE);
}

/* INT8 plans: the forward and its quantizer take the same tiles on every
 * profile; the forward is planned on s8 x s8 -> s32 matrices where the target
 * has a 16x16 shape of them (and glslang compiles them), with its shared
 * memory exact; coopmat = "khr" without one is a plan error that says why. */
static void test_int8_planner(void **state)
{
    (void)state;
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    char why[256];
    auegen_plan fwd, quant;
    static const int dims[] = {16, 59, 64, 128, 256};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = dims[i], .gqa = 4, .int8 = true});
        for (int j = 0; j < auegen_target_profile_count(); j++) {
            const auegen_target *t = auegen_target_profile(j);
            assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &s, t, &tools, &fwd, why, sizeof why), AUEGEN_OK);
            assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_QUANT, &s, t, &tools, &quant, why, sizeof why),
                             AUEGEN_OK);
            assert_int_equal(fwd.tile_q, quant.tile_q);
            assert_int_equal(fwd.tile_kv, quant.tile_kv);
            assert_int_equal(quant.variant, AUEGEN_VARIANT_SCALAR);
            assert_true(fwd.shared_memory_bytes <= t->shared_memory_bytes);
            assert_true(fwd.workgroup_size <= t->max_workgroup_invocations);
            if (fwd.variant == AUEGEN_VARIANT_COOPMAT) {
                assert_int_equal(fwd.mma.a_type, AUEGEN_TYPE_S8);
                assert_int_equal(fwd.mma.c_type, AUEGEN_TYPE_S32);
                assert_int_equal(fwd.tile_q, 16 * fwd.subgroups);
                assert_int_equal(fwd.tile_kv % 16, 0);
                assert_int_equal(fwd.workgroup_size, fwd.subgroups * t->subgroup_size);
                assert_int_equal(fwd.emulated, t->coopmat_emulated);
            }
        }
    }
    auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 128, .gqa = 4, .causal = true, .int8 = true});
    const auegen_target *hopper = auegen_target_profile_find("nvidia-hopper");
    const auegen_target *emu = auegen_target_profile_find("lavapipe-emulated");
    const auegen_target *lvp = auegen_target_profile_find("lavapipe");
    const auegen_target *xe = auegen_target_profile_find("intel-xe");
    assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &s, lvp, &tools, &fwd, why, sizeof why), AUEGEN_OK);
    assert_int_equal(fwd.variant, AUEGEN_VARIANT_SCALAR);
    if (tools.coopmat_khr) {
        /* Hopper, 16x16x32: D4 = 32 words (whole K steps of 8), rows of 32 + 8 + 4 words; 4 subgroups, Bc 16:
         * 4 * (2*64*44 + 16*44 + 16*129 + 64*16 + 3*64 + 4*640) = 48704 bytes. */
        assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &s, hopper, &tools, &fwd, why, sizeof why), AUEGEN_OK);
        assert_int_equal(fwd.variant, AUEGEN_VARIANT_COOPMAT);
        assert_int_equal(fwd.mma.k, 32);
        assert_int_equal(fwd.q_stride, 44);
        assert_int_equal(fwd.tile_q, 64);
        assert_int_equal(fwd.tile_kv, 16);
        assert_int_equal(fwd.shared_memory_bytes, 48704);
        /* The emulation: 16x16x16 on 8 lanes, its f16 scratch tiles (1 KiB per subgroup) on top. */
        auegen_spec e = valid(&(auegen_spec_desc){.name = "k", .head_dim = 64, .gqa = 2, .int8 = true,
                                                  .tile_q = 32, .tile_kv = 16});
        assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &e, emu, &tools, &fwd, why, sizeof why), AUEGEN_OK);
        assert_int_equal(fwd.variant, AUEGEN_VARIANT_COOPMAT);
        assert_true(fwd.emulated);
        assert_int_equal(fwd.mma.k, 16);
        assert_int_equal(fwd.q_stride, 16 + 8 + 4);
        assert_int_equal(fwd.shared_memory_bytes, 4 * (2 * 32 * 28 + 16 * 28 + 16 * 65 + 32 * 16 + 3 * 32 + 2 * 640) + 2048);
        /* A tile the matrices can't take: "auto" falls back to the scalar kernel, "khr" says why. */
        auegen_spec odd = valid(&(auegen_spec_desc){.name = "k", .head_dim = 64, .int8 = true, .tile_q = 8,
                                                    .tile_kv = 8});
        assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &odd, emu, &tools, &fwd, why, sizeof why), AUEGEN_OK);
        assert_int_equal(fwd.variant, AUEGEN_VARIANT_SCALAR);
        odd.coopmat = AUEGEN_COOPMAT_KHR;
        assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &odd, emu, &tools, &fwd, why, sizeof why),
                         AUEGEN_ERROR_PLAN);
        assert_non_null(strstr(why, "tile 8x8"));
    }
    /* khr: a plan error where the target has no 16x16 s8 shape (lavapipe: none; Intel: 8x8x32 only). */
    s.coopmat = AUEGEN_COOPMAT_KHR;
    assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_FWD, &s, lvp, &tools, &fwd, why, sizeof why), AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "s8 x s8 -> s32"));
    assert_non_null(strstr(why, "'lavapipe'"));
    assert_int_equal(auegen__plan_int8(AUEGEN_FAMILY_INT8_QUANT, &s, xe, &tools, &quant, why, sizeof why),
                     AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "'intel-xe'"));
}

/* The lane-layout model: NVIDIA's probed table (anchors) fits it, the emulated
 * layouts fit it, and maps that are not of the form, or spread a row over two
 * clusters, do not. */
static void test_lane_layout(void **state)
{
    (void)state;
    int cell[256];
    auegen_lane_layout nv, fit;
    auegen_lane_layout_nvidia(&nv);
    /* The table read off an H200: lane l, element i -> row l/4 + 8*(i/4), column 2*(l%4) + (i&1) + 8*((i>>1)&1). */
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 8; i++)
            cell[l * 8 + i] = (l / 4 + 8 * (i / 4)) * 16 + 2 * (l % 4) + (i & 1) + 8 * ((i >> 1) & 1);
    assert_true(auegen_lane_layout_fit(cell, 32, 8, &fit));
    assert_memory_equal(&fit, &nv, sizeof nv);
    assert_memory_equal(&auegen_target_profile_find("nvidia-hopper")->lane_layout, &nv, sizeof nv);
    for (int lanes = 4; lanes <= 64; lanes *= 2) {
        auegen_lane_layout emu;
        assert_true(auegen_lane_layout_emulated(lanes, &emu));
        int e = emu.elems;
        for (int l = 0; l < lanes; l++)
            for (int i = 0; i < e; i++)
                cell[l * e + i] = (emu.row_step * (l / emu.cluster) + emu.row_off[i]) * 16
                    + emu.col_step * (l % emu.cluster) + emu.col_off[i];
        assert_true(auegen_lane_layout_fit(cell, lanes, e, &fit));
        assert_memory_equal(&fit, &emu, sizeof emu);
    }
    auegen_lane_layout emu8;
    assert_true(auegen_lane_layout_emulated(8, &emu8));
    assert_memory_equal(&auegen_target_profile_find("lavapipe-emulated")->lane_layout, &emu8, sizeof emu8);
    assert_false(auegen_lane_layout_emulated(3, &fit));
    assert_false(auegen_lane_layout_emulated(128, &fit));
    /* AMD RDNA3's wave32 accumulator: lane l holds column l%16 of rows 2i + l/16 (clusters of 16). */
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 8; i++)
            cell[l * 8 + i] = (2 * i + l / 16) * 16 + l % 16;
    assert_true(auegen_lane_layout_fit(cell, 32, 8, &fit));
    assert_int_equal(fit.cluster, 16);
    /* Lane l holds half of row l % 16: lanes 0 and 16 share row 0 and are never in one cluster. */
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 8; i++)
            cell[l * 8 + i] = (l % 16) * 16 + (l / 16) * 8 + i;
    assert_false(auegen_lane_layout_fit(cell, 32, 8, &fit));
    assert_int_equal(fit.lanes, 0);
    /* Not a permutation, wrong sizes, NULL. */
    for (int e = 0; e < 256; e++)
        cell[e] = e / 2;
    assert_false(auegen_lane_layout_fit(cell, 32, 8, &fit));
    assert_false(auegen_lane_layout_fit(cell, 32, 7, &fit));
    assert_false(auegen_lane_layout_fit(NULL, 32, 8, &fit));
    assert_false(auegen_lane_layout_fit(cell, 32, 8, NULL));

    /* Emulated target: the fast kernel, on the emulation's layout, with its scratch counted. */
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    char why[256];
    auegen_plan p;
    auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 64, .coopmat = AUEGEN_COOPMAT_KHR});
    const auegen_target *t = auegen_target_profile_find("lavapipe-emulated");
    assert_int_equal(auegen_plan_make(&s, t, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_true(p.emulated && p.register_softmax && p.p_in_registers);
    assert_int_equal(p.subgroup_size, 8);
    assert_memory_equal(&p.lane, &emu8, sizeof emu8);
    assert_true(p.shared_memory_bytes <= t->shared_memory_bytes);
    assert_false(p.q_in_shared);
    /* Head dims over 128: Q in shared memory; up to 256 it fits lavapipe's 32 KiB. */
    for (int d = 129; d <= 256; d += 127) {
        s = valid(&(auegen_spec_desc){.name = "k", .head_dim = d, .coopmat = AUEGEN_COOPMAT_KHR});
        assert_int_equal(auegen_plan_make(&s, t, &tools, &p, why, sizeof why), AUEGEN_OK);
        assert_true(p.emulated && p.register_softmax && p.q_in_shared);
        assert_int_equal(p.q_stride, p.d_pad + 8);
        assert_true(p.shared_memory_bytes <= t->shared_memory_bytes);
    }
    /* No known layout: the kernel with the softmax through shared memory. */
    auegen_target nolayout = *t;
    memset(&nolayout.lane_layout, 0, sizeof nolayout.lane_layout);
    nolayout.lane_layout_a = false;
    s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 200, .coopmat = AUEGEN_COOPMAT_KHR});
    assert_int_equal(auegen_plan_make(&s, &nolayout, &tools, &p, why, sizeof why), AUEGEN_OK);
    assert_true(p.emulated && !p.register_softmax && p.lane.lanes == 8);
    assert_true(p.tile_q > p.subgroup_size);   /* more rows than one subgroup's invocations */
    /* The H200: A matrices as accumulators, so no P tile in shared memory (K and V tiles only). */
    s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 128, .coopmat = AUEGEN_COOPMAT_AUTO});
    auegen_target h = *auegen_target_profile_find("nvidia-hopper");
    if (tools.coopmat_khr) {
        assert_int_equal(auegen_plan_make(&s, &h, &tools, &p, why, sizeof why), AUEGEN_OK);
        assert_true(p.register_softmax && p.p_in_registers && !p.emulated);
        assert_int_equal(p.shared_memory_bytes, 2 * 2 * p.tile_kv * p.k_stride);
        h.lane_layout_a = false;
        assert_int_equal(auegen_plan_make(&s, &h, &tools, &p, why, sizeof why), AUEGEN_OK);
        assert_true(p.register_softmax && !p.p_in_registers);
        assert_true(p.shared_memory_bytes > 2 * 2 * p.tile_kv * p.k_stride);
        /* D=256 on the H200: Q in shared memory, within 48 KiB. */
        h.lane_layout_a = true;
        s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 256});
        assert_int_equal(auegen_plan_make(&s, &h, &tools, &p, why, sizeof why), AUEGEN_OK);
        assert_true(p.register_softmax && p.q_in_shared && p.shared_memory_bytes <= 49152);
    }
}

/* Finds instruction op (with operand a1 when a1 != ~0u) in a module: its word offset, 0 if absent. */
static size_t find_op(const uint32_t *w, size_t n, uint32_t op, uint32_t a1)
{
    for (size_t i = 5; i < n && (w[i] >> 16); i += w[i] >> 16)
        if ((w[i] & 0xffffu) == op && (a1 == ~0u || ((w[i] >> 16) > 1 && w[i + 1] == a1)))
            return i;
    return 0;
}

/* bf16 tensor-core kernels: the f16-carrier module is retyped (spirv_bf16.c). */
static void test_bf16_retype(void **state)
{
    (void)state;
    /* The constants' re-encoding: binary16 bits -> bf16 bits. */
    assert_int_equal(auegen__half_bits_to_bf16(0x3c00u), 0x3f80u);   /* 1.0 */
    assert_int_equal(auegen__half_bits_to_bf16(0xc000u), 0xc000u);   /* -2.0 */
    assert_int_equal(auegen__half_bits_to_bf16(0x0000u), 0x0000u);
    assert_int_equal(auegen__half_bits_to_bf16(0x7c00u), 0x7f80u);   /* inf */
    assert_int_equal(auegen__half_bits_to_bf16(0x0001u), 0x3380u);   /* 2^-24, the smallest subnormal */
    assert_int_equal(auegen__half_bits_to_bf16(0x3c01u), 0x3f80u);   /* 1 + 2^-10 rounds to 1 */
    assert_true((auegen__half_bits_to_bf16(0x7e00u) & 0x7fc0u) == 0x7fc0u);   /* NaN stays NaN */

    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    if (!tools.coopmat_khr) {
        print_message("glslang cannot compile cooperative matrices: the retyped kernel is not built here\n");
    } else {
        auegen_spec bf = valid(&(auegen_spec_desc){.name = "k", .head_dim = 128, .gqa = 4, .causal = true,
                                                   .dtype = AUEGEN_DTYPE_BF16});
        auegen_kernel k;
        assert_int_equal(auegen_generate(&bf, auegen_target_profile_find("nvidia-hopper"), NULL, &k), AUEGEN_OK);
        assert_int_equal(k.plan.variant, AUEGEN_VARIANT_COOPMAT);
        assert_int_equal(k.plan.mma.a_type, AUEGEN_TYPE_BF16);
        const uint32_t *w = k.spirv;
        size_t n = k.spirv_words;
        bool bf16_type = false, half_type = false;
        for (size_t i = 5; i < n; i += w[i] >> 16)
            if ((w[i] & 0xffffu) == 22 && w[i + 2] == 16) {
                bf16_type |= (w[i] >> 16) == 4 && w[i + 3] == 0;
                half_type |= (w[i] >> 16) == 3;
            }
        assert_true(bf16_type);                  /* OpTypeFloat 16 BFloat16KHR */
        assert_false(half_type);                 /* and no IEEE half left */
        assert_true(find_op(w, n, 17, 5116) && find_op(w, n, 17, 5118));
        size_t ext = 0;
        for (size_t i = 5; i < n && !ext; i += w[i] >> 16)
            if ((w[i] & 0xffffu) == 10 && memcmp(w + i + 1, "SPV_KHR_bfloat16", 17) == 0)
                ext = i;
        assert_true(ext > 0);
        char log[512];
        assert_int_equal(auegen_spirv_validate(w, n, log, sizeof log), AUEGEN_OK);
        /* Without its extension the module is refused, saying why. */
        uint32_t saved = k.spirv[ext + 1];
        memcpy(&k.spirv[ext + 1], "XPV_", 4);    /* another extension's name */
        assert_int_equal(auegen_spirv_validate(w, n, log, sizeof log), AUEGEN_ERROR_VALIDATE);
        assert_non_null(strstr(log, "does not declare SPV_KHR_bfloat16"));
        k.spirv[ext + 1] = saved;
        /* Damaged bf16 modules (a word changed, instruction lengths included): a
         * status, never a read outside the module (ASan in CI). */
        uint32_t *bad = malloc(n * 4);
        assert_non_null(bad);
        uint64_t rng = 0x9e3779b97f4a7c15ull;
        int refused = 0;
        for (int round = 0; round < 300; round++) {
            memcpy(bad, w, n * 4);
            for (int e = 0; e < 3; e++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = 5 + (size_t)(rng >> 33) % (n > 64 ? 64 : n - 5);   /* the header and types */
                bad[at] = (uint32_t)(rng >> 7) ^ (e ? bad[at] : 0x00010000u);
            }
            refused += auegen_spirv_validate(bad, n, log, sizeof log) != AUEGEN_OK;
        }
        assert_true(refused > 0);
        free(bad);
        /* A second retype is refused: the module is bf16 already. */
        uint32_t *copy = malloc(n * 4);
        assert_non_null(copy);
        memcpy(copy, w, n * 4);
        size_t cn = n;
        assert_int_equal(auegen__spirv_bf16_retype(&copy, &cn, log, sizeof log), AUEGEN_ERROR_INTERNAL);
        free(copy);
        auegen_kernel_release(&k);
    }

    /* A module that computes with the carrier is refused, naming the instruction. */
    static const char *glsl =
        "#version 450\n#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n"
        "#extension GL_EXT_shader_16bit_storage : require\n"
        "layout(local_size_x = 1) in;\n"
        "layout(binding = 0) buffer B { float16_t v[]; };\n"
        "void main() { v[0] = v[1] + v[2]; }\n";
    uint32_t *words = NULL;
    size_t count = 0;
    char log[512];
    assert_int_equal(auegen_compile_glsl(glsl, &words, &count, log, sizeof log), AUEGEN_OK);
    assert_int_equal(auegen__spirv_bf16_retype(&words, &count, log, sizeof log), AUEGEN_ERROR_INTERNAL);
    assert_non_null(strstr(log, "OpFAdd"));
    free(words);
    /* Moves and conversions only: retyped, constants re-encoded, and valid. */
    static const char *moves =
        "#version 450\n#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n"
        "#extension GL_EXT_shader_16bit_storage : require\n"
        "layout(local_size_x = 1) in;\n"
        "layout(binding = 0) buffer B { float16_t v[]; float f[]; };\n"
        "void main() { v[0] = v[1]; f[0] = float(v[2]); v[3] = float16_t(1.0); }\n";
    words = NULL;
    assert_int_equal(auegen_compile_glsl(moves, &words, &count, log, sizeof log), AUEGEN_OK);
    assert_int_equal(auegen__spirv_bf16_retype(&words, &count, log, sizeof log), AUEGEN_OK);
    assert_int_equal(auegen_spirv_validate(words, count, log, sizeof log), AUEGEN_OK);
    bool one = false;
    for (size_t i = 5; i < count; i += words[i] >> 16)
        one |= (words[i] & 0xffffu) == 43 && (words[i] >> 16) == 4 && words[i + 3] == 0x3f80u;
    assert_true(one);                            /* float16_t(1.0) is bf16 1.0 now */
    free(words);
}

static void test_generate_and_keys(void **state)
{
    (void)state;
    const auegen_target *lvp = auegen_target_profile_find("lavapipe");
    const auegen_target *portable = auegen_target_profile_find("portable");
    auegen_spec a = valid(&(auegen_spec_desc){.name = "a", .head_dim = 40, .gqa = 2, .softcap = 30,
                                              .has_window = true, .window_left = 16, .window_right = 3});
    auegen_spec b = a;
    snprintf(b.name, sizeof b.name, "b");
    auegen_kernel ka, kb, kc;
    assert_int_equal(auegen_generate(&a, lvp, NULL, &ka), AUEGEN_OK);
    assert_int_equal(auegen_generate(&b, lvp, NULL, &kb), AUEGEN_OK);
    assert_int_equal(auegen_generate(&a, portable, NULL, &kc), AUEGEN_OK);
    assert_string_equal(ka.key, kb.key);                 /* the name is not part of the key */
    assert_string_not_equal(ka.key, kc.key);            /* the target is */
    assert_int_equal(strlen(ka.key), 32);
    assert_int_equal(ka.spirv_words, kb.spirv_words);
    assert_memory_equal(ka.spirv, kb.spirv, ka.spirv_words * 4);
    assert_int_equal(auegen_spirv_validate(ka.spirv, ka.spirv_words, NULL, 0), AUEGEN_OK);
    assert_non_null(strstr(ka.key_input, ka.canonical));
    assert_non_null(strstr(ka.stub_c, "aule_kernel_a_lavapipe"));
    assert_non_null(strstr(ka.glsl, "tanh"));           /* softcap made it into the kernel */
    /* A corrupted module fails validation. */
    uint32_t saved = ka.spirv[5];
    ka.spirv[5] = 0xdeadbeef;
    char log[256];
    assert_int_equal(auegen_spirv_validate(ka.spirv, ka.spirv_words, log, sizeof log), AUEGEN_ERROR_VALIDATE);
    ka.spirv[5] = saved;
    assert_int_equal(auegen_spirv_validate(ka.spirv, 3, log, sizeof log), AUEGEN_ERROR_VALIDATE);
    auegen_kernel_release(&ka);
    auegen_kernel_release(&kb);
    auegen_kernel_release(&kc);
    auegen_kernel_release(NULL);

    /* A spec filled in by hand is validated again. */
    auegen_spec bad = a;
    bad.head_dim = 999;
    assert_int_equal(auegen_generate(&bad, lvp, NULL, &ka), AUEGEN_ERROR_SPEC);
    assert_non_null(strstr(ka.log, "head_dim"));
    auegen_kernel_release(&ka);
    assert_int_equal(auegen_generate(NULL, lvp, NULL, &ka), AUEGEN_ERROR_USAGE);
}

static void test_line_directives(void **state)
{
    (void)state;
    /* Conditionals drop template lines; #line keeps glslang's numbering honest. */
    auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 32, .dtype = AUEGEN_DTYPE_F32});
    auegen_kernel k;
    assert_int_equal(auegen_generate(&s, auegen_target_profile_find("lavapipe"), NULL, &k), AUEGEN_OK);
    assert_non_null(strstr(k.glsl, "\n#line "));
    assert_null(strstr(k.glsl, "{{"));
    assert_null(strstr(k.glsl, "{%"));
    assert_int_equal(strncmp(k.glsl, "#version 450\n", 13), 0);
    auegen_kernel_release(&k);
}

/* Native CPU profiles: the C file of a spec carries its values as constants, its
 * key changes with the spec and the profile, and kinds without a CPU kernel are refused. */
static void test_cpu_kernels(void **state)
{
    (void)state;
    assert_true(auegen_cpu_profile_count() >= 6);
    for (int i = 0; i < auegen_cpu_profile_count(); i++) {
        const auegen_cpu_profile *p = auegen_cpu_profile_get(i);
        assert_ptr_equal(auegen_cpu_profile_find(p->name), p);
        assert_null(auegen_target_profile_find(p->name));          /* one namespace for --target */
        assert_true(p->lanes == 4 || p->lanes == 8 || p->lanes == 16);
        assert_int_equal(p->tile_rows, 4 * p->lanes);              /* cpu_kernel.h's TR */
    }
    assert_null(auegen_cpu_profile_get(auegen_cpu_profile_count()));
    const auegen_cpu_profile *avx512 = auegen_cpu_profile_find("cpu-avx512");
    const auegen_cpu_profile *neon = auegen_cpu_profile_find("cpu-neon");
    assert_non_null(avx512);
    assert_non_null(neon);
    auegen_spec s = valid(&(auegen_spec_desc){.name = "k", .head_dim = 80, .head_dim_v = 48, .gqa = 4,
                                              .dtype = AUEGEN_DTYPE_BF16, .has_window = true, .window_left = 9,
                                              .window_right = 2, .softcap = 30.0, .sinks = true});
    char *a = NULL, *b = NULL, *c = NULL, key_a[33], key_b[33], key_c[33], log[256];
    assert_int_equal(auegen_generate_cpu(&s, avx512, "x.lua", &a, key_a, log, sizeof log), AUEGEN_OK);
    assert_int_equal(auegen_generate_cpu(&s, avx512, "x.lua", &b, key_b, log, sizeof log), AUEGEN_OK);
    assert_string_equal(a, b);                                     /* byte-identical */
    assert_string_equal(key_a, key_b);
    assert_true(strncmp(a, "/* generated by auegen ", 23) == 0);
    assert_non_null(strstr(a, key_a));
    static const char *const want[] = {"#define AULE_CPU_W 16\n", "#define AULE_CPU_SPEC_D 80\n",
        "#define AULE_CPU_SPEC_DV 48\n", "#define AULE_CPU_SPEC_DTYPE AUEGEN_DTYPE_BF16\n",
        "#define AULE_CPU_SPEC_GQA 4\n", "#define AULE_CPU_SPEC_WINDOW_LEFT (9)\n",
        "#define AULE_CPU_SPEC_WINDOW_RIGHT (2)\n", "#define AULE_CPU_SPEC_SOFTCAP 3.00000000e+01f\n",
        "#define AULE_CPU_SPEC_SINKS 1\n", "#include \"aule/cpu/cpu_kernel.h\"", "#if !defined(__x86_64__)"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_non_null(strstr(a, want[i]));
    assert_int_equal(auegen_generate_cpu(&s, neon, "x.lua", &c, key_c, log, sizeof log), AUEGEN_OK);
    assert_string_not_equal(key_a, key_c);
    assert_non_null(strstr(c, "#if !defined(__aarch64__)"));
    free(a), free(b), free(c);
    s.head_dim = 64;
    assert_int_equal(auegen_generate_cpu(&s, avx512, "x.lua", &a, key_b, log, sizeof log), AUEGEN_OK);
    assert_string_not_equal(key_a, key_b);
    free(a);
    auegen_spec i8 = valid(&(auegen_spec_desc){.name = "q", .head_dim = 64, .int8 = true});
    assert_false(auegen_cpu_supports(&i8));
    assert_int_equal(auegen_generate_cpu(&i8, avx512, NULL, &a, key_a, log, sizeof log), AUEGEN_ERROR_PLAN);
    assert_null(a);
    auegen_spec dec = valid(&(auegen_spec_desc){.name = "d", .kind = AUEGEN_KIND_DECODE, .head_dim = 64,
                                                .page_size = 16});
    assert_true(auegen_cpu_supports(&dec));
    assert_int_equal(auegen_generate_cpu(&dec, avx512, NULL, &a, key_a, log, sizeof log), AUEGEN_OK);
    assert_non_null(strstr(a, "#define AULE_CPU_SPEC_PAGE_SIZE 16\n"));
    assert_non_null(strstr(a, ".family = AUEGEN_FAMILY_DECODE"));
    free(a);
}

static void test_write_if_changed(void **state)
{
    (void)state;
    char dir[] = "/tmp/aule-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    bool changed = false;
    assert_int_equal(auegen_write_if_changed(path, "abc", 3, &changed), AUEGEN_OK);
    assert_true(changed);
    assert_int_equal(auegen_write_if_changed(path, "abc", 3, &changed), AUEGEN_OK);
    assert_false(changed);
    assert_int_equal(auegen_write_if_changed(path, "abcd", 4, &changed), AUEGEN_OK);
    assert_true(changed);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/f.txt", dir);
    assert_int_equal(auegen_write_if_changed(bad, "x", 1, &changed), AUEGEN_ERROR_IO);
    assert_int_equal(auegen_write_if_changed(NULL, "x", 1, &changed), AUEGEN_ERROR_USAGE);
    unlink(path);
    rmdir(dir);
}

/* Template errors name the template's own line, also inside an include; the
 * generated GLSL gets #line only where its numbering jumps, never two in a row. */
static void test_template_lines(void **state)
{
    (void)state;
    auegen_spec_desc d = {.name = "t", .head_dim = 64};
    auegen_spec s;
    assert_int_equal(auegen_spec_validate(&d, &s, NULL), AUEGEN_OK);
    auegen_plan p = {.family = AUEGEN_FAMILY_FORWARD, .workgroup_size = 64};
    char err[512] = "";
    char *out = auegen__template_expand_text("bad.comp", "// one\n{% if D == 64 then %}\nconst uint x = {{NOPE}};\n{% end %}\n",
                                     &s, &p, err, sizeof err);
    assert_null(out);
    if (!strstr(err, "template bad.comp:3:") || !strstr(err, "unknown name NOPE"))
        fail_msg("template error: %s", err);
    out = auegen__template_expand_text("inc.comp", "// one\n{% include \"common_dtype.glsl\" %}\n{{DTYPE}}\n", &s, &p, err,
                               sizeof err);
    assert_non_null(out);
    /* The include's lines, then a jump back: line 3 of inc.comp. */
    if (!strstr(out, "#line 3\nf16\n"))
        fail_msg("no #line back after the include:\n%s", out);
    assert_null(strstr(out, "#line 1\n#line"));
    free(out);
    out = auegen__template_expand_text("loop.comp", "a\n{% for i = 1, 3 do %}\nx{{i}}\n{% end %}\nb\n", &s, &p, err, sizeof err);
    assert_non_null(out);
    /* Each unrolled iteration jumps back to line 3; b is line 5, right after the third x. */
    assert_string_equal(out, "a\n#line 3\nx1\n#line 3\nx2\n#line 3\nx3\n#line 5\nb\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_canonical_same_meaning),
        cmocka_unit_test(test_fields_survive_normalize),
        cmocka_unit_test(test_fields_in_stub),
        cmocka_unit_test(test_fields_documented),
        cmocka_unit_test(test_spec_file),
        cmocka_unit_test(test_planner),
        cmocka_unit_test(test_int8_planner),
        cmocka_unit_test(test_lane_layout),
        cmocka_unit_test(test_generate_and_keys),
        cmocka_unit_test(test_bf16_retype),
        cmocka_unit_test(test_line_directives),
        cmocka_unit_test(test_cpu_kernels),
        cmocka_unit_test(test_write_if_changed),
        cmocka_unit_test(test_template_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
