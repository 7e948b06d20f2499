/* SPDX-License-Identifier: MIT */
/*
 * auegen_abi.h - the interface between libaule and each kernel family, declared
 * once: every family's push constants, buffer bindings and flag bits.
 *
 * Each list below is an X-macro. The C structs and enums in this header, the
 * field tables the generator and the tests read (auegen_family_abi), and the
 * GLSL block that every template includes ({{ABI}}) all expand from it, so C
 * and GLSL cannot disagree: tests/test_generated.c reads each generated SPIR-V
 * module's member offsets and bindings back and compares them with these
 * tables. Strides are in elements; the last dimension of a tensor is
 * contiguous. A family's push block must fit the 128 bytes Vulkan guarantees.
 *
 * Adding a field: one line in the family's list, then use it in the template
 * (p.name) and fill it in the family's launcher in runtime/.
 */
#ifndef AUEGEN_ABI_H
#define AUEGEN_ABI_H

#include <stdint.h>

#include "aule_export.h"

/* The push-constant word types: C type, GLSL type. */
#define AUEGEN_ABI_TYPE_u32 uint32_t
#define AUEGEN_ABI_TYPE_f32 float

/* --- forward: attention over Q [B][H][Sq][D] and K/V [B][Hkv][Sk][D|Dv] -------- */
#define AUEGEN_FORWARD_PUSH(X) \
    X(u32, batch,        "B (varlen: the number of sequences)") \
    X(u32, heads,        "H, query heads") \
    X(u32, kv_heads,     "Hkv = H / gqa") \
    X(u32, seq_q,        "Sq (varlen: the longest query sequence)") \
    X(u32, seq_k,        "Sk (varlen: the longest key sequence; decode: the cache's capacity)") \
    X(u32, q_stride_b,   "Q strides: batch") \
    X(u32, q_stride_h,   "Q strides: head") \
    X(u32, q_stride_s,   "Q strides: row") \
    X(u32, k_stride_b,   "K strides: batch (paged decode: unused)") \
    X(u32, k_stride_h,   "K strides: head") \
    X(u32, k_stride_s,   "K strides: row (paged decode: cache slot)") \
    X(u32, v_stride_b,   "V strides: batch") \
    X(u32, v_stride_h,   "V strides: head") \
    X(u32, v_stride_s,   "V strides: row") \
    X(u32, o_stride_b,   "O strides: batch") \
    X(u32, o_stride_h,   "O strides: head") \
    X(u32, o_stride_s,   "O strides: row") \
    X(u32, lse_stride_b, "LSE strides: batch (LSE is fp32 [B][H][Sq])") \
    X(u32, lse_stride_h, "LSE strides: head") \
    X(f32, scale,        "softmax scale, usually 1/sqrt(D)") \
    X(u32, flags,        "AUEGEN_FORWARD_* bits")

#define AUEGEN_FORWARD_BINDINGS(X) \
    X(Q,            "Q, storage dtype") \
    X(K,            "K (decode: the K cache, storage dtype or int8)") \
    X(V,            "V (decode: the V cache)") \
    X(O,            "O, storage dtype") \
    X(LSE,          "LSE, fp32 [B][H][Sq] (split decode: the fp32 workspace of partial O and LSE)") \
    X(CU_SEQLENS_Q, "varlen: int32 [B + 1] query row offsets") \
    X(CU_SEQLENS_K, "varlen: int32 [B + 1] key row offsets") \
    X(SINKS,        "attention sinks: fp32 [H], one logit per query head (spec sinks = true)")

#define AUEGEN_FORWARD_FLAGS(X) \
    X(WRITE_LSE, 1u, "write the LSE") \
    X(VARLEN,    2u, "sequence bounds from cu_seqlens_q / cu_seqlens_k") \
    X(ALIGNED16, 4u, "K/V strides are multiples of 16 bytes: vector loads")

/* --- decode: 1..16 query tokens against a paged or contiguous KV cache ---------
 * The forward fields (the decode kernel is the scalar forward template's
 * decode mode) and the split-K plan. */
