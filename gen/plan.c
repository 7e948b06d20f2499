/* SPDX-License-Identifier: MIT */
/*
 * plan.c - from a validated spec and a target's limits to a kernel plan: the
 * variant (scalar or cooperative matrix), tile sizes, workgroup shape and the
 * shared-memory layout. Every decision about a kernel is made here, in C, so
 * it can be unit-tested; templates only substitute the numbers.
 */
#include "gen_internal.h"

#include <stdio.h>
#include <string.h>

static int round_up(int x, int m) { return (x + m - 1) / m * m; }
static int ceil_div(int x, int m) { return (x + m - 1) / m; }

enum {
    SCALAR_WG = 128,            /* invocations of the scalar kernel */
    SCALAR_MAX_TILE = 64,
    SCALAR_MAX_OUT = 64,        /* O registers per invocation (GPUs) */
    SCALAR_MAX_OUT_CPU = 256,   /* on a CPU "registers" are cached memory */
    COOP_MAX_SUBGROUPS = 4,
};

/* Scalar kernel shared memory: Q, K (rows padded by one float against bank
 * conflicts), V, the score tile and three per-row statistics, all fp32. */
static int scalar_shared(int br, int bc, int d, int dv)
{
    return 4 * (br * (d + 1) + bc * (d + 1) + bc * (dv + 1) + br * bc + 3 * br);
}

/* Decode over an int8 KV cache (kv_int8): Q in fp32 as above, and Q again as
 * two rows of packed int8 words (with the page's K scales folded in, and its
 * rounding residual); the K tile as packed int8 words (rows of ceil(D / 4)
 * words padded by one); V fp32; the scores; five per-row values (max, sum,
 * rescale, Q's int8 scale, its max |q|); the page's K scales (D floats). */
static int kv_int8_shared(int br, int bc, int d, int dv)
{
    int d4 = ceil_div(d, 4);
    return 4 * (br * (d + 1) + 2 * br * (d4 + 1) + bc * (d4 + 1) + bc * (dv + 1) + br * bc + 5 * br + d);
}

static int tile_shared(const auegen_spec *s, int br, int bc)
{
    return s->kind == AUEGEN_KIND_DECODE && s->kv_int8 ? kv_int8_shared(br, bc, s->head_dim, s->head_dim_v)
                                                       : scalar_shared(br, bc, s->head_dim, s->head_dim_v);
}

