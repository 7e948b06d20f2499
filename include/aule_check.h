/* SPDX-License-Identifier: MIT */
/*
 * aule_check.h - runs one attention problem on the device and judges it by
 * FlashAttention's rule against the float64 reference (aule_reference.h).
 * Used by `aule check` and the test suite.
 */
#ifndef AULE_CHECK_H
#define AULE_CHECK_H

#include "aule.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aule_check_shape {
    int batch;                     /* B (varlen: number of sequences) */
    int heads;                     /* H; Hkv = H / spec.gqa */
    int seq_q, seq_k;              /* Sq, Sk (varlen: the longest sequences) */
    bool varlen;                   /* random lengths 1..seq per sequence, packed */
    bool bshd;                     /* Q/K/V/O stored [B][S][H][D], passed as strided views */
    bool lse;                      /* also check the log-sum-exp */
    float scale;                   /* 0: 1/sqrt(D) */
    uint64_t seed;
} aule_check_shape;

typedef struct aule_check_result {
    double err;                    /* max |out - ref| */
    double err_naive;              /* max |naive fp32 - ref| */
    double bound;                  /* 2 * err_naive + 1e-6 */
    double lse_err, lse_err_naive, lse_bound;
    bool pass;                     /* O (and LSE when asked) within their bounds */
    aule_kernel_report kernel;
    double run_ms;                 /* the attention call, including submission and wait */
} aule_check_result;

/* Runs spec on random inputs of the given shape. AULE_OK means it ran; read
 * result->pass for the verdict. An int8 = true spec is refused
 * (AULE_ERROR_INVALID_ARGUMENT): aule_check_int8_run judges those. */
AULE_API aule_status aule_check_run(aule_context *ctx, const auegen_spec *spec, const aule_check_shape *shape,
                                    aule_check_result *result);

/* A decode problem: per-sequence KV lengths, the cache paged by the spec's
 * page_size (pages handed out in a shuffled order) or contiguous. */
typedef struct aule_check_decode_shape {
    int batch, heads, seq_q;       /* seq_q: new tokens per sequence, 1..16 */
    const int *seq_lens;           /* [batch] KV lengths (>= 0) */
    int num_splits;                /* 0: auto */
    bool lse;
    uint64_t seed;
} aule_check_decode_shape;

AULE_API aule_status aule_check_decode_run(aule_context *ctx, const auegen_spec *spec, const aule_check_decode_shape *shape,
                                           aule_check_result *result);

/* Gradients (a spec with backward = true): dQ, dK, dV of sum(dO * O) after a
 * forward on the device, each held to FlashAttention's rule for gradients:
 * max|got - ref| <= 3 * max|naive - ref| + AULE_GRAD_ATOL. Varlen lengths may be 0.
 * The floor is 1e-5, not the forward's 1e-6: in fp32 storage the naive baseline
 * and the kernel are the same precision and differ only in summation order
 * (dK and dV sum up to Sq x gqa products each), so their ratio is noise at the
 * level of a few ulps of the gradients; in f16/bf16 the floor never binds. */
#define AULE_GRAD_ATOL 1e-5
typedef struct aule_check_grad_result {
    double err[4];                 /* dQ, dK, dV (and dsinks, for a spec with sinks): max |got - ref| */
    double err_naive[4];           /* max |naive f32 - ref| */
    double bound[4];               /* 3 * err_naive + AULE_GRAD_ATOL */
    bool pass;                     /* every gradient within its bound */
    aule_kernel_report kernel;     /* the forward's */
    aule_kernel_report dkdv, dq;   /* the backward's main kernels (their plans: scalar or coopmat) */
    double run_ms;                 /* the backward call */
} aule_check_grad_result;

AULE_API aule_status aule_check_backward_run(aule_context *ctx, const auegen_spec *spec, const aule_check_shape *shape,
                                    aule_check_grad_result *result);

/* INT8 attention (int8 = true) quantizes Q and K, so FlashAttention's rule (an
 * error within twice a same-precision baseline's) cannot hold; it is judged by
 * accuracy against the float64 reference on the unquantized inputs (as stored):
 * per problem, the worst row's cosine similarity of O with the reference's, the
 * relative L1 error sum|O - ref| / sum|ref|, and the largest LSE error. */
#define AULE_INT8_MIN_COSINE 0.999
#define AULE_INT8_MAX_REL_L1 0.02
#define AULE_INT8_MAX_LSE_ERR 0.05

/* The input families of the INT8 accuracy gate. */
typedef enum aule_int8_inputs {
    AULE_INT8_GAUSSIAN = 0,        /* Q, K, V ~ N(0, 1) */
    AULE_INT8_OUTLIER_CHANNELS,    /* K with a few channels 10-20x wider than the rest, as LLM keys have */
    AULE_INT8_MEAN_OFFSET,         /* K with a large mean per KV head and channel (N(0, 8^2)): what smoothing is for */
    AULE_INT8_INPUT_COUNT
} aule_int8_inputs;

AULE_API const char *aule_int8_inputs_name(aule_int8_inputs inputs);

typedef struct aule_check_int8_shape {
    aule_check_shape shape;        /* varlen is not taken; bshd, lse, scale and seed are */
    aule_int8_inputs inputs;
    bool no_smoothing;             /* quantize K as it is (aule_int8_args.no_smoothing) */
    bool quantize_k_first;         /* through aule_int8_quantize_k and aule_int8_args.k_quantized */
} aule_check_int8_shape;

typedef struct aule_check_int8_result {
    double worst_cosine;           /* the smallest cosine similarity of a row of O with the reference's */
    double rel_l1;                 /* sum |O - ref| / sum |ref| */
    double lse_err;                /* max |LSE - ref| (rows with no visible key must be -inf in both) */
    double max_err;                /* max |O - ref| */
    bool pass;                     /* worst_cosine, rel_l1 (and lse_err when asked) within AULE_INT8_* */
    aule_kernel_report kernel;
    double run_ms;
} aule_check_int8_result;

/* Runs an int8 = true spec on random inputs of a family and measures it. AULE_OK
 * means it ran; read result->pass for the verdict. */
AULE_API aule_status aule_check_int8_run(aule_context *ctx, const auegen_spec *spec, const aule_check_int8_shape *shape,
                                         aule_check_int8_result *result);

#ifdef __cplusplus
}
#endif
#endif