#define AUEGEN_DECODE_PUSH(X) \
    AUEGEN_FORWARD_PUSH(X) \
    X(u32, bt_stride,    "paged: elements between block-table rows") \
    X(u32, splits,       "KV splits; 1: O is written directly") \
    X(u32, split_len,    "keys per split, a multiple of the plan's tile_kv") \
    X(u32, row_tiles,    "query-row tiles per (b, Hkv): grid x = row_tiles * splits") \
    X(u32, ws_lse,       "element offset of the partial LSEs in the workspace")

#define AUEGEN_DECODE_BINDINGS(X) \
    X(Q,            "Q [B][H][Sq][D]") \
    X(K,            "the K cache: paged [pages][page][Hkv][D] or contiguous [B][Hkv][S][D]") \
    X(V,            "the V cache, like K with Dv") \
    X(O,            "O [B][H][Sq][Dv]") \
    X(LSE,          "LSE fp32 [B][H][Sq]; split: the workspace (partial O, then partial LSEs at ws_lse)") \
    X(SEQ_LENS,     "int32 [B]: keys each sequence has") \
    X(BLOCK_TABLE,  "paged: int32 [B][max_pages]") \
    X(K_SCALE,      "int8 cache: fp32 [pages][Hkv][D]") \
    X(V_SCALE,      "int8 cache: fp32 [pages][Hkv][Dv]") \
    X(SINKS,        "attention sinks: fp32 [H]")

#define AUEGEN_DECODE_FLAGS(X) AUEGEN_FORWARD_FLAGS(X)

/* --- decode reduce: merges split-K partials by log-sum-exp -------------------- */
#define AUEGEN_REDUCE_PUSH(X) \
    X(u32, batch,        "B") \
    X(u32, heads,        "H") \
    X(u32, seq_q,        "Sq") \
    X(u32, o_stride_b,   "O strides: batch") \
    X(u32, o_stride_h,   "O strides: head") \
    X(u32, o_stride_s,   "O strides: row") \
    X(u32, lse_stride_b, "LSE strides: batch") \
    X(u32, lse_stride_h, "LSE strides: head") \
    X(u32, flags,        "AUEGEN_FORWARD_WRITE_LSE") \
    X(u32, splits,       "KV splits") \
    X(u32, ws_lse,       "element offset of the partial LSEs in the workspace")

#define AUEGEN_REDUCE_BINDINGS(X) \
    X(LSE,          "LSE fp32 [B][H][Sq], written when flags ask") \
    X(O,            "O [B][H][Sq][Dv], storage dtype") \
    X(WORKSPACE,    "fp32: partial O [rows][splits][Dv], then partial LSEs at ws_lse") \
    X(SINKS,        "attention sinks: fp32 [H] (joins the merge's denominator)")

#define AUEGEN_REDUCE_FLAGS(X) X(WRITE_LSE, 1u, "write the LSE")

/* --- decode append: writes new tokens' K and V into the cache ------------------ */
#define AUEGEN_APPEND_PUSH(X) \
    X(u32, batch,         "B") \
    X(u32, kv_heads,      "Hkv") \
    X(u32, tokens,        "n, new tokens per sequence") \
    X(u32, knew_stride_b, "new K strides: batch") \
    X(u32, knew_stride_h, "new K strides: head") \
    X(u32, knew_stride_s, "new K strides: token") \
    X(u32, vnew_stride_b, "new V strides: batch") \
    X(u32, vnew_stride_h, "new V strides: head") \
    X(u32, vnew_stride_s, "new V strides: token") \
    X(u32, k_stride_b,    "K cache strides: batch (paged: unused)") \
    X(u32, k_stride_h,    "K cache strides: head") \
    X(u32, k_stride_s,    "K cache strides: row (paged: slot)") \
    X(u32, v_stride_b,    "V cache strides: batch") \
    X(u32, v_stride_h,    "V cache strides: head") \
    X(u32, v_stride_s,    "V cache strides: row") \
    X(u32, bt_stride,     "paged: elements between block-table rows")