static auegen_status plan_scalar(const auegen_spec *s, const auegen_target *t, auegen_plan *p,
                                 char *why, size_t why_size)
{
    int wg = SCALAR_WG < t->max_workgroup_invocations ? SCALAR_WG : t->max_workgroup_invocations;
    /* On a CPU device a workgroup wider than one subgroup runs its invocations as
     * coroutines that switch at every barrier: one subgroup per workgroup is
     * several times faster there (measured on lavapipe, docs/performance.md). */
    if (t->cpu && t->subgroup_size > 0 && t->subgroup_size < wg)
        wg = t->subgroup_size;
    int d = s->head_dim, dv = s->head_dim_v;
    int max_out = t->cpu ? SCALAR_MAX_OUT_CPU : SCALAR_MAX_OUT;
    /* An int8 KV cache's key tiles lie within one page, so each has one set of
     * K scales to fold into Q: tile_kv <= page_size (both powers of two). */
    bool kv8 = s->kind == AUEGEN_KIND_DECODE && s->kv_int8;
    int best_br = 0, best_bc = 0;
    if (s->tile_q) {
        best_br = s->tile_q;
        best_bc = s->tile_kv;
        if (kv8 && best_bc > s->page_size) {
            snprintf(why, why_size, "tile.kv = %d is larger than page_size %d: with kv_int8 a key tile must lie "
                     "within one page (one set of K scales)", best_bc, s->page_size);
            return AUEGEN_ERROR_PLAN;
        }
        int bytes = tile_shared(s, best_br, best_bc);
        if (bytes > t->shared_memory_bytes) {
            snprintf(why, why_size,
                     "tile %dx%d needs %d bytes of shared memory for head_dim %d; target '%s' has %d",
                     best_br, best_bc, bytes, d, t->name, t->shared_memory_bytes);
            return AUEGEN_ERROR_PLAN;
        }
        if (ceil_div(best_br * dv, wg) > max_out * 2) {
            snprintf(why, why_size, "tile.q = %d with head_dim_v %d needs %d O registers per invocation (max %d)",
                     best_br, dv, ceil_div(best_br * dv, wg), max_out * 2);
            return AUEGEN_ERROR_PLAN;
        }
    } else {
        /* The largest tile that fits; ties go to more query rows (fewer K/V reloads). */
        for (int br = SCALAR_MAX_TILE; br >= 1; br /= 2) {
            for (int bc = SCALAR_MAX_TILE; bc >= 1; bc /= 2) {
                if (tile_shared(s, br, bc) > t->shared_memory_bytes || (kv8 && bc > s->page_size))
                    continue;
                if (ceil_div(br * dv, wg) > max_out)
                    continue;
                if (br > 4 * bc || bc > 4 * br)
                    continue;           /* lopsided tiles waste one side */
                if (br * bc > best_br * best_bc || (br * bc == best_br * best_bc && br > best_br)) {
                    best_br = br;
                    best_bc = bc;
                }
            }
        }
        if (!best_br) {
            snprintf(why, why_size, "head_dim %d/%d needs %d bytes of shared memory even with 1x1 tiles; "
                     "target '%s' has %d", d, dv, tile_shared(s, 1, 1), t->name, t->shared_memory_bytes);
            return AUEGEN_ERROR_PLAN;
        }
    }
    p->variant = AUEGEN_VARIANT_SCALAR;
    p->workgroup_size = wg;
    p->subgroup_size = 0;
    p->subgroups = 0;
    p->tile_q = best_br;
    p->tile_kv = best_bc;
    p->d_pad = d;
    p->dv_pad = dv;
    p->q_stride = d + 1;
    p->k_stride = kv8 ? ceil_div(d, 4) + 1 : d + 1;   /* kv_int8: in packed words */
    p->v_stride = dv + 1;
    p->int8_dot = kv8 && t->int8_dot;
    p->shared_memory_bytes = tile_shared(s, best_br, best_bc);
    p->out_per_thread = ceil_div(best_br * dv, wg);
    p->scores_per_thread = ceil_div(best_br * best_bc, wg);
    return AUEGEN_OK;
}

/* Emulated cooperative matrices: one 16x16 A and one B tile (f16) per subgroup. */
static int emulation_shared(const auegen_target *t, int nsg) { return t->coopmat_emulated ? nsg * 2 * 2 * 256 : 0; }

/* Cooperative-matrix kernel shared memory, f16 tiles padded by 8 halves
 * (16 bytes) so that no row stride is a multiple of 128 bytes:
 *   K and V tile (also stages Q before the loop): 2*Bc rows (>= Br)
 *   S tile fp32 (Br x Bc+4), P tile f16 (Br x Bc+8),
 *   per-row max/sum/alpha, and one M x N fp32 scratch per subgroup. */
static int coop_shared(const auegen_target *t, int br, int bc, int dpad, int dvpad, int m, int n, int nsg)
{
    int kv_stride = (dpad > dvpad ? dpad : dvpad) + 8;
    int kv_rows = 2 * bc > br ? 2 * bc : br;     /* the plan's kv_rows */
    return 2 * kv_rows * kv_stride + 4 * br * (bc + 4) + 2 * br * (bc + 8) + 4 * 3 * br + 4 * nsg * m * (n + 4)
        + emulation_shared(t, nsg);
}

/* Fast variant: K and V tiles (Q staged there first), the Q tile when Q stays
 * in shared memory, and one P tile per subgroup unless P is built in registers
 * (A matrices laid out as accumulators). */
