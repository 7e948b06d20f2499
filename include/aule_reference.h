/* SPDX-License-Identifier: MIT */
/*
 * aule_reference.h - the plain attention that every kernel is checked against,
 * storage-dtype conversions (f16, bf16) and the error bound of the correctness
 * rule (docs/architecture.md, "The correctness rule"):
 *
 *     max|out - ref| <= 2 * max|naive - ref| + 1e-6
 *
 * where ref is aule_reference_forward_f64 on the inputs as stored, and naive is
 * aule_reference_forward_f32 on the same inputs (rounded to the storage dtype),
 * its output rounded to the storage dtype too.
 *
 * Layouts, in elements, every tensor contiguous (shape letters: B batch, H query
 * heads, Hkv KV heads, Sq query length, Sk key length, D head dim, Dv V head dim):
 *     Q [B][H][Sq][D]   K [B][Hkv][Sk][D]   V [B][Hkv][Sk][Dv]
 *     O [B][H][Sq][Dv]  LSE [B][H][Sq]
 * Varlen (cu_seqlens_q and cu_seqlens_k both set, B sequences): the sequences are
 * packed along the sequence axis of a batch of one,
 *     Q [H][Tq][D]  K [Hkv][Tk][D]  V [Hkv][Tk][Dv]  O [H][Tq][Dv]  LSE [H][Tq]
 * with Tq = cu_seqlens_q[B], Tk = cu_seqlens_k[B]; sequence b owns rows
 * cu[b] .. cu[b+1]-1 (rows before cu[0] are left alone). seq_q/seq_k are unused.
 * Query head h reads KV head h / (H / Hkv).
 *
 * Semantics, for query row i and key j of one sequence of lengths Sq, Sk:
 *     s = scale * dot(q_i, k_j);  if softcap > 0: s = softcap * tanh(s / softcap)
 *     i' = i + Sk - Sq                                  (bottom-right alignment)
 *     j visible iff (left < 0 || j >= i' - left) && (right < 0 || j <= i' + right)
 *     O_i = softmax over visible j of s, times V;  LSE_i = log(sum exp(s)) (natural log)
 * A row with no visible key gets O = 0 and LSE = -inf, never NaN. Causal is
 * window_left = -1, window_right = 0; no mask is -1, -1. With sinks, head h's
 * logit sink_h joins every row's denominator: O_i = sum_j e^(s_j) V_j /
 * (e^(sink_h) + sum_j e^(s_j)) and LSE_i = log(e^(sink_h) + sum_j e^(s_j)); a
 * row with no visible key gets O = 0 and LSE = sink_h.
 */
#ifndef AULE_REFERENCE_H
#define AULE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auegen.h"     /* auegen_dtype: AUEGEN_DTYPE_F32 / F16 / BF16 */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aule_ref_problem {
    int batch;                      /* B (varlen: number of sequences) */
    int heads, kv_heads;            /* H, Hkv; H must be a multiple of Hkv */
    int seq_q, seq_k;               /* Sq, Sk (ignored when varlen) */
    int head_dim;                   /* D >= 1 */
    int head_dim_v;                 /* Dv >= 1; 0 = head_dim */
    const int32_t *cu_seqlens_q;    /* optional [B+1], non-decreasing: varlen */
    const int32_t *cu_seqlens_k;    /* set both or neither */
    int window_left, window_right;  /* < 0 = unbounded on that side */
    double softcap;                 /* <= 0: off */
    double scale;                   /* used as given (usually 1/sqrt(D)) */
    int threads;                    /* 0: one per online CPU for large problems; 1: the calling thread only */
    int p_dtype;                    /* naive baseline only: P rounded to this storage dtype before P.V
                                     * (an auegen_dtype; 0 = kept in fp32) */
    const float *sinks;             /* optional [H]: attention sinks, one logit per query head that joins
                                     * the softmax denominator and adds no value (NULL: none) */
} aule_ref_problem;

/* Element counts of each tensor of a problem. */
typedef struct aule_ref_counts {
    size_t q, k, v, o, lse;
} aule_ref_counts;

/* Checks p and fills out (which may be NULL). Returns 0, or -1 when p is NULL or
 * malformed (non-positive H/Hkv/D, H % Hkv != 0, negative lengths, only one
 * cu_seqlens, or cu_seqlens negative or decreasing). */
AULE_API int aule_ref_problem_counts(const aule_ref_problem *p, aule_ref_counts *out);