#define AUEGEN_APPEND_BINDINGS(X) \
    X(K_NEW,        "new K [B][Hkv][n][D], storage dtype") \
    X(V_NEW,        "new V [B][Hkv][n][Dv]") \
    X(K,            "the K cache (storage dtype, or int8)") \
    X(V,            "the V cache") \
    X(POSITIONS,    "int32 [B]: where each sequence's first new token goes") \
    X(BLOCK_TABLE,  "paged: int32 [B][max_pages]") \
    X(K_SCALE,      "int8 cache: fp32 [pages][Hkv][D], grown as tokens arrive") \
    X(V_SCALE,      "int8 cache: fp32 [pages][Hkv][Dv]")

#define AUEGEN_APPEND_FLAGS(X)

/* --- backward (a forward spec with backward = true): three parts -------------
 * bwd_dot: D = rowsum(dO * O), fp32 [B][H][Sq] (in the runtime's workspace). */
#define AUEGEN_BWD_DOT_PUSH(X) \
    X(u32, batch,        "B (varlen: 1)") \
    X(u32, heads,        "H") \
    X(u32, seq_q,        "Sq (varlen: the packed total)") \
    X(u32, o_stride_b,   "O strides: batch") \
    X(u32, o_stride_h,   "O strides: head") \
    X(u32, o_stride_s,   "O strides: row") \
    X(u32, do_stride_b,  "dO strides: batch") \
    X(u32, do_stride_h,  "dO strides: head") \
    X(u32, do_stride_s,  "dO strides: row") \
    X(u32, d_stride_b,   "D strides: batch (D is fp32 [B][H][Sq])") \
    X(u32, d_stride_h,   "D strides: head") \
    X(u32, acc_offset,   "atomic dQ: where the fp32 dQ accumulator starts in the workspace (D's rows x D)")

#define AUEGEN_BWD_DOT_BINDINGS(X) \
    X(O,            "O [B][H][Sq][Dv], storage dtype") \
    X(DO,           "dO, like O") \
    X(D,            "D fp32 [B][H][Sq], written") \
    X(DQ_ACC,       "atomic dQ: the fp32 accumulator, zeroed here")

#define AUEGEN_BWD_DOT_FLAGS(X)

/* The fields both gradient kernels read: shapes, Q/K/V/dO strides, LSE and D. */
#define AUEGEN_BWD_COMMON_PUSH(X) \
    X(u32, batch,        "B (varlen: number of sequences)") \
    X(u32, heads,        "H") \
    X(u32, kv_heads,     "Hkv") \
    X(u32, seq_q,        "Sq (varlen: the longest)") \
    X(u32, seq_k,        "Sk (varlen: the longest)") \
    X(u32, q_stride_b,   "Q strides: batch") \
    X(u32, q_stride_h,   "Q strides: head") \
    X(u32, q_stride_s,   "Q strides: row") \
    X(u32, k_stride_b,   "K strides: batch") \
    X(u32, k_stride_h,   "K strides: head") \
    X(u32, k_stride_s,   "K strides: row") \
    X(u32, v_stride_b,   "V strides: batch") \
    X(u32, v_stride_h,   "V strides: head") \
    X(u32, v_stride_s,   "V strides: row") \
    X(u32, do_stride_b,  "dO strides: batch") \
    X(u32, do_stride_h,  "dO strides: head") \
    X(u32, do_stride_s,  "dO strides: row") \
    X(u32, lse_stride_b, "LSE strides: batch (the forward's fp32 [B][H][Sq])") \
    X(u32, lse_stride_h, "LSE strides: head") \
    X(u32, d_stride_b,   "D strides: batch") \
    X(u32, d_stride_h,   "D strides: head") \
    X(f32, scale,        "softmax scale, as in the forward") \
    X(u32, flags,        "AUEGEN_FORWARD_VARLEN")

/* bwd_dkdv: dK and dV per K/V tile, summed over the query rows of every query
 * head that shares the KV head (deterministic, no atomics); in the atomic-dQ
 * variant it also adds dS K into the fp32 dQ accumulator with float atomics. */