static int fast_shared(const auegen_target *t, int nsg, int rb, int bc, int dpad, int dvpad, bool q_shared)
{
    int kv_stride = (dpad > dvpad ? dpad : dvpad) + 8;
    int q_tile = q_shared ? 2 * nsg * rb * 16 * (dpad + 8) : 0;
    int p_tile = t->lane_layout_a ? 0 : 2 * nsg * rb * 16 * (bc + 8);
    return 2 * 2 * bc * kv_stride + q_tile + p_tile + emulation_shared(t, nsg);
}

/* The rows a lane holds: element i's row offset row_off[i] names a slot; the
 * distinct offsets, in the order they first appear, are the slots. */
static void plan_lane_slots(auegen_plan *p)
{
    const auegen_lane_layout *lay = &p->lane;
    p->lane_slots = 0;
    for (int i = 0; i < lay->elems && i < AUEGEN_LANE_MAX_ELEMS; i++) {
        int found = -1;
        for (int j = 0; j < p->lane_slots && found < 0; j++)
            if (p->slot_row[j] == lay->row_off[i])
                found = j;
        if (found < 0) {
            found = p->lane_slots++;
            p->slot_row[found] = lay->row_off[i];
        }
        p->lane_slot[i] = (signed char)found;
    }
}

/* The softmax-in-registers kernel: a known lane layout (auegen.h), 16x16x16.
 * Up to head dim 128, Q stays in registers and the next K/V tile is
 * prefetched into registers; above (up to 256) O alone takes half a GPU's
 * registers, so Q stays in shared memory and K/V are loaded without prefetch. */
static bool plan_fast(const auegen_spec *s, const auegen_target *t, const auegen_coopmat_shape *mma,
                      auegen_plan *p)
{
    const auegen_lane_layout *lay = &t->lane_layout;
    int lanes = lay->lanes;
    if (lanes <= 0 || lanes < t->subgroup_min || lanes > t->subgroup_max || lay->elems * lanes != 256
        || mma->m != 16 || mma->n != 16 || mma->k != 16)
        return false;
    int dpad = round_up(s->head_dim, 16), dvpad = round_up(s->head_dim_v, 16);
    if (dpad > 256 || dvpad > 256)
        return false;
    bool q_shared = dpad > 128 || dvpad > 128;
    int nsg = 0, bc = 0, rb = s->tile_rows == 32 ? 2 : 1;
    if (s->tile_q) {
        /* An explicit tile: 16 (or tile.rows_per_subgroup) rows per subgroup, 1..8
         * subgroups, kv a multiple of 16. */
        if (s->tile_q % (16 * rb) || s->tile_q / (16 * rb) > 8 || s->tile_kv % 16)
            return false;
        nsg = s->tile_q / (16 * rb);
        bc = s->tile_kv;
    } else if (!q_shared) {
        /* Each invocation prefetches the next K and V tile into registers: on a GPU
         * keep that at 4 + 4 16-byte vectors (measured on an H200, D=128: 64x32
         * tiles 151 TFLOP/s, 64x64 45 as the prefetch spills; docs/performance.md). */
        nsg = 4;
        bc = 64;
        int vectors = t->cpu ? 1 << 20 : 4 * nsg * lanes;
        while (bc > 16 && (bc * (dpad / 8) > vectors || bc * (dvpad / 8) > vectors
                           || fast_shared(t, nsg, 1, bc, dpad, dvpad, false) > t->shared_memory_bytes))
            bc /= 2;
    } else {
        /* The largest tile (rows x keys) that fits; ties go to more rows. */
        for (int g = 4; g >= 1; g /= 2)
            for (int c = 64; c >= 16; c /= 2)
                if (fast_shared(t, g, 1, c, dpad, dvpad, true) <= t->shared_memory_bytes && g * c > nsg * bc) {
                    nsg = g;
                    bc = c;
                }
    }
    if (bc < 16 || nsg < 1 || fast_shared(t, nsg, rb, bc, dpad, dvpad, q_shared) > t->shared_memory_bytes
        || nsg * lanes > t->max_workgroup_invocations)
        return false;
    int kv_stride = (dpad > dvpad ? dpad : dvpad) + 8;
    p->variant = AUEGEN_VARIANT_COOPMAT;
    p->lane = *lay;
    p->register_softmax = true;
    p->p_in_registers = t->lane_layout_a;
    p->q_in_shared = q_shared;
    p->row_blocks = rb;
    p->emulated = t->coopmat_emulated;
    p->subgroup_size = lanes;
    p->subgroups = nsg;
    p->workgroup_size = nsg * lanes;
    p->tile_q = nsg * 16 * rb;
    p->tile_kv = bc;
    p->d_pad = dpad;
    p->dv_pad = dvpad;
    p->q_stride = q_shared ? dpad + 8 : kv_stride;
    p->k_stride = p->v_stride = kv_stride;
    p->shared_memory_bytes = fast_shared(t, nsg, rb, bc, dpad, dvpad, q_shared);
    p->out_per_thread = lay->elems * rb * dvpad / 16;
    p->scores_per_thread = lay->elems * rb * bc / 16;
    p->mma = *mma;
    plan_lane_slots(p);
    return true;
}

