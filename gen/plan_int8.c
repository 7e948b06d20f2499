/* SPDX-License-Identifier: MIT */
/*
 * plan_int8.c - the plans of INT8 attention (int8 = true): the forward over
 * int8 Q and K (templates/forward_int8.comp) and its quantizer part
 * (templates/int8_quant.comp). The quantizer's blocks are the forward's tiles
 * (one scale per tile_q packed rows of Q and per tile_kv keys of K), so both
 * plans come from the same tile choice.
 */
#include "gen_internal.h"

#include <stdio.h>
#include <string.h>

enum {
    INT8_WG = 128,              /* invocations, as the scalar forward */
    INT8_MAX_TILE = 64,
    INT8_MAX_OUT = 64,          /* O registers per invocation (GPUs) */
    INT8_MAX_OUT_CPU = 256,     /* a CPU's "registers" are cached memory */
};

static int ceil_div(int x, int m) { return (x + m - 1) / m; }

/* Shared memory of the forward: Q and K tiles as packed words (rows padded by
 * one word), V fp32 (padded by one float), the score tile, three per-row
 * statistics and each word's channel group. d4 = ceil(D / 4). */
static int int8_shared(int br, int bc, int d4, int dv)
{
    int rw = d4 + AUEGEN_INT8_FLOAT_SLOTS;
    return 4 * (br * (rw + 1) + bc * (rw + 1) + bc * (dv + 1) + br * bc + 3 * br + d4);
}

static int workgroup(const auegen_target *t)
{
    int wg = INT8_WG < t->max_workgroup_invocations ? INT8_WG : t->max_workgroup_invocations;
    if (t->cpu && t->subgroup_size > 0 && t->subgroup_size < wg)
        wg = t->subgroup_size;   /* one subgroup per workgroup on a CPU, as the scalar forward */
    return wg;
}

/* The forward's tiles: the spec's, or the largest that fits (ties: more rows). */
static auegen_status pick_tiles(const auegen_spec *s, const auegen_target *t, int wg, int *br_out, int *bc_out,
                                char *why, size_t why_size)
{
    int d4 = ceil_div(s->head_dim, 4), dv = s->head_dim_v;
    int max_out = t->cpu ? INT8_MAX_OUT_CPU : INT8_MAX_OUT;
    int best_br = 0, best_bc = 0;
    if (s->tile_q) {
        best_br = s->tile_q;
        best_bc = s->tile_kv;
        int bytes = int8_shared(best_br, best_bc, d4, dv);
        if (bytes > t->shared_memory_bytes) {
            snprintf(why, why_size, "tile %dx%d needs %d bytes of shared memory for the int8 kernel at head_dim %d; "
                     "target '%s' has %d", best_br, best_bc, bytes, s->head_dim, t->name, t->shared_memory_bytes);
            return AUEGEN_ERROR_PLAN;
        }
        if (ceil_div(best_br * dv, wg) > 2 * max_out) {
            snprintf(why, why_size, "tile.q = %d with head_dim_v %d needs %d O registers per invocation (max %d)",
                     best_br, dv, ceil_div(best_br * dv, wg), 2 * max_out);
            return AUEGEN_ERROR_PLAN;
        }
    } else {
        for (int br = INT8_MAX_TILE; br >= 1; br /= 2)
            for (int bc = INT8_MAX_TILE; bc >= 1; bc /= 2) {
                if (int8_shared(br, bc, d4, dv) > t->shared_memory_bytes || ceil_div(br * dv, wg) > max_out
                    || br > 4 * bc || bc > 4 * br)
                    continue;
                if (br * bc > best_br * best_bc || (br * bc == best_br * best_bc && br > best_br)) {
                    best_br = br;
                    best_bc = bc;
                }
            }
        if (!best_br) {
            snprintf(why, why_size, "head_dim %d/%d needs %d bytes of shared memory even with 1x1 tiles; target '%s' "
                     "has %d", s->head_dim, dv, int8_shared(1, 1, d4, dv), t->name, t->shared_memory_bytes);
            return AUEGEN_ERROR_PLAN;
        }
    }
    *br_out = best_br;
    *bc_out = best_bc;
    return AUEGEN_OK;
}

auegen_status auegen__plan_int8(auegen_family f, const auegen_spec *s, const auegen_target *t,
                                const auegen_toolchain *tools, auegen_plan *p, char *why, size_t why_size)
{
    (void)tools;
    memset(p, 0, sizeof *p);
    if (!s->int8 || s->kind != AUEGEN_KIND_FORWARD) {
        snprintf(why, why_size, "the int8 kernels belong to kind = \"forward\" specs with int8 = true");
        return AUEGEN_ERROR_USAGE;
    }
    if (s->coopmat == AUEGEN_COOPMAT_KHR) {
        snprintf(why, why_size, "int8 = true has no cooperative-matrix kernel yet (use coopmat = \"auto\" or \"none\")");
        return AUEGEN_ERROR_PLAN;
    }
    p->family = f;
    p->variant = AUEGEN_VARIANT_SCALAR;
    p->storage16 = s->dtype != AUEGEN_DTYPE_F32;
    if (p->storage16 && !t->storage16) {
        snprintf(why, why_size, "dtype %s needs 16-bit storage buffers, which target '%s' lacks",
                 auegen__dtype_name(s->dtype), t->name);
        return AUEGEN_ERROR_PLAN;
    }
    p->int8_dot = t->int8_dot;
    int wg = workgroup(t);
    int br, bc;
    auegen_status st = pick_tiles(s, t, wg, &br, &bc, why, why_size);
    if (st != AUEGEN_OK)
        return st;
    int d4 = ceil_div(s->head_dim, 4), dv = s->head_dim_v;
    p->workgroup_size = wg;
    p->tile_q = br;
    p->tile_kv = bc;
    p->d_pad = 4 * d4;
    p->dv_pad = dv;
    if (f == AUEGEN_FAMILY_INT8_QUANT) {
        p->shared_memory_bytes = 12 + 4 * s->head_dim;   /* the maxima per group, the mean range, the outlier flags */
        return AUEGEN_OK;
    }
    p->q_stride = p->k_stride = d4 + AUEGEN_INT8_FLOAT_SLOTS + 1;  /* in words: int8 words, float slots, padding */
    p->v_stride = dv + 1;
    p->shared_memory_bytes = int8_shared(br, bc, d4, dv);
    p->out_per_thread = ceil_div(br * dv, wg);
    p->scores_per_thread = ceil_div(br * bc, wg);
    return AUEGEN_OK;
}