#define AUEGEN_BWD_DKDV_PUSH(X) \
    AUEGEN_BWD_COMMON_PUSH(X) \
    X(u32, dk_stride_b,  "dK strides: batch") \
    X(u32, dk_stride_h,  "dK strides: head") \
    X(u32, dk_stride_s,  "dK strides: row") \
    X(u32, dv_stride_b,  "dV strides: batch") \
    X(u32, dv_stride_h,  "dV strides: head") \
    X(u32, dv_stride_s,  "dV strides: row") \
    X(u32, acc_offset,   "atomic dQ: the accumulator's start in the workspace")

#define AUEGEN_BWD_GRAD_BINDINGS(X) \
    X(Q,            "Q [B][H][Sq][D]") \
    X(K,            "K [B][Hkv][Sk][D]") \
    X(V,            "V [B][Hkv][Sk][Dv]") \
    X(DO,           "dO [B][H][Sq][Dv]") \
    X(LSE,          "the forward's LSE, fp32 [B][H][Sq]") \
    X(D,            "D = rowsum(dO * O), fp32 [B][H][Sq] (bwd_dot)") \
    X(CU_SEQLENS_Q, "varlen: int32 [B + 1]") \
    X(CU_SEQLENS_K, "varlen: int32 [B + 1]")

#define AUEGEN_BWD_DKDV_BINDINGS(X) \
    AUEGEN_BWD_GRAD_BINDINGS(X) \
    X(DK,           "dK [B][Hkv][Sk][D], written") \
    X(DV,           "dV [B][Hkv][Sk][Dv], written") \
    X(DQ_ACC,       "atomic dQ: the fp32 accumulator (D's rows x D), added to")

#define AUEGEN_BWD_DKDV_FLAGS(X) X(VARLEN, 2u, "sequence bounds from cu_seqlens_q / cu_seqlens_k")

/* bwd_dq: dQ per query tile over the K/V tiles it sees; in the atomic-dQ
 * variant, dQ = scale * the accumulator, one invocation per element, over
 * bwd_dot's rows (batch, heads, seq_q and the strides as bwd_dot has them). */
#define AUEGEN_BWD_DQ_PUSH(X) \
    AUEGEN_BWD_COMMON_PUSH(X) \
    X(u32, dq_stride_b,  "dQ strides: batch") \
    X(u32, dq_stride_h,  "dQ strides: head") \
    X(u32, dq_stride_s,  "dQ strides: row") \
    X(u32, dx_offset,    "sinks: where sum_j P dP starts in the workspace (D's layout)") \
    X(u32, acc_offset,   "atomic dQ: the accumulator's start in the workspace")

#define AUEGEN_BWD_DQ_BINDINGS(X) \
    AUEGEN_BWD_GRAD_BINDINGS(X) \
    X(DQ,           "dQ [B][H][Sq][D], written") \
    X(DX,           "sinks: sum_j P dP per row in fp32 (D without O's rounding), written at dx_offset") \
    X(DQ_ACC,       "atomic dQ: the fp32 accumulator, read")

#define AUEGEN_BWD_DQ_FLAGS(X) X(VARLEN, 2u, "sequence bounds from cu_seqlens_q / cu_seqlens_k")

/* bwd_dsink (specs with sinks): d(sink_h) = -sum over h's rows of exp(sink_h - LSE) * DX,
 * DX = sum_j P dP from bwd_dq (D itself carries the storage rounding of O, which
 * this sum over every row would add up); one workgroup per query head, fixed order. */
#define AUEGEN_BWD_DSINK_PUSH(X) \
    X(u32, batch,        "B (varlen: 1)") \
    X(u32, heads,        "H") \
    X(u32, seq_q,        "Sq (varlen: the packed rows)") \
    X(u32, lse_stride_b, "LSE strides: batch") \
    X(u32, lse_stride_h, "LSE strides: head") \
    X(u32, d_stride_b,   "D strides: batch") \
    X(u32, d_stride_h,   "D strides: head") \
    X(u32, sequences,    "varlen: cu_seqlens_q[sequences] rows are used; 0: every row") \
    X(u32, dx_offset,    "where DX starts in the workspace") \
    X(u32, flags,        "AUEGEN_FORWARD_VARLEN")

