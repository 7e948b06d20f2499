/* SPDX-License-Identifier: MIT */
/*
 * plan_int8.c - the plans of INT8 attention (int8 = true): the forward over
 * int8 Q and K (templates/forward_int8.comp, or forward_int8_coopmat.comp on
 * s8 x s8 -> s32 cooperative matrices) and its quantizer part
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
    INT8_COOP_MAX_SUBGROUPS = 4,
    INT8_COOP_SCRATCH = 2 * 16 * 20,   /* per subgroup: two 16x16 int32 blocks, rows of 20 */
};

static int ceil_div(int x, int m) { return (x + m - 1) / m; }
static int round_up(int x, int m) { return ceil_div(x, m) * m; }

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

/* The s8 x s8 -> s32 shape the coopmat kernel takes: 16x16 (one 16-row block
 * per subgroup, 16-key column blocks), K 16 or 32 (the larger preferred). */
static const auegen_coopmat_shape *int8_shape(const auegen_target *t)
{
    const auegen_coopmat_shape *best = NULL;
    for (int i = 0; i < t->coopmat_count; i++) {
        const auegen_coopmat_shape *c = &t->coopmat[i];
        if (c->a_type == AUEGEN_TYPE_S8 && c->c_type == AUEGEN_TYPE_S32 && c->m == 16 && c->n == 16
            && (c->k == 16 || c->k == 32) && (!best || c->k > best->k))
            best = c;
    }
    return best;
}

/* The coopmat kernel's row stride in words (Q and K tiles alike): the int8
 * words padded to whole K steps (d4p), the float slots, 4 words of padding
 * (8 where the stride would be a multiple of 128 bytes). */
static int coop_row_words(int d4p)
{
    int rs = d4p + AUEGEN_INT8_FLOAT_SLOTS + 4;
    return rs % 32 ? rs : rs + 4;
}

/* Shared memory of the coopmat kernel: Q twice (each copy holding one group's
 * words, the other's zeroed) and K as rows of rs words, V fp32 (padded by one
 * float), the score tile, three per-row statistics, each subgroup's two int32
 * scratch blocks, and the emulation's tiles where the matrices are emulated. */
static int int8_coop_shared(const auegen_target *t, int nsg, int bc, int rs, int dv)
{
    int br = 16 * nsg;
    return 4 * (2 * br * rs + bc * rs + bc * (dv + 1) + br * bc + 3 * br + nsg * INT8_COOP_SCRATCH)
        + (t->coopmat_emulated ? nsg * 2 * 2 * 256 : 0);
}

/* The coopmat forward's tiles: 16 query rows per subgroup (1 to 4), Bc a
 * multiple of 16 up to 64; the spec's tile, or the largest that fits (ties:
 * more rows). False (with why) where none fits. */
static bool plan_coopmat(const auegen_spec *s, const auegen_target *t, const auegen_coopmat_shape *mma,
                         auegen_plan *p, char *why, size_t why_size)
{
    int sg = t->subgroup_size, d4 = ceil_div(s->head_dim, 4), dv = s->head_dim_v;
    int rs = coop_row_words(round_up(d4, mma->k / 4));
    int max_out = t->cpu ? INT8_MAX_OUT_CPU : INT8_MAX_OUT;
    int nsg = 0, bc = 0;
    if (s->tile_q) {
        if (s->tile_q % 16 || s->tile_q / 16 > INT8_COOP_MAX_SUBGROUPS || s->tile_kv % 16 || s->tile_kv > 64) {
            snprintf(why, why_size, "tile %dx%d does not fit the int8 cooperative-matrix kernel (q a multiple of 16 "
                     "up to 64, kv a multiple of 16 up to 64)", s->tile_q, s->tile_kv);
            return false;
        }
        nsg = s->tile_q / 16;
        bc = s->tile_kv;
    } else {
        for (int g = INT8_COOP_MAX_SUBGROUPS; g >= 1; g /= 2)
            for (int c = 64; c >= 16; c /= 2)
                if (int8_coop_shared(t, g, c, rs, dv) <= t->shared_memory_bytes && g * sg <= t->max_workgroup_invocations
                    && ceil_div(16 * g * dv, g * sg) <= max_out && g * 16 <= 4 * c && c <= 4 * g * 16
                    && g * c > nsg * bc) {
                    nsg = g;
                    bc = c;
                }
        if (!nsg) {
            snprintf(why, why_size, "the int8 cooperative-matrix kernel for head_dim %d/%d needs %d bytes of shared "
                     "memory with a 16x16 tile and %d O registers per invocation; target '%s' has %d", s->head_dim,
                     dv, int8_coop_shared(t, 1, 16, rs, dv), ceil_div(16 * dv, sg), t->name, t->shared_memory_bytes);
            return false;
        }
    }
    int bytes = int8_coop_shared(t, nsg, bc, rs, dv);
    if (bytes > t->shared_memory_bytes || nsg * sg > t->max_workgroup_invocations
        || ceil_div(16 * nsg * dv, nsg * sg) > 2 * max_out) {
        snprintf(why, why_size, "tile %dx%d needs %d bytes of shared memory, %d invocations and %d O registers per "
                 "invocation for the int8 cooperative-matrix kernel at head_dim %d; target '%s' has %d bytes and %d "
                 "invocations", 16 * nsg, bc, bytes, nsg * sg, ceil_div(16 * nsg * dv, nsg * sg), s->head_dim, t->name,
                 t->shared_memory_bytes, t->max_workgroup_invocations);
        return false;
    }
    p->variant = AUEGEN_VARIANT_COOPMAT;
    p->emulated = t->coopmat_emulated;
    if (p->emulated)
        auegen_lane_layout_emulated(sg, &p->lane);   /* the emulation's element layout */
    p->subgroup_size = sg;
    p->subgroups = nsg;
    p->workgroup_size = nsg * sg;
    p->tile_q = 16 * nsg;
    p->tile_kv = bc;
    p->q_stride = p->k_stride = rs;
    p->v_stride = dv + 1;
    p->shared_memory_bytes = bytes;
    p->out_per_thread = ceil_div(16 * nsg * dv, nsg * sg);
    p->mma = *mma;
    return true;
}

