/* SPDX-License-Identifier: MIT */
/*
 * cpu_kernel_avx2.c - the CPU attention kernel (cpu_kernel.h) for AVX2 with FMA and F16C:
 * 8 lanes, 16 vector registers.
 * CMakeLists.txt gives this file its instruction-set flags.
 */
#define AULE_CPU_W 8
#define AULE_CPU_RB 2
#define AULE_CPU_ISA aule__cpu_isa_avx2
#define AULE_CPU_ISA_NAME "avx2-fma"
#include "aule/cpu/cpu_kernel.h"