static const auegen_coopmat_shape *pick_shape(const auegen_target *t, auegen_scalar_type a_type)
{
    /* a_type (f16 or bf16) inputs with an fp32 accumulator; prefer the largest M*N*K. */
    const auegen_coopmat_shape *best = NULL;
    for (int i = 0; i < t->coopmat_count; i++) {
        const auegen_coopmat_shape *c = &t->coopmat[i];
        if (c->a_type != a_type || c->c_type != AUEGEN_TYPE_F32)
            continue;
        if (!best || c->m * c->n * c->k > best->m * best->n * best->k)
            best = c;
    }
    return best;
}

static auegen_status plan_coopmat(const auegen_spec *s, const auegen_target *t, const auegen_coopmat_shape *mma,
                                  auegen_plan *p, char *why, size_t why_size)
{
    if (plan_fast(s, t, mma, p))
        return AUEGEN_OK;
    int sg = t->subgroup_size;
    int dpad = round_up(s->head_dim, mma->k);
    int dvpad = round_up(s->head_dim_v, mma->n);
    int kstep = mma->k > mma->n ? mma->k : mma->n;   /* Bc is both an N extent and a K extent */
    int best_nsg = 0, best_bc = 0;
    if (s->tile_q) {
        if (s->tile_q % mma->m || s->tile_q / mma->m > COOP_MAX_SUBGROUPS || s->tile_kv % kstep) {
            snprintf(why, why_size, "tile %dx%d does not fit the %dx%dx%d matrix shape "
                     "(q a multiple of %d up to %d, kv a multiple of %d)", s->tile_q, s->tile_kv,
                     mma->m, mma->n, mma->k, mma->m, mma->m * COOP_MAX_SUBGROUPS, kstep);
            return AUEGEN_ERROR_PLAN;
        }
        best_nsg = s->tile_q / mma->m;
        best_bc = s->tile_kv;
    } else {
        for (int nsg = COOP_MAX_SUBGROUPS; nsg >= 1 && !best_nsg; nsg /= 2) {
            for (int bc = 64; bc >= kstep; bc /= 2) {
                if (coop_shared(t, nsg * mma->m, bc, dpad, dvpad, mma->m, mma->n, nsg) <= t->shared_memory_bytes
                    && nsg * sg <= t->max_workgroup_invocations) {
                    best_nsg = nsg;
                    best_bc = bc;
                    break;
                }
            }
        }
    }
    int br = best_nsg * mma->m;
    int bytes = best_nsg ? coop_shared(t, br, best_bc, dpad, dvpad, mma->m, mma->n, best_nsg) : 0;
    if (!best_nsg || bytes > t->shared_memory_bytes) {
        snprintf(why, why_size, "the cooperative-matrix kernel for head_dim %d/%d needs more than the %d bytes "
                 "of shared memory target '%s' has", s->head_dim, s->head_dim_v, t->shared_memory_bytes, t->name);
        return AUEGEN_ERROR_PLAN;
    }
    p->variant = AUEGEN_VARIANT_COOPMAT;
    p->emulated = t->coopmat_emulated;
    if (p->emulated)
        auegen_lane_layout_emulated(sg, &p->lane);   /* the emulation's element layout */
    p->subgroup_size = sg;
    p->subgroups = best_nsg;
    p->workgroup_size = best_nsg * sg;
    p->tile_q = br;
    p->tile_kv = best_bc;
    p->d_pad = dpad;
    p->dv_pad = dvpad;
    int kv_stride = (dpad > dvpad ? dpad : dvpad) + 8;
    p->q_stride = p->k_stride = p->v_stride = kv_stride;
    p->shared_memory_bytes = bytes;
    p->kv_rows = 2 * best_bc > br ? 2 * best_bc : br;
    p->out_per_thread = ceil_div(mma->m * mma->n, sg);
    p->scores_per_thread = ceil_div(br * best_bc, p->workgroup_size);
    p->mma = *mma;
    return AUEGEN_OK;
}