auegen_status auegen__plan_int8(auegen_family f, const auegen_spec *s, const auegen_target *t,
                                const auegen_toolchain *tools, auegen_plan *p, char *why, size_t why_size)
{
    memset(p, 0, sizeof *p);
    if (!s->int8 || s->kind != AUEGEN_KIND_FORWARD) {
        snprintf(why, why_size, "the int8 kernels belong to kind = \"forward\" specs with int8 = true");
        return AUEGEN_ERROR_USAGE;
    }
    p->family = f;
    p->variant = AUEGEN_VARIANT_SCALAR;
    p->storage16 = s->dtype != AUEGEN_DTYPE_F32;
    if (p->storage16 && !t->storage16) {
        snprintf(why, why_size, "dtype %s needs 16-bit storage buffers, which target '%s' lacks",
                 auegen__dtype_name(s->dtype), t->name);
        return AUEGEN_ERROR_PLAN;
    }
    int d4 = ceil_div(s->head_dim, 4), dv = s->head_dim_v;

    /* Q K^T on s8 x s8 -> s32 matrices where the target has such a shape and the
     * toolchain compiles GL_KHR_cooperative_matrix: "khr" requires it, "auto"
     * falls back to the scalar kernel. Both families take the same tiles. */
    const auegen_coopmat_shape *mma = int8_shape(t);
    bool toolchain_ok = tools && tools->coopmat_khr, subgroup_ok = t->subgroup_size > 0;
    auegen_plan coop = {0};
    bool use_coop = false;
    if (s->coopmat == AUEGEN_COOPMAT_KHR) {
        if (!mma || !subgroup_ok) {
            snprintf(why, why_size, "coopmat = \"khr\" with int8 = true but target '%s' reports no 16x16x16 or "
                     "16x16x32 s8 x s8 -> s32 cooperative-matrix shape", t->name);
            return AUEGEN_ERROR_PLAN;
        }
        if (!toolchain_ok) {
            snprintf(why, why_size, "coopmat = \"khr\" but the linked glslang (%s) cannot compile "
                     "GL_KHR_cooperative_matrix (needs glslang 13 or newer)", auegen_compiler_version());
            return AUEGEN_ERROR_UNSUPPORTED;
        }
        if (!plan_coopmat(s, t, mma, &coop, why, why_size))
            return AUEGEN_ERROR_PLAN;
        use_coop = true;
    } else if (s->coopmat == AUEGEN_COOPMAT_AUTO && mma && subgroup_ok && toolchain_ok) {
        use_coop = plan_coopmat(s, t, mma, &coop, why, why_size);
        why[0] = '\0';
    }

    int br, bc;
    int wg = workgroup(t);
    if (use_coop) {
        br = coop.tile_q;
        bc = coop.tile_kv;
    } else {
        auegen_status st = pick_tiles(s, t, wg, &br, &bc, why, why_size);
        if (st != AUEGEN_OK)
            return st;
    }
    p->int8_dot = t->int8_dot;
    p->workgroup_size = wg;
    p->tile_q = br;
    p->tile_kv = bc;
    p->d_pad = 4 * d4;
    p->dv_pad = dv;
    if (f == AUEGEN_FAMILY_INT8_QUANT) {
        p->shared_memory_bytes = 12 + 4 * s->head_dim;   /* the maxima per group, the mean range, the outlier flags */
        return AUEGEN_OK;
    }
    if (use_coop) {
        coop.family = f;
        coop.storage16 = p->storage16;
        coop.d_pad = 4 * d4;
        coop.dv_pad = dv;
        *p = coop;                       /* its outlier slots are fp32 products: no OpSDot */
        return AUEGEN_OK;
    }
    p->q_stride = p->k_stride = d4 + AUEGEN_INT8_FLOAT_SLOTS + 1;  /* in words: int8 words, float slots, padding */
    p->v_stride = dv + 1;
    p->shared_memory_bytes = int8_shared(br, bc, d4, dv);
    p->out_per_thread = ceil_div(br * dv, wg);
    p->scores_per_thread = ceil_div(br * bc, wg);
    return AUEGEN_OK;
}