/* Attention in float64 throughout (dot products, softmax, P.V). lse may be NULL.
 * Returns 0, or -1 (writing nothing) when an argument is NULL, p is malformed or
 * the scratch rows cannot be allocated. Scratch is one row of Sk scores per
 * thread, never O(Sq*Sk). Results are bit-identical for any p->threads. */
AULE_API int aule_reference_forward_f64(const aule_ref_problem *p, const double *q, const double *k, const double *v,
                                        double *o, double *lse);

/* The naive same-precision baseline: the same attention with float accumulators,
 * tanhf/expf/logf and a plain (not online) softmax: scores, their max, P =
 * exp(s - max) / sum, then O = P.V. Inputs are taken as given: round them to
 * the storage dtype first (aule_round_array_to_dtype), and round O after.
 * Same arguments and return values as the f64 version. */
AULE_API int aule_reference_forward_f32(const aule_ref_problem *p, const float *q, const float *k, const float *v,
                                        float *o, float *lse);

/* Gradients of L = sum(dO * O) (O the attention above) with respect to Q, K and
 * V, in float64: dQ like Q, dK like K, dV like V (dK/dV summed over the query
 * heads that share a KV head), and with p->sinks, dsinks [H] (NULL: not
 * computed). Single-threaded, deterministic. Returns 0, or -1 on a bad argument. */
AULE_API int aule_reference_backward_f64(const aule_ref_problem *p, const double *q, const double *k, const double *v,
                                         const double *dout, double *dq, double *dk, double *dv, double *dsinks);
/* The naive same-precision baseline of the backward: float throughout, S, P, dP
 * and dS held in p->p_dtype (rounded) as a framework's autograd holds them. Round the inputs
 * first and the gradients after, as for the forward. */
AULE_API int aule_reference_backward_f32(const aule_ref_problem *p, const float *q, const float *k, const float *v,
                                         const float *dout, float *dq, float *dk, float *dv, float *dsinks);

/* --- storage dtypes ------------------------------------------------------------ */

/* IEEE binary16, round to nearest even; overflow gives inf, tiny values become
 * subnormals or signed zero, NaN stays NaN (quiet). */
AULE_API uint16_t aule_f32_to_f16(float x);
AULE_API float aule_f16_to_f32(uint16_t h);
/* bfloat16 (the top half of a float), round to nearest even; NaN stays NaN. */
AULE_API uint16_t aule_f32_to_bf16(float x);
AULE_API float aule_bf16_to_f32(uint16_t h);

/* x rounded to the storage dtype (an auegen_dtype) and back. AUEGEN_DTYPE_DEFAULT
 * is f16, as in specs; F32 and unknown values return x unchanged. */
AULE_API float aule_round_to_dtype(float x, int dtype);
AULE_API void aule_round_array_to_dtype(float *x, size_t n, int dtype);

/* Element size in bytes of a storage dtype: 4 for F32, 2 for F16/BF16/DEFAULT,
 * 0 for an unknown value. */
AULE_API size_t aule_storage_size(int dtype);
/* floats -> storage (float, or uint16_t bits for f16/bf16) and back. Do nothing
 * on NULL or an unknown dtype. */
AULE_API void aule_pack_dtype(const float *src, void *dst, size_t n, int dtype);
AULE_API void aule_unpack_dtype(const void *src, float *dst, size_t n, int dtype);

/* --- the correctness rule ----------------------------------------------------------- */

/* max over i of |ref[i] - got[i]|. Equal values (including two infinities of
 * the same sign, such as the -inf LSE of a fully masked row) differ by 0; a NaN
 * on either side, or an infinity against anything else, gives +inf. 0 for n = 0
 * or a NULL array. */
AULE_API double aule_max_abs_diff(const double *ref, const float *got, size_t n);
AULE_API double aule_max_abs_diff_f64(const double *ref, const double *got, size_t n);
/* Same, got in a storage dtype (float, or f16/bf16 bits as uint16_t); +inf for
 * an unknown dtype. */
AULE_API double aule_max_abs_diff_dtype(const double *ref, const void *got, size_t n, int dtype);

/* The rule: bound = 2 * err_naive + 1e-6; true when err_kernel <= bound (false
 * for NaN). bound may be NULL. */
AULE_API bool aule_error_within_bound(double err_kernel, double err_naive, double *bound);

#define AULE_ERROR_ATOL 1e-6

#ifdef __cplusplus
}
#endif
#endif
