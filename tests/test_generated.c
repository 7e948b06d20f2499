/* SPDX-License-Identifier: MIT */
/*
 * test_generated.c - the kernels linked in from generated/ are intact (their
 * SPIR-V validates, their spec and canonical text agree), and every shipped
 * spec generates a valid kernel for every target profile, cooperative-matrix
 * variants included when the linked glslang compiles them.
 *   test_generated SPECS_DIR
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auegen.h"
#include "spirv_reflect.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const auegen_kernel_info *const aule_generated_kernels[];
static const char *specs_dir;

/* The block a binding's buffer is declared with must be named after the binding:
 * binding K_SCALE -> KScale, Q -> QBuf or QBuf4 (a second view of the same buffer). */
static int block_matches(const char *block, const char *binding)
{
    char a[64], b[64];
    size_t n = 0;
    for (const char *p = block; *p && n + 1 < sizeof a; p++)
        a[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    a[n] = '\0';
    if (n && a[n - 1] == '4')
        a[--n] = '\0';
    if (n > 3 && strcmp(a + n - 3, "buf") == 0)
        a[n -= 3] = '\0';
    n = 0;
    for (const char *p = binding; *p && n + 1 < sizeof b; p++)
        if (*p != '_')
            b[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    b[n] = '\0';
    return strcmp(a, b) == 0;
}

/* The module's push constants and bindings are its family's, as auegen_abi.h
 * declares them; its shared memory is what the plan says (when check_shared). */
static void check_module(const char *what, const auegen_plan *plan, const uint32_t *spirv, size_t words,
                         int check_shared)
{
    const auegen_family_abi *abi = auegen_family_abi_get(plan->family);
    if (!abi)
        fail_msg("%s: family %d has no ABI table", what, (int)plan->family);
    spirv_reflection r;
    if (spirv_reflect(spirv, words, &r) != 0)
        fail_msg("%s: %s", what, r.error);
    if (r.push_members < 1)
        fail_msg("%s: no push-constant block", what);
    if (r.push_name[0][0]) {
        /* An unoptimized module keeps every member and its name: all must agree. */
        if (r.push_members != abi->push_count)
            fail_msg("%s: push block has %d members, the %s ABI %d", what, r.push_members, abi->name,
                     abi->push_count);
        for (int i = 0; i < abi->push_count; i++)
            if (strcmp(r.push_name[i], abi->push[i].name) != 0 || r.push_offset[i] != abi->push[i].offset
                || r.push_type[i] != abi->push[i].glsl_type[0])
                fail_msg("%s: push member %d is %s (%c) at %u; the %s ABI says %s (%s) at %u", what, i,
                         r.push_name[i], r.push_type[i], r.push_offset[i], abi->name, abi->push[i].name,
                         abi->push[i].glsl_type, abi->push[i].offset);
    } else {
        /* The optimizer strips names and drops unused members: what is left must
         * sit where the table puts a field of the same type. */
        uint32_t last = 0;
        for (int i = 0; i < r.push_members; i++) {
            int j = 0;
            while (j < abi->push_count && abi->push[j].offset != r.push_offset[i])
                j++;
            if (j == abi->push_count || r.push_type[i] != abi->push[j].glsl_type[0] || (i && r.push_offset[i] <= last))
                fail_msg("%s: push member %d (%c) at %u is no field of the %s ABI", what, i, r.push_type[i],
                         r.push_offset[i], abi->name);
            last = r.push_offset[i];
        }
    }
    for (int b = 0; b < r.buffers; b++) {
        if (r.buffer_set[b] != 0 || r.buffer_binding[b] >= (uint32_t)abi->binding_count)
            fail_msg("%s: buffer %s at set %u binding %u is not in the %s ABI", what, r.buffer_block[b],
                     r.buffer_set[b], r.buffer_binding[b], abi->name);
        if (r.buffer_block[b][0] && !block_matches(r.buffer_block[b], abi->bindings[r.buffer_binding[b]].name))
            fail_msg("%s: binding %u holds block %s; the %s ABI has %s there", what, r.buffer_binding[b],
                     r.buffer_block[b], abi->name, abi->bindings[r.buffer_binding[b]].name);
    }
    if (check_shared && r.shared_bytes != (uint64_t)plan->shared_memory_bytes)
        fail_msg("%s: declares %llu bytes of shared memory; the plan says %d", what,
                 (unsigned long long)r.shared_bytes, plan->shared_memory_bytes);
}

static void test_linked_kernels(void **state)
{
    (void)state;
    int n = 0, coop = 0, unchecked = 0;
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    for (const auegen_kernel_info *const *k = aule_generated_kernels; *k; k++, n++) {
        const auegen_kernel_info *info = *k;
        char log[1024], canon[512];
        /* The SPIRV-Tools that comes with glslang 12 predates cooperative matrices. */
        bool checkable = tools.coopmat_khr || info->plan.variant != AUEGEN_VARIANT_COOPMAT;
        unchecked += !checkable;
        if (checkable && auegen_spirv_validate(info->spirv, info->spirv_words, log, sizeof log) != AUEGEN_OK)
            fail_msg("%s.%s: %s", info->name, info->target, log);
        assert_true(auegen_spec_canonical(&info->spec, canon, sizeof canon) > 0);
        assert_string_equal(canon, info->canonical);
        assert_string_equal(info->spec.name, info->name);
        assert_int_equal(strlen(info->key), 32);
        assert_non_null(auegen_target_profile_find(info->target));
        assert_int_equal(strlen(info->module_key), 32);
        char what[160];
        snprintf(what, sizeof what, "linked %s (%s, %s)", info->name, info->target,
                 auegen_family_abi_get(info->plan.family)->name);
        check_module(what, &info->plan, info->spirv, info->spirv_words, 1);
        coop += info->plan.variant == AUEGEN_VARIANT_COOPMAT;
    }
    print_message("%d linked kernels (ABI and shared memory checked), %d cooperative-matrix; %d validated%s\n", n, coop, n - unchecked,
                  unchecked ? " (this SPIRV-Tools cannot validate cooperative matrices)" : "");
    assert_true(n >= 20);
    assert_true(coop >= 5);
}

/* AULE_TEST_TARGETS=a,b,...: only those target profiles (the sanitizer build
 * sets it: glslang runs several times slower under ASan's allocator, and the
 * normal build runs every profile). */
static bool target_chosen(const char *name)
{
    const char *list = getenv("AULE_TEST_TARGETS");
    if (!list || !*list)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}

static void test_every_spec_every_target(void **state)
{
    (void)state;
    DIR *dir = opendir(specs_dir);
    assert_non_null(dir);
    auegen_toolchain tools;
    auegen_toolchain_query(&tools);
    int kernels = 0, coop = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", specs_dir, e->d_name);
        auegen_spec_file *f = NULL;
        if (auegen_spec_file_load(path, e->d_name, &f) != AUEGEN_OK)
            fail_msg("%s does not load", e->d_name);
        files++;
        for (int i = 0; i < auegen_spec_file_count(f); i++) {
            for (int t = 0; t < auegen_target_profile_count(); t++) {
                if (!target_chosen(auegen_target_profile(t)->name))
                    continue;
                auegen_kernel k;
                auegen_status st = auegen_generate(auegen_spec_file_get(f, i), auegen_target_profile(t), NULL, &k);
                if (st != AUEGEN_OK)
                    fail_msg("%s %s on %s: %s", e->d_name, auegen_spec_file_get(f, i)->name,
                             auegen_target_profile(t)->name, k.log);
                kernels++;
                coop += k.plan.variant == AUEGEN_VARIANT_COOPMAT;
                char what[200];
                snprintf(what, sizeof what, "%s %s on %s", e->d_name, k.spec.name, auegen_target_profile(t)->name);
                check_module(what, &k.plan, k.spirv, k.spirv_words, 1);
                auegen_kernel_release(&k);
                /* Unoptimized, the module keeps every push member's name: the exact check. */
                auegen_generate_options raw = {.optimize = false, .skip_stub = true};
                if (auegen_generate(auegen_spec_file_get(f, i), auegen_target_profile(t), &raw, &k) != AUEGEN_OK)
                    fail_msg("%s unoptimized: %s", what, k.log);
                check_module(what, &k.plan, k.spirv, k.spirv_words, 0);
                auegen_kernel_release(&k);
                /* A decode spec's split-K merge and cache append are kernels of their own. */
                const char *const *parts = auegen_spec_parts(auegen_spec_file_get(f, i));
                for (int pt = 0; parts[pt]; pt++) {
                    auegen_generate_options o = {.optimize = pt == 0, .part = parts[pt]};
                    st = auegen_generate(auegen_spec_file_get(f, i), auegen_target_profile(t), &o, &k);
                    if (st != AUEGEN_OK)
                        fail_msg("%s %s %s on %s: %s", e->d_name, auegen_spec_file_get(f, i)->name, parts[pt],
                                 auegen_target_profile(t)->name, k.log);
                    kernels++;
                    char pwhat[200];
                    snprintf(pwhat, sizeof pwhat, "%s %s %s on %s", e->d_name, k.spec.name, parts[pt],
                             auegen_target_profile(t)->name);
                    check_module(pwhat, &k.plan, k.spirv, k.spirv_words, 1);
                    auegen_kernel_release(&k);
                }
            }
        }
        auegen_spec_file_destroy(f);
    }
    closedir(dir);
    const char *chosen = getenv("AULE_TEST_TARGETS");
    print_message("%d spec files, %d kernels generated and validated (%d cooperative-matrix; %s)%s%s\n", files,
                  kernels, coop, auegen_compiler_version(), chosen && *chosen ? "; targets " : "",
                  chosen && *chosen ? chosen : "");
    assert_true(files >= 6);
    if (tools.coopmat_khr)
        assert_true(coop > 0);
    else
        assert_int_equal(coop, 0);
}

/* Instructions with this opcode in a module (OpSDot: 4450). */
static int count_opcode(const uint32_t *spirv, size_t words, uint32_t opcode)
{
    int n = 0;
    for (size_t i = 5; i < words && spirv[i] >> 16; i += spirv[i] >> 16)
        n += (spirv[i] & 0xffffu) == opcode;
    return n;
}

/* Decode over an int8 KV cache: no shipped spec has one (most target profiles
 * lack 8-bit storage), so these are generated here for the profiles that have
 * it, and for one without integer dot products: key tiles within a page, the
 * declared shared memory exactly the plan's, OpSDot exactly where planned. */
static void test_kv_int8_decode(void **state)
{
    (void)state;
    static const struct { int d, gqa, page; } shapes[] = {{128, 4, 16}, {64, 1, 64}, {59, 2, 32}, {256, 8, 16}};
    auegen_target no_dot = *auegen_target_profile_find("lavapipe");
    no_dot.int8_dot = false;
    const auegen_target *targets[] = {auegen_target_profile_find("lavapipe"), auegen_target_profile_find("nvidia-hopper"),
                                      &no_dot};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
            assert_non_null(targets[t]);
            auegen_spec_desc dd = {.name = "kv8", .kind = AUEGEN_KIND_DECODE, .head_dim = shapes[i].d,
                                   .gqa = shapes[i].gqa, .causal = true, .page_size = shapes[i].page,
                                   .kv_int8 = true, .dtype = AUEGEN_DTYPE_F16};
            auegen_spec s;
            assert_int_equal(auegen_spec_validate(&dd, &s, NULL), AUEGEN_OK);
            char what[200];
            snprintf(what, sizeof what, "kv_int8 decode D%d page %d on %s%s", shapes[i].d, shapes[i].page,
                     targets[t]->name, t == 2 ? " without int8_dot" : "");
            for (int optimize = 1; optimize >= 0; optimize--) {
                auegen_generate_options o = {.optimize = optimize, .skip_stub = !optimize};
                auegen_kernel k;
                if (auegen_generate(&s, targets[t], &o, &k) != AUEGEN_OK)
                    fail_msg("%s: %s", what, k.log);
                check_module(what, &k.plan, k.spirv, k.spirv_words, 1);
                assert_true(k.plan.tile_kv <= shapes[i].page);
                assert_int_equal(k.plan.int8_dot, targets[t]->int8_dot);
                if ((count_opcode(k.spirv, k.spirv_words, 4450) > 0) != targets[t]->int8_dot)
                    fail_msg("%s: OpSDot %s", what, targets[t]->int8_dot ? "missing" : "without int8_dot");
                auegen_kernel_release(&k);
            }
        }
    /* An explicit key tile wider than a page is a plan error that says so. */
    auegen_spec_desc dd = {.name = "kv8", .kind = AUEGEN_KIND_DECODE, .head_dim = 64, .gqa = 1, .page_size = 16,
                           .kv_int8 = true, .dtype = AUEGEN_DTYPE_F16, .tile_q = 16, .tile_kv = 32};
    auegen_spec s;
    assert_int_equal(auegen_spec_validate(&dd, &s, NULL), AUEGEN_OK);
    auegen_plan plan;
    char why[300];
    assert_int_equal(auegen_plan_make(&s, auegen_target_profile_find("lavapipe"), NULL, &plan, why, sizeof why),
                     AUEGEN_ERROR_PLAN);
    assert_non_null(strstr(why, "within one page"));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_generated SPECS_DIR\n");
        return 2;
    }
    specs_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linked_kernels),
        cmocka_unit_test(test_every_spec_every_target),
        cmocka_unit_test(test_kv_int8_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