#define AUEGEN_BWD_DSINK_BINDINGS(X) \
    X(LSE,          "the forward's LSE, fp32 [B][H][Sq]") \
    X(DX,           "sum_j P dP per row, fp32, D's layout at dx_offset (bwd_dq)") \
    X(SINKS,        "the sinks, fp32 [H]") \
    X(DSINKS,       "their gradient, fp32 [H], written") \
    X(CU_SEQLENS_Q, "varlen: int32 [B + 1]")

#define AUEGEN_BWD_DSINK_FLAGS(X) X(VARLEN, 2u, "only the rows cu_seqlens_q covers")

/* --- INT8 attention (int8 = true): a quantizer part and the forward over its output
 * Q8 [B][Hkv][rows_pad][RW] and K8 [B][Hkv][Sk_pad][RW], RW = D4 + AUEGEN_INT8_FLOAT_SLOTS:
 * int8 values packed four to a 32-bit word (slot 4w + i in byte i), D4 = ceil(D / 4),
 * zero-padded, then the outlier channels of the first AUEGEN_INT8_FLOAT_SLOTS slots as
 * fp32 bits (their int8 bytes are 0; the other float words 0); rows are
 * the forward's packed rows (row r: query r / gqa of head hkv * gqa + r % gqa),
 * rows_pad and Sk_pad rounded up to the plan's tile_q and tile_kv. Two fp32 scales
 * per tile, one per channel group (0: ordinary words, 1: words holding an outlier
 * channel): Q_SCALE [B][Hkv][rows_pad / tile_q][2], K_SCALE [B][Hkv][Sk_pad / tile_kv][2].
 * K_MEAN fp32 [B][Hkv][3][D]: what smoothing subtracted from K, each channel's
 * factor f (K8 holds (K - mean) / f, Q8 holds Q * f), and for each packed slot s
 * the channel it holds: c, or -1 - c for an outlier channel (its range over 4x
 * the mean range; outliers take the first slots, and a word holding one gets
 * group 1's scales). Q8 and K8 hold their channels in that order. Q_CORR fp32
 * [B][Hkv][rows_pad]: each row's q . mean in log2 units, added back to the LSE.
 * Q8 carries scale * log2(e). Every buffer is addressed from its *_off element. */
/* Outlier channels (at most this many per KV head) computed in fp32 next to the int8 words. */
#define AUEGEN_INT8_FLOAT_SLOTS 8

#define AUEGEN_INT8_QUANT_PUSH(X) \
    X(u32, batch,        "B") \
    X(u32, heads,        "H") \
    X(u32, kv_heads,     "Hkv") \
    X(u32, seq_q,        "Sq") \
    X(u32, seq_k,        "Sk") \
    X(u32, q_stride_b,   "Q strides: batch") \
    X(u32, q_stride_h,   "Q strides: head") \
    X(u32, q_stride_s,   "Q strides: row") \
    X(u32, k_stride_b,   "K strides: batch") \
    X(u32, k_stride_h,   "K strides: head") \
    X(u32, k_stride_s,   "K strides: row") \
    X(f32, scale,        "softmax scale (times log2(e) into Q8)") \
    X(u32, flags,        "AUEGEN_INT8_QUANT_* bits") \
    X(u32, q8_off,       "first word of Q8 in its buffer") \
    X(u32, q_scale_off,  "first element of Q_SCALE") \
    X(u32, q_corr_off,   "first element of Q_CORR") \
    X(u32, k8_off,       "first word of K8") \
    X(u32, k_scale_off,  "first element of K_SCALE") \
    X(u32, k_mean_off,   "first element of K_MEAN")