static auegen_status plan_main(const auegen_spec *spec, const auegen_target *t, const auegen_toolchain *tools,
                               auegen_plan *out, char *why, size_t why_size)
{
    char dummy[8];
    if (!why || why_size == 0) {
        why = dummy;
        why_size = sizeof dummy;
    }
    why[0] = '\0';
    if (!spec || !t || !out) {
        snprintf(why, why_size, "spec, target and plan must not be NULL");
        return AUEGEN_ERROR_USAGE;
    }
    memset(out, 0, sizeof *out);
    if (spec->kind == AUEGEN_KIND_BACKWARD) {
        snprintf(why, why_size, "kind \"%s\" has no kernel template yet", auegen__kind_name(spec->kind));
        return AUEGEN_ERROR_PLAN;
    }
    bool sixteen = spec->dtype != AUEGEN_DTYPE_F32;
    if (sixteen && !t->storage16) {
        snprintf(why, why_size, "dtype %s needs 16-bit storage buffers, which target '%s' lacks",
                 auegen__dtype_name(spec->dtype), t->name);
        return AUEGEN_ERROR_PLAN;
    }
    out->storage16 = sixteen;

    /* Decode reads each K/V element once: the scalar kernel in this version. */
    if (spec->kind == AUEGEN_KIND_DECODE) {
        if (spec->coopmat == AUEGEN_COOPMAT_KHR) {
            snprintf(why, why_size, "decode kernels have no cooperative-matrix variant yet (use coopmat = \"auto\")");
            return AUEGEN_ERROR_PLAN;
        }
        if (spec->kv_int8 && !t->storage8) {
            snprintf(why, why_size, "kv_int8 needs 8-bit storage buffers, which target '%s' lacks", t->name);
            return AUEGEN_ERROR_PLAN;
        }
        return plan_scalar(spec, t, out, why, why_size);
    }

    /* Cooperative matrices take the storage type's matrices: f16, or bf16 where
     * the target reports a bf16 shape (the kernel is written with an f16
     * carrier and retyped, spirv_bf16.c). fp32 storage would need a rounding
     * of its inputs, so it stays on the scalar path. */
    bool dtype_ok = spec->dtype == AUEGEN_DTYPE_F16 || spec->dtype == AUEGEN_DTYPE_BF16;
    auegen_scalar_type mtype = spec->dtype == AUEGEN_DTYPE_BF16 ? AUEGEN_TYPE_BF16 : AUEGEN_TYPE_F16;
    const auegen_coopmat_shape *mma = dtype_ok ? pick_shape(t, mtype) : NULL;
    bool toolchain_ok = tools && tools->coopmat_khr;
    bool subgroup_ok = t->subgroup_size > 0;
    if (spec->coopmat == AUEGEN_COOPMAT_KHR) {
        if (!dtype_ok) {
            snprintf(why, why_size, "coopmat = \"khr\" is generated for dtypes f16 and bf16 only in this version "
                     "(got %s); use coopmat = \"auto\" or \"none\"", auegen__dtype_name(spec->dtype));
            return AUEGEN_ERROR_PLAN;
        }
        if (!mma || !subgroup_ok) {
            snprintf(why, why_size, "coopmat = \"khr\" but target '%s' reports no %s x %s -> f32 "
                     "cooperative-matrix shape", t->name, auegen__dtype_name(spec->dtype), auegen__dtype_name(spec->dtype));
            return AUEGEN_ERROR_PLAN;
        }
        if (!toolchain_ok) {
            snprintf(why, why_size, "coopmat = \"khr\" but the linked glslang (%s) cannot compile "
                     "GL_KHR_cooperative_matrix (needs glslang 13 or newer)", auegen_compiler_version());
            return AUEGEN_ERROR_UNSUPPORTED;
        }
        return plan_coopmat(spec, t, mma, out, why, why_size);
    }
    if (spec->coopmat == AUEGEN_COOPMAT_AUTO && mma && subgroup_ok && toolchain_ok && dtype_ok) {
        auegen_status st = plan_coopmat(spec, t, mma, out, why, why_size);
        if (st == AUEGEN_OK)
            return st;
        memset(out, 0, sizeof *out);      /* auto: fall back to the scalar path */
        out->storage16 = sixteen;
        why[0] = '\0';
    }
    return plan_scalar(spec, t, out, why, why_size);
}

