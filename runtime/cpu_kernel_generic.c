/* SPDX-License-Identifier: MIT */
/*
 * cpu_kernel_generic.c - the CPU attention kernel (cpu_kernel.h) for the baseline of the target
 * (SSE2 on x86-64, NEON on AArch64): 4 lanes.
 * CMakeLists.txt gives this file its instruction-set flags.
 */
#define AULE_CPU_W 4
#define AULE_CPU_RB 2
#define AULE_CPU_ISA aule__cpu_isa_generic
#define AULE_CPU_ISA_NAME "generic"
#include "aule/cpu/cpu_kernel.h"