#define AUEGEN_INT8_QUANT_BINDINGS(X) \
    X(Q,            "Q [B][H][Sq][D], storage dtype") \
    X(K,            "K [B][Hkv][Sk][D], storage dtype (stage MEAN and QUANT_K)") \
    X(Q8,           "Q8, written") \
    X(Q_SCALE,      "Q_SCALE, written") \
    X(Q_CORR,       "Q_CORR, written") \
    X(K8,           "K8, written with QUANT_K") \
    X(K_SCALE,      "K_SCALE, written with QUANT_K") \
    X(K_MEAN,       "K_MEAN: written by stage MEAN, read by the quantization")

#define AUEGEN_INT8_QUANT_FLAGS(X) \
    X(MEAN,    1u, "this dispatch computes K_MEAN (grid 1 x Hkv x B); else it quantizes") \
    X(QUANT_K, 2u, "quantize K too (workgroups x < Sk_pad / tile_kv); else only Q") \
    X(SMOOTH,  4u, "smooth K (off: K_MEAN holds zeros and ones)") \
    X(NO_Q,    8u, "quantize K only (aule_int8_quantize_k)")

#define AUEGEN_INT8_FWD_PUSH(X) \
    X(u32, batch,        "B") \
    X(u32, heads,        "H") \
    X(u32, kv_heads,     "Hkv") \
    X(u32, seq_q,        "Sq") \
    X(u32, seq_k,        "Sk") \
    X(u32, v_stride_b,   "V strides: batch") \
    X(u32, v_stride_h,   "V strides: head") \
    X(u32, v_stride_s,   "V strides: row") \
    X(u32, o_stride_b,   "O strides: batch") \
    X(u32, o_stride_h,   "O strides: head") \
    X(u32, o_stride_s,   "O strides: row") \
    X(u32, lse_stride_b, "LSE strides: batch") \
    X(u32, lse_stride_h, "LSE strides: head") \
    X(u32, flags,        "AUEGEN_FORWARD_WRITE_LSE") \
    X(u32, q8_off,       "first word of Q8 in its buffer") \
    X(u32, q_scale_off,  "first element of Q_SCALE") \
    X(u32, q_corr_off,   "first element of Q_CORR") \
    X(u32, k8_off,       "first word of K8") \
    X(u32, k_scale_off,  "first element of K_SCALE") \
    X(u32, k_mean_off,   "first element of K_MEAN (its group row)")

#define AUEGEN_INT8_FWD_BINDINGS(X) \
    X(Q8,           "Q8 (int8_quant)") \
    X(Q_SCALE,      "Q_SCALE") \
    X(Q_CORR,       "Q_CORR") \
    X(K8,           "K8 (int8_quant, or a caller's aule_int8_quantize_k)") \
    X(K_SCALE,      "K_SCALE") \
    X(V,            "V [B][Hkv][Sk][Dv], storage dtype") \
    X(O,            "O [B][H][Sq][Dv], storage dtype") \
    X(LSE,          "LSE fp32 [B][H][Sq], written when flags ask") \
    X(K_MEAN,       "K_MEAN: the channel groups")

#define AUEGEN_INT8_FWD_FLAGS(X) X(WRITE_LSE, 1u, "write the LSE")

/* --- every family, in one list: enum name, lower-case name, list prefix -------- */
#define AUEGEN_FAMILIES(X) \
    X(FORWARD,  forward,  AUEGEN_FORWARD) \
    X(DECODE,   decode,   AUEGEN_DECODE) \
    X(REDUCE,   reduce,   AUEGEN_REDUCE) \
    X(APPEND,   append,   AUEGEN_APPEND) \
    X(BWD_DOT,  bwd_dot,  AUEGEN_BWD_DOT) \
    X(BWD_DKDV, bwd_dkdv, AUEGEN_BWD_DKDV) \
    X(BWD_DQ,   bwd_dq,   AUEGEN_BWD_DQ) \
    X(BWD_DSINK, bwd_dsink, AUEGEN_BWD_DSINK) \
    X(INT8_QUANT, int8_quant, AUEGEN_INT8_QUANT) \
    X(INT8_FWD, int8_fwd, AUEGEN_INT8_FWD)