auegen_status auegen_plan_make(const auegen_spec *spec, const auegen_target *t, const auegen_toolchain *tools,
                               auegen_plan *out, char *why, size_t why_size)
{
    auegen_status st = plan_main(spec, t, tools, out, why, why_size);
    if (st == AUEGEN_OK)
        out->family = spec->kind == AUEGEN_KIND_DECODE ? AUEGEN_FAMILY_DECODE : AUEGEN_FAMILY_FORWARD;
    return st;
}

/* The backward kernels' shared memory, fp32: Q and dO rows (Br), K and V rows
 * (Bc), rows padded by one float; dS (Br x Bc, and P too for dK/dV); LSE and D. */
static int backward_shared(auegen_family f, bool sinks, int br, int bc, int d, int dv)
{
    int floats = br * (d + 1) + br * (dv + 1) + bc * (d + 1) + bc * (dv + 1) + br * bc + 2 * br;
    if (f == AUEGEN_FAMILY_BWD_DKDV)
        floats += br * bc;               /* P */
    if (f == AUEGEN_FAMILY_BWD_DQ && sinks)
        floats += br * bc + br;          /* P * dP and its row sums, for the sinks' gradient */
    return 4 * floats;
}

/* The cooperative-matrix backward kernels' shared memory: f16 tiles with rows
 * padded by 8 halves: Q and dO rows, K and V rows (the tile a workgroup owns,
 * `own` rows: keys in bwd_dkdv, query rows in bwd_dq; the one it walks,
 * `inner`); LSE and D (and DX with sinks in bwd_dq) per query row; per
 * subgroup two 16x16 fp32 and two f16 scratch blocks (row strides 20 and 24). */
static int backward_coop_shared(auegen_family f, const auegen_target *t, bool sinks, int own, int inner, int dpad,
                                int dvpad, int nsg)
{
    int q_rows = f == AUEGEN_FAMILY_BWD_DKDV ? inner : own;
    int kv_rows = f == AUEGEN_FAMILY_BWD_DKDV ? own : inner;
    int row_bytes = 2 * (dpad + 8) + 2 * (dvpad + 8);
    int bytes = (q_rows + kv_rows) * row_bytes + 8 * q_rows + nsg * (2 * 16 * 20 * 4 + 2 * 16 * 24 * 2)
        + emulation_shared(t, nsg);
    if (f == AUEGEN_FAMILY_BWD_DQ && sinks)
        bytes += 4 * q_rows;
    return bytes;
}

