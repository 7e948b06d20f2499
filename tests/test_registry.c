/* SPDX-License-Identifier: MIT */
/*
 * test_registry.c - kernels a program registers (aule_register_kernels) are
 * found by spec with JIT disabled, by the module key or as any kernel of the
 * spec this device can run; unregistered, they are gone; bad arguments are
 * refused; registering while other threads look kernels up is safe. The
 * kernels are generated in-process (a spec none of generated/ has) and
 * wrapped as auegen_kernel_info, as auegen's stubs define them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aule.h"
#include "test_device.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* A generated kernel kept alive, and its info as a stub would define it. */
typedef struct made_kernel {
    auegen_kernel k;
    auegen_kernel_info info;
} made_kernel;

static auegen_spec spec_of(const char *name, int head_dim)
{
    auegen_spec_desc d = {.name = name, .head_dim = head_dim, .gqa = 2, .causal = true, .dtype = AUEGEN_DTYPE_F16};
    auegen_spec s;
    assert_int_equal(auegen_spec_validate(&d, &s, NULL), AUEGEN_OK);
    return s;
}

/* For a named profile, or (target NULL) for the device of ctx: then its module key is
 * exactly what the lookup computes there. */
static void make(made_kernel *m, const auegen_spec *s, const char *target, const aule_context *ctx)
{
    aule_device_info info;
    if (!target)
        assert_int_equal(aule_context_device_info(ctx, &info), AULE_OK);
    auegen_generate_options opts = {.optimize = true, .skip_stub = true};
    auegen_status st = auegen_generate(s, target ? auegen_target_profile_find(target) : &info.caps, &opts, &m->k);
    if (st != AUEGEN_OK)
        fail_msg("generating %s for %s: %s", s->name, target ? target : "the device", m->k.log);
    m->info = (auegen_kernel_info){.name = m->k.spec.name, .target = target ? target : "device",
                                   .canonical = m->k.canonical,
                                   .key = m->k.key, .module_key = m->k.module_key, .spec = m->k.spec,
                                   .plan = m->k.plan, .spirv = m->k.spirv, .spirv_words = m->k.spirv_words};
}

static aule_context *context(void)
{
    aule_context_desc d = {.disable_jit = true, .disable_disk_cache = true};
    aule_context *ctx = NULL;
    if (aule_context_create(&d, &ctx) != AULE_OK)
        fail_msg("no Vulkan device: %s", aule_context_last_error(NULL));
    return ctx;
}

static void test_found_by_spec_without_jit(void **state)
{
    (void)state;
    /* d40: planned for the portable profile (found as a kernel of the spec this
     * device runs); d32: planned for this device (found by its module key). */
    aule_context *ctx = context();
    auegen_spec s = spec_of("registry_d40", 40), exact = spec_of("registry_d32", 32);
    made_kernel m, e;
    make(&m, &s, "portable", NULL);
    make(&e, &exact, NULL, ctx);
    aule_kernel_report r;
    assert_int_equal(aule_kernel_prepare(ctx, &s, &r), AULE_ERROR_UNSUPPORTED);   /* not linked in yet */
    assert_int_equal(aule_kernel_prepare(ctx, &exact, &r), AULE_ERROR_UNSUPPORTED);

    const auegen_kernel_info *list[] = {&m.info, &e.info};
    assert_int_equal(aule_register_kernels(list, 2), AULE_OK);
    assert_int_equal(aule_kernel_prepare(ctx, &s, &r), AULE_OK);
    assert_int_equal(r.source, AULE_SOURCE_BUILTIN);
    assert_int_equal(aule_kernel_prepare(ctx, &exact, &r), AULE_OK);
    assert_int_equal(r.source, AULE_SOURCE_BUILTIN);
    assert_string_equal(r.key, e.k.key);

    /* Unregistered: a new context no longer finds them. */
    aule_unregister_kernels(list, 2);
    aule_context_destroy(ctx);
    ctx = context();
    assert_int_equal(aule_kernel_prepare(ctx, &s, &r), AULE_ERROR_UNSUPPORTED);
    assert_int_equal(aule_kernel_prepare(ctx, &exact, &r), AULE_ERROR_UNSUPPORTED);
    aule_context_destroy(ctx);
    auegen_kernel_release(&m.k);
    auegen_kernel_release(&e.k);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(aule_register_kernels(NULL, 1), AULE_ERROR_INVALID_ARGUMENT);
    const auegen_kernel_info *none[1] = {NULL};
    assert_int_equal(aule_register_kernels(none, -1), AULE_ERROR_INVALID_ARGUMENT);
    assert_int_equal(aule_register_kernels(none, 0), AULE_OK);
    aule_unregister_kernels(NULL, 3);       /* no-ops */
    aule_unregister_kernels(none, 1);
}

/* Threads look a registered kernel up in their own contexts while the main
 * thread registers and unregisters others. */
enum { THREADS = 4, ROUNDS = 40 };
static const auegen_spec *shared_spec;

static void *lookup_loop(void *arg)
{
    (void)arg;
    int failures = 0;
    for (int i = 0; i < ROUNDS / 4; i++) {
        aule_context *ctx = context();
        aule_kernel_report r;
        failures += aule_kernel_prepare(ctx, shared_spec, &r) != AULE_OK || r.source != AULE_SOURCE_BUILTIN;
        aule_context_destroy(ctx);
    }
    return (void *)(intptr_t)failures;
}

static void test_register_while_looking_up(void **state)
{
    (void)state;
    auegen_spec s = spec_of("registry_d24", 24), other = spec_of("registry_d56", 56);
    made_kernel m, o;
    make(&m, &s, "portable", NULL);
    make(&o, &other, "portable", NULL);
    const auegen_kernel_info *list[] = {&m.info}, *churn[] = {&o.info};
    assert_int_equal(aule_register_kernels(list, 1), AULE_OK);
    shared_spec = &s;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, lookup_loop, NULL), 0);
    for (int i = 0; i < ROUNDS; i++) {
        assert_int_equal(aule_register_kernels(churn, 1), AULE_OK);
        aule_unregister_kernels(churn, 1);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        failures += (int)(intptr_t)ret;
    }
    assert_int_equal(failures, 0);
    aule_unregister_kernels(list, 1);
    auegen_kernel_release(&m.k);
    auegen_kernel_release(&o.k);
}

int main(void)
{
    test_device_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_found_by_spec_without_jit),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_register_while_looking_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
