/* SPDX-License-Identifier: MIT */
/*
 * target.c - named device profiles, for planning kernels of devices the build
 * machine can't reach. Figures come from each vendor's Vulkan driver as it
 * reports itself (vulkaninfo); the H200 figures were measured on the device
 * (docs/kernels.md lists every profile).
 */
#include "gen_internal.h"

#include <string.h>

#define F16 AUEGEN_TYPE_F16
#define BF16 AUEGEN_TYPE_BF16
#define F32 AUEGEN_TYPE_F32
#define S8 AUEGEN_TYPE_S8
#define S32 AUEGEN_TYPE_S32

static const auegen_target profiles[] = {
    {   /* The Vulkan 1.2 floor (plus 16-bit storage, which every current GPU has):
         * kernels planned for it run on any device. */
        .name = "portable", .subgroup_size = 0, .subgroup_min = 1, .subgroup_max = 128,
        .shared_memory_bytes = 16384, .max_workgroup_invocations = 128, .compute_units = 0,
        .storage16 = true, .fp16_arith = false, .int8_dot = false, .coopmat_count = 0,
    },
    {   /* Mesa's lavapipe 25 (llvmpipe), the CPU device CI runs on. */
        .name = "lavapipe", .subgroup_size = 8, .subgroup_min = 8, .subgroup_max = 8,
        .shared_memory_bytes = 32768, .max_workgroup_invocations = 1024, .compute_units = 0,
        .storage16 = true, .storage8 = true, .fp16_arith = true, .int8_dot = true, .atomic_float_add = true, .cpu = true,
        .coopmat_count = 0,
    },
    {   /* lavapipe with emulated cooperative matrices (AULE_COOPMAT_EMULATE=1): how CI
         * tests the coopmat kernels; the layout is auegen_lane_layout_emulated(8). */
        .name = "lavapipe-emulated", .subgroup_size = 8, .subgroup_min = 8, .subgroup_max = 8,
        .shared_memory_bytes = 32768, .max_workgroup_invocations = 1024, .compute_units = 0,
        .storage16 = true, .storage8 = true, .fp16_arith = true, .int8_dot = true, .atomic_float_add = true, .cpu = true,
        .coopmat_emulated = true, .coopmat_count = 3,
        .coopmat = {{16, 16, 16, F16, F32}, {16, 16, 16, S8, S32}, {16, 16, 16, BF16, F32}},
        .lane_layout_a = true,
        .lane_layout = {.lanes = 8, .cluster = 4, .row_step = 1, .col_step = 1, .elems = 32,
                        .row_off = {0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6, 8, 8, 8, 8, 10, 10, 10, 10, 12, 12, 12, 12, 14, 14, 14, 14},
                        .col_off = {0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12}},
    },
    {   /* NVIDIA Hopper (H100/H200), driver 580: 48 KiB per workgroup through Vulkan. */
        .name = "nvidia-hopper", .subgroup_size = 32, .subgroup_min = 32, .subgroup_max = 32,
        .shared_memory_bytes = 49152, .max_workgroup_invocations = 1024, .compute_units = 132,
        .storage16 = true, .storage8 = true, .fp16_arith = true, .int8_dot = true, .atomic_float_add = true, .coopmat_count = 8,
        /* The accumulator layout probed on an H200 (auegen_lane_layout_nvidia); f16 A
         * matrices had the same element map there. */
        .lane_layout_a = true,
        .lane_layout = {.lanes = 32, .cluster = 4, .row_step = 1, .col_step = 2, .elems = 8,
                        .row_off = {0, 0, 0, 0, 8, 8, 8, 8}, .col_off = {0, 1, 8, 9, 0, 1, 8, 9}},
        .coopmat = {
            {16, 16, 16, F16, F32}, {16, 8, 16, F16, F32}, {16, 8, 8, F16, F32},
            {16, 16, 16, F16, F16}, {16, 8, 16, F16, F16}, {16, 8, 8, F16, F16},
            {16, 16, 16, BF16, F32}, {16, 16, 32, S8, S32},
        },
    },
    {   /* AMD RDNA3 (RADV/AMDVLK): WMMA 16x16x16 in wave32. */
        .name = "amd-rdna3", .subgroup_size = 32, .subgroup_min = 32, .subgroup_max = 64,
        .shared_memory_bytes = 65536, .max_workgroup_invocations = 1024, .compute_units = 96,
        .storage16 = true, .fp16_arith = true, .int8_dot = true, .atomic_float_add = true, .coopmat_count = 4,
        .coopmat = {
            {16, 16, 16, F16, F32}, {16, 16, 16, F16, F16}, {16, 16, 16, BF16, F32},
            {16, 16, 16, S8, S32},
        },
    },
    {   /* AMD CDNA3 (MI300): MFMA through wave64. */
        .name = "amd-cdna3", .subgroup_size = 64, .subgroup_min = 64, .subgroup_max = 64,
        .shared_memory_bytes = 65536, .max_workgroup_invocations = 1024, .compute_units = 304,
        .storage16 = true, .fp16_arith = true, .int8_dot = true, .atomic_float_add = true, .coopmat_count = 3,
        .coopmat = {{16, 16, 16, F16, F32}, {16, 16, 16, BF16, F32}, {16, 16, 32, S8, S32}},
    },
    {   /* Intel Xe-HPG (Arc A-series, ANV): XMX through 8x8x16 in SIMD8. */
        .name = "intel-xe", .subgroup_size = 8, .subgroup_min = 8, .subgroup_max = 32,
        .shared_memory_bytes = 65536, .max_workgroup_invocations = 1024, .compute_units = 32,
        .storage16 = true, .fp16_arith = true, .int8_dot = true, .atomic_float_add = true, .coopmat_count = 2,
        .coopmat = {{8, 8, 16, F16, F32}, {8, 8, 32, S8, S32}},
    },
    {   /* Apple M-series through MoltenVK: no cooperative matrices exposed. */
        .name = "apple-m", .subgroup_size = 32, .subgroup_min = 32, .subgroup_max = 32,
        .shared_memory_bytes = 32768, .max_workgroup_invocations = 1024, .compute_units = 10,
        .storage16 = true, .fp16_arith = true, .int8_dot = false, .coopmat_count = 0,
    },
};

int auegen_target_profile_count(void) { return (int)(sizeof profiles / sizeof profiles[0]); }

const auegen_target *auegen_target_profile(int index)
{
    return index >= 0 && index < auegen_target_profile_count() ? &profiles[index] : NULL;
}

const auegen_target *auegen_target_profile_find(const char *name)
{
    for (int i = 0; name && i < auegen_target_profile_count(); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}
