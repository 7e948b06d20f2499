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

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const auegen_kernel_info *const aule_generated_kernels[];
static const char *specs_dir;

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
        coop += info->plan.variant == AUEGEN_VARIANT_COOPMAT;
    }
    print_message("%d linked kernels, %d cooperative-matrix; %d validated%s\n", n, coop, n - unchecked,
                  unchecked ? " (this SPIRV-Tools cannot validate cooperative matrices)" : "");
    assert_true(n >= 20);
    assert_true(coop >= 5);
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
                auegen_kernel k;
                auegen_status st = auegen_generate(auegen_spec_file_get(f, i), auegen_target_profile(t), NULL, &k);
                if (st != AUEGEN_OK)
                    fail_msg("%s %s on %s: %s", e->d_name, auegen_spec_file_get(f, i)->name,
                             auegen_target_profile(t)->name, k.log);
                kernels++;
                coop += k.plan.variant == AUEGEN_VARIANT_COOPMAT;
                auegen_kernel_release(&k);
                /* A decode spec's split-K merge and cache append are kernels of their own. */
                static const char *const parts[] = {"reduce", "append"};
                for (int pt = 0; pt < 2 && auegen_spec_file_get(f, i)->kind == AUEGEN_KIND_DECODE; pt++) {
                    auegen_generate_options o = {.optimize = true, .part = parts[pt]};
                    st = auegen_generate(auegen_spec_file_get(f, i), auegen_target_profile(t), &o, &k);
                    if (st != AUEGEN_OK)
                        fail_msg("%s %s %s on %s: %s", e->d_name, auegen_spec_file_get(f, i)->name, parts[pt],
                                 auegen_target_profile(t)->name, k.log);
                    kernels++;
                    auegen_kernel_release(&k);
                }
            }
        }
        auegen_spec_file_destroy(f);
    }
    closedir(dir);
    print_message("%d spec files, %d kernels generated and validated (%d cooperative-matrix; %s)\n", files,
                  kernels, coop, auegen_compiler_version());
    assert_true(files >= 6);
    if (tools.coopmat_khr)
        assert_true(coop > 0);
    else
        assert_int_equal(coop, 0);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
