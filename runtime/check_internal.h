/* SPDX-License-Identifier: MIT */
/*
 * check_internal.h - what runtime/check.c and runtime/check_int8.c share: the
 * seeded random numbers and the moves of BHSD host floats to and from device
 * tensors (BHSD or BSHD strides, packed to the tensor's dtype).
 */
#ifndef AULE_CHECK_INTERNAL_H
#define AULE_CHECK_INTERNAL_H

#include "aule.h"

#include <stdbool.h>
#include <stdint.h>

uint64_t aule__check_next_u64(uint64_t *s);      /* splitmix64 */
double aule__check_uniform(uint64_t *s);         /* (0, 1) */

/* A [b][h][s][d] tensor of dtype (BSHD strides if bshd), filled from BHSD floats
 * when bhsd is not NULL. */
aule_status aule__check_upload(aule_context *ctx, aule_dtype dtype, int b, int h, int s, int d, bool bshd,
                               const float *bhsd, aule_tensor **out);

/* Reads a device tensor back into BHSD floats. */
aule_status aule__check_download(const aule_tensor *t, bool bshd, float *bhsd);

#endif