/* --- expansions ------------------------------------------------------------------ */

#define AUEGEN_ABI__FIELD(type, name, doc) AUEGEN_ABI_TYPE_##type name;
#define AUEGEN_ABI__COUNT(...) +1

typedef struct auegen_forward_push { AUEGEN_FORWARD_PUSH(AUEGEN_ABI__FIELD) } auegen_forward_push;
typedef struct auegen_decode_push { AUEGEN_DECODE_PUSH(AUEGEN_ABI__FIELD) } auegen_decode_push;
typedef struct auegen_reduce_push { AUEGEN_REDUCE_PUSH(AUEGEN_ABI__FIELD) } auegen_reduce_push;
typedef struct auegen_append_push { AUEGEN_APPEND_PUSH(AUEGEN_ABI__FIELD) } auegen_append_push;
typedef struct auegen_bwd_dot_push { AUEGEN_BWD_DOT_PUSH(AUEGEN_ABI__FIELD) } auegen_bwd_dot_push;
typedef struct auegen_bwd_dkdv_push { AUEGEN_BWD_DKDV_PUSH(AUEGEN_ABI__FIELD) } auegen_bwd_dkdv_push;
typedef struct auegen_bwd_dq_push { AUEGEN_BWD_DQ_PUSH(AUEGEN_ABI__FIELD) } auegen_bwd_dq_push;
typedef struct auegen_bwd_dsink_push { AUEGEN_BWD_DSINK_PUSH(AUEGEN_ABI__FIELD) } auegen_bwd_dsink_push;
typedef struct auegen_int8_quant_push { AUEGEN_INT8_QUANT_PUSH(AUEGEN_ABI__FIELD) } auegen_int8_quant_push;
typedef struct auegen_int8_fwd_push { AUEGEN_INT8_FWD_PUSH(AUEGEN_ABI__FIELD) } auegen_int8_fwd_push;

#define AUEGEN_ABI__BINDING_FORWARD(name, doc) AUEGEN_FORWARD_BINDING_##name,
#define AUEGEN_ABI__BINDING_DECODE(name, doc) AUEGEN_DECODE_BINDING_##name,
#define AUEGEN_ABI__BINDING_REDUCE(name, doc) AUEGEN_REDUCE_BINDING_##name,
#define AUEGEN_ABI__BINDING_APPEND(name, doc) AUEGEN_APPEND_BINDING_##name,
#define AUEGEN_ABI__BINDING_BWD_DOT(name, doc) AUEGEN_BWD_DOT_BINDING_##name,
#define AUEGEN_ABI__BINDING_BWD_DKDV(name, doc) AUEGEN_BWD_DKDV_BINDING_##name,
#define AUEGEN_ABI__BINDING_BWD_DQ(name, doc) AUEGEN_BWD_DQ_BINDING_##name,
#define AUEGEN_ABI__BINDING_BWD_DSINK(name, doc) AUEGEN_BWD_DSINK_BINDING_##name,
enum { AUEGEN_FORWARD_BINDINGS(AUEGEN_ABI__BINDING_FORWARD) AUEGEN_FORWARD_BINDING_COUNT };
enum { AUEGEN_DECODE_BINDINGS(AUEGEN_ABI__BINDING_DECODE) AUEGEN_DECODE_BINDING_COUNT };
enum { AUEGEN_REDUCE_BINDINGS(AUEGEN_ABI__BINDING_REDUCE) AUEGEN_REDUCE_BINDING_COUNT };
enum { AUEGEN_APPEND_BINDINGS(AUEGEN_ABI__BINDING_APPEND) AUEGEN_APPEND_BINDING_COUNT };
enum { AUEGEN_BWD_DOT_BINDINGS(AUEGEN_ABI__BINDING_BWD_DOT) AUEGEN_BWD_DOT_BINDING_COUNT };
enum { AUEGEN_BWD_DKDV_BINDINGS(AUEGEN_ABI__BINDING_BWD_DKDV) AUEGEN_BWD_DKDV_BINDING_COUNT };
enum { AUEGEN_BWD_DQ_BINDINGS(AUEGEN_ABI__BINDING_BWD_DQ) AUEGEN_BWD_DQ_BINDING_COUNT };
enum { AUEGEN_BWD_DSINK_BINDINGS(AUEGEN_ABI__BINDING_BWD_DSINK) AUEGEN_BWD_DSINK_BINDING_COUNT };
#define AUEGEN_ABI__BINDING_INT8_QUANT(name, doc) AUEGEN_INT8_QUANT_BINDING_##name,
#define AUEGEN_ABI__BINDING_INT8_FWD(name, doc) AUEGEN_INT8_FWD_BINDING_##name,
enum { AUEGEN_INT8_QUANT_BINDINGS(AUEGEN_ABI__BINDING_INT8_QUANT) AUEGEN_INT8_QUANT_BINDING_COUNT };
enum { AUEGEN_INT8_FWD_BINDINGS(AUEGEN_ABI__BINDING_INT8_FWD) AUEGEN_INT8_FWD_BINDING_COUNT };
#define AUEGEN_ABI__INT8_FLAG(name, value, doc) AUEGEN_INT8_QUANT_##name = value,
enum { AUEGEN_INT8_QUANT_FLAGS(AUEGEN_ABI__INT8_FLAG) };

