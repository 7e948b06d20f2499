/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the kernels a lookup may take without generating: those linked
 * in from generated/ (index.c) and those a program registered itself
 * (aule_register_kernels). Readers get a NULL-terminated array that is never
 * changed or freed: a registration builds a new one, and the old ones stay
 * reachable (a few per process) so a reader in another thread is never left
 * with freed memory.
 */
#include "runtime_internal.h"

#include <stdlib.h>

typedef struct registry_list {
    struct registry_list *older;   /* retired arrays, kept alive */
    const auegen_kernel_info **kernels;
} registry_list;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static registry_list *registry_current;   /* NULL: only generated/ */

const auegen_kernel_info *const *aule__linked_kernels(void)
{
    pthread_mutex_lock(&registry_lock);
    const registry_list *l = registry_current;
    pthread_mutex_unlock(&registry_lock);
    return l ? l->kernels : aule_generated_kernels;
}

static int count_of(const auegen_kernel_info *const *k)
{
    int n = 0;
    while (k[n])
        n++;
    return n;
}

/* Publishes a new array: the registered kernels (newest first), then generated/. */
static aule_status publish(const auegen_kernel_info *const *add, int add_count, const auegen_kernel_info *const *drop,
                           int drop_count)
{
    const auegen_kernel_info *const *now = registry_current ? registry_current->kernels : aule_generated_kernels;
    int n = count_of(now);
    registry_list *l = calloc(1, sizeof *l);
    const auegen_kernel_info **k = calloc((size_t)n + (size_t)add_count + 1, sizeof *k);
    if (!l || !k) {
        free(l);
        free(k);
        return AULE_ERROR_OUT_OF_MEMORY;
    }
    int used = 0;
    for (int i = 0; i < add_count; i++)
        if (add[i])
            k[used++] = add[i];
    for (int i = 0; i < n; i++) {
        bool dropped = false;
        for (int j = 0; j < drop_count && !dropped; j++)
            dropped = drop[j] == now[i];
        if (!dropped)
            k[used++] = now[i];
    }
    l->kernels = k;
    l->older = registry_current;
    registry_current = l;
    return AULE_OK;
}

aule_status aule_register_kernels(const auegen_kernel_info *const *kernels, int count)
{
    if (count < 0 || (count > 0 && !kernels))
        return AULE_ERROR_INVALID_ARGUMENT;
    if (count == 0)
        return AULE_OK;
    pthread_mutex_lock(&registry_lock);
    aule_status st = publish(kernels, count, NULL, 0);
    pthread_mutex_unlock(&registry_lock);
    return st;
}

void aule_unregister_kernels(const auegen_kernel_info *const *kernels, int count)
{
    if (!kernels || count <= 0)
        return;
    pthread_mutex_lock(&registry_lock);
    publish(NULL, 0, kernels, count);
    pthread_mutex_unlock(&registry_lock);
}
