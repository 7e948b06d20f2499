/* SPDX-License-Identifier: MIT */
/*
 * test_device.h - the device a runtime test runs on. A test of the generated
 * Vulkan kernels must run them on a Vulkan device (lavapipe in CI), never on
 * the native CPU backend that the library chooses by default where there is
 * no GPU. test_device_init(), first thing in main, sets AULE_DEVICE=vulkan
 * unless the caller set it (ctest's *_cpu tests run the same programs with
 * AULE_DEVICE=cpu), and exits 1 when the device opened is not of the backend
 * asked for.
 */
#ifndef AULE_TEST_DEVICE_H
#define AULE_TEST_DEVICE_H

#include "aule.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static inline void test_device_init(void)
{
    setenv("AULE_DEVICE", "vulkan", 0);
    const char *want = getenv("AULE_DEVICE");
    bool cpu = strcasecmp(want, "cpu") == 0, vulkan = strcasecmp(want, "vulkan") == 0;
    if (!cpu && !vulkan)
        return;                     /* a device named by index or name: whatever it is */
    aule_context *c = NULL;
    if (aule_context_create(NULL, &c) != AULE_OK)
        return;                     /* the test itself reports the missing device */
    aule_device_info in;
    aule_context_device_info(c, &in);
    aule_context_destroy(c);
    if ((in.backend == AULE_BACKEND_CPU) != cpu) {
        fprintf(stderr, "AULE_DEVICE=%s opened %s (%s backend): refusing to run\n", want, in.name,
                in.backend == AULE_BACKEND_CPU ? "native CPU" : "Vulkan");
        exit(1);
    }
    fprintf(stderr, "device: %s (%s)\n", in.name, in.backend == AULE_BACKEND_CPU ? in.isa : "Vulkan");
}

#endif