/* bwd_dkdv and bwd_dq on 16x16x16 f16 or bf16 matrices: that storage, a target
 * with that shape (bf16: retyped, spirv_bf16.c), a toolchain that compiles it. NSG subgroups own 16 rows each of the
 * workgroup's tile; the largest tile (own x inner) that fits, ties to more
 * subgroups. */
static bool plan_backward_coopmat(auegen_family f, const auegen_spec *s, const auegen_target *t,
                                  const auegen_toolchain *tools, auegen_plan *p)
{
    if (s->coopmat == AUEGEN_COOPMAT_NONE || (s->dtype != AUEGEN_DTYPE_F16 && s->dtype != AUEGEN_DTYPE_BF16)
        || !tools || !tools->coopmat_khr || t->subgroup_size <= 0)
        return false;
    auegen_scalar_type mtype = s->dtype == AUEGEN_DTYPE_BF16 ? AUEGEN_TYPE_BF16 : AUEGEN_TYPE_F16;
    const auegen_coopmat_shape *mma = NULL;
    for (int i = 0; i < t->coopmat_count && !mma; i++) {
        const auegen_coopmat_shape *c = &t->coopmat[i];
        if (c->m == 16 && c->n == 16 && c->k == 16 && c->a_type == mtype && c->c_type == AUEGEN_TYPE_F32)
            mma = c;
    }
    if (!mma)
        return false;
    int sg = t->subgroup_size, dpad = round_up(s->head_dim, 16), dvpad = round_up(s->head_dim_v, 16);
    int nsg = 0, inner = 0;
    for (int g = COOP_MAX_SUBGROUPS; g >= 1; g /= 2)
        for (int c = 64; c >= 16; c /= 2)
            if (g * sg <= t->max_workgroup_invocations && g * c > nsg * inner
                && backward_coop_shared(f, t, s->sinks, 16 * g, c, dpad, dvpad, g) <= t->shared_memory_bytes) {
                nsg = g;
                inner = c;
            }
    if (!nsg)
        return false;
    p->variant = AUEGEN_VARIANT_COOPMAT;
    p->emulated = t->coopmat_emulated;
    if (p->emulated)
        auegen_lane_layout_emulated(sg, &p->lane);   /* the emulation's element layout */
    p->subgroup_size = sg;
    p->subgroups = nsg;
    p->workgroup_size = nsg * sg;
    p->tile_q = f == AUEGEN_FAMILY_BWD_DKDV ? inner : 16 * nsg;
    p->tile_kv = f == AUEGEN_FAMILY_BWD_DKDV ? 16 * nsg : inner;
    p->d_pad = dpad;
    p->dv_pad = dvpad;
    p->q_stride = p->k_stride = dpad + 8;
    p->v_stride = dvpad + 8;
    p->shared_memory_bytes = backward_coop_shared(f, t, s->sinks, 16 * nsg, inner, dpad, dvpad, nsg);
    p->mma = *mma;
    return true;
}

