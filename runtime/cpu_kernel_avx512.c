/* SPDX-License-Identifier: MIT */
/*
 * cpu_kernel_avx512.c - the CPU attention kernel (cpu_kernel.h) for AVX-512 (F, BW, VL,
 * DQ) with F16C: 16 lanes, 32 vector registers.
 * CMakeLists.txt gives this file its instruction-set flags.
 */
#define AULE_CPU_W 16
#define AULE_CPU_RB 4
#define AULE_CPU_ISA aule__cpu_isa_avx512
#define AULE_CPU_ISA_NAME "avx512"
#include "aule/cpu/cpu_kernel.h"