#define AUEGEN_ABI__FLAG(name, value, doc) AUEGEN_FORWARD_##name = value,
enum { AUEGEN_FORWARD_FLAGS(AUEGEN_ABI__FLAG) };

/* Every family's push block in 128 bytes (Vulkan's guaranteed minimum). */
#define AUEGEN_PUSH_MAX_BYTES 128
#define AUEGEN_ABI__ASSERT(NAME, name, prefix) \
    _Static_assert(sizeof(auegen_##name##_push) <= AUEGEN_PUSH_MAX_BYTES, #name " push constants exceed 128 bytes");
#ifndef __cplusplus
AUEGEN_FAMILIES(AUEGEN_ABI__ASSERT)
#endif

/* The most bindings any family has: the size of libaule's descriptor-set layout. */
#define AUEGEN_BINDING_MAX 12
#define AUEGEN_ABI__BINDINGS_FIT(NAME, name, prefix) \
    _Static_assert(AUEGEN_##NAME##_BINDING_COUNT <= AUEGEN_BINDING_MAX, #name " has more bindings than AUEGEN_BINDING_MAX");
#ifndef __cplusplus
AUEGEN_FAMILIES(AUEGEN_ABI__BINDINGS_FIT)
#endif

typedef enum auegen_family {
#define AUEGEN_ABI__FAMILY_ENUM(NAME, name, prefix) AUEGEN_FAMILY_##NAME,
    AUEGEN_FAMILIES(AUEGEN_ABI__FAMILY_ENUM)
    AUEGEN_FAMILY_COUNT
} auegen_family;

/* The tables, for the generator (GLSL), the runtime (push size) and tests. */
typedef struct auegen_abi_field {
    const char *name;
    const char *glsl_type;           /* "uint" or "float" */
    uint32_t offset;                 /* bytes */
    const char *doc;
} auegen_abi_field;

typedef struct auegen_abi_binding {
    const char *name;                /* upper case, as in BINDING_<name> */
    const char *doc;
} auegen_abi_binding;

typedef struct auegen_abi_flag {
    const char *name;
    uint32_t value;
    const char *doc;
} auegen_abi_flag;

typedef struct auegen_family_abi {
    const char *name;                /* "forward", "decode", "reduce", "append" */
    const auegen_abi_field *push;
    int push_count;
    uint32_t push_bytes;
    const auegen_abi_binding *bindings;
    int binding_count;
    const auegen_abi_flag *flags;
    int flag_count;
} auegen_family_abi;

/* The table of a family (NULL for a value out of range). */
AUEGEN_API const auegen_family_abi *auegen_family_abi_get(auegen_family family);

#endif