auegen_status auegen__plan_backward(auegen_family f, const auegen_spec *s, const auegen_target *t,
                                    const auegen_toolchain *tools, auegen_plan *p, char *why, size_t why_size)
{
    memset(p, 0, sizeof *p);
    p->family = f;
    p->variant = AUEGEN_VARIANT_SCALAR;
    p->storage16 = s->dtype != AUEGEN_DTYPE_F32;
    if (p->storage16 && !t->storage16) {
        snprintf(why, why_size, "dtype %s needs 16-bit storage buffers, which target '%s' lacks", auegen__dtype_name(s->dtype),
                 t->name);
        return AUEGEN_ERROR_PLAN;
    }
    int wg = SCALAR_WG < t->max_workgroup_invocations ? SCALAR_WG : t->max_workgroup_invocations;
    if (t->cpu && t->subgroup_size > 0 && t->subgroup_size < wg)
        wg = t->subgroup_size;           /* as the forward: one subgroup per workgroup on a CPU */
    p->workgroup_size = wg;
    /* atomic_dq: where the target adds floats atomically, bwd_dkdv adds dQ into an
     * fp32 accumulator that bwd_dot zeroes and bwd_dq converts (elementwise). */
    bool atomic = s->atomic_dq && t->atomic_float_add;
    p->atomic_dq = atomic;
    if (f == AUEGEN_FAMILY_BWD_DOT || (f == AUEGEN_FAMILY_BWD_DQ && atomic))
        return AUEGEN_OK;                /* one invocation per row (per element), nothing shared */
    if (f == AUEGEN_FAMILY_BWD_DSINK) {  /* one workgroup per head: a power of two for its tree sum */
        int n = 64;
        while (n > t->max_workgroup_invocations && n > 1)
            n /= 2;
        p->workgroup_size = n;
        p->shared_memory_bytes = 4 * n;
        return AUEGEN_OK;
    }
    if (plan_backward_coopmat(f, s, t, tools, p)) {
        p->family = f;
        p->storage16 = true;
        p->atomic_dq = atomic;
        return AUEGEN_OK;
    }
    memset(p, 0, sizeof *p);
    p->family = f;
    p->variant = AUEGEN_VARIANT_SCALAR;
    p->storage16 = s->dtype != AUEGEN_DTYPE_F32;
    p->workgroup_size = wg;
    p->atomic_dq = atomic;
    if (s->coopmat == AUEGEN_COOPMAT_KHR && (s->dtype == AUEGEN_DTYPE_F16 || s->dtype == AUEGEN_DTYPE_BF16)) {
        const char *dt = auegen__dtype_name(s->dtype);
        snprintf(why, why_size, "coopmat = \"khr\" but the cooperative-matrix backward kernels for head_dim %d/%d "
                 "do not fit target '%s' (a 16x16x16 %s x %s -> f32 shape and %d bytes of shared memory needed)",
                 s->head_dim, s->head_dim_v, t->name, dt, dt,
                 backward_coop_shared(f, t, s->sinks, 16, 16, round_up(s->head_dim, 16), round_up(s->head_dim_v, 16), 1));
        return AUEGEN_ERROR_PLAN;
    }
    int d = s->head_dim, dv = s->head_dim_v;
    int max_out = t->cpu ? SCALAR_MAX_OUT_CPU : SCALAR_MAX_OUT;
    for (int tile = SCALAR_MAX_TILE; tile >= 1; tile /= 2) {
        int opt = ceil_div(tile * d, wg), spt = f == AUEGEN_FAMILY_BWD_DKDV ? ceil_div(tile * dv, wg) : 0;
        if (backward_shared(f, s->sinks, tile, tile, d, dv) > t->shared_memory_bytes || opt > max_out || spt > max_out)
            continue;
        p->tile_q = p->tile_kv = tile;
        p->d_pad = d;
        p->dv_pad = dv;
        p->q_stride = p->k_stride = d + 1;
        p->v_stride = dv + 1;
        p->shared_memory_bytes = backward_shared(f, s->sinks, tile, tile, d, dv);
        p->out_per_thread = opt;         /* dK (bwd_dkdv) or dQ (bwd_dq) accumulators */
        p->scores_per_thread = spt;      /* bwd_dkdv: the dV accumulators */
        return AUEGEN_OK;
    }
    snprintf(why, why_size, "the backward kernels for head_dim %d/%d need %d bytes of shared memory even with 1x1 "
             "tiles; target '%s' has %d", d, dv, backward_shared(f, s->sinks, 1, 1, d, dv), t->name, t->shared_memory_bytes);
    return AUEGEN_ERROR_PLAN;
}
