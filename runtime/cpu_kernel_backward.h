/* SPDX-License-Identifier: MIT */
/*
 * cpu_kernel_backward.h - the native CPU backend's backward kernels:
 * FlashAttention-2's bwd_dkdv and bwd_dq on SIMD registers, included by
 * cpu_kernel.h (after its vector types, exp2, conversions and the QK / PV
 * micro-kernels, which it reuses) and so compiled once per instruction set.
 * They compute what templates/backward_dkdv.comp and backward_dq.comp do:
 *     S  = scale * Q.K (softcapped: cap * tanh(S / cap)),  P = exp(S - LSE)
 *     dP = dO.V,  dS = P * (dP - D) (times 1 - tanh^2 with a softcap)
 *     dV = P^T dO,  dK = scale * dS^T Q   (bwd_dkdv: one task owns TK keys of one
 *                                          KV head, summed over every query row of its GQA group)
 *     dQ = scale * dS K                   (bwd_dq: one task owns TR packed query rows)
 * with D = rowsum(dO * O) from bwd_dot, masked keys and rows that see no key
 * contributing 0, and (sinks) DX = sum_j P dP per row for bwd_dsink. Each task
 * writes only its own gradient rows: no atomics, a fixed order, deterministic.
 *
 * Query rows are packed as in the forward (row r of KV head kvh is position
 * r / gqa of query head kvh * gqa + r % gqa). Layouts in the thread's scratch,
 * fp32 (D4/DV4: D and Dv rounded up to 4; DW/DVW: rounded up to a vector).
 * bwd_dkdv, lanes over keys (its key tile is transposed once, its row tiles
 * are read as they lie):
 *     Kt [D4][TK]   Vt [DV4][TK]      the task's keys, transposed (zero past the sequence)
 *     Qr [TR][DW]   dOr [TR][DVW]     a row tile
 *     S  [TR][TK]   dP [TR][TK]       Q.K and dO.V, then P and dS in place (rk_tile)
 *     dKa [TK][DW]  dVa [TK][DVW]     the accumulators: dV += P^T dO, dK += dS^T Q with
 *                                     P / dS broadcast and lanes over columns (tr_tile)
 * Fused (a->fused, cpu_backend.c decides), bwd_dkdv's task is a whole (sequence, KV head),
 * its key tiles in order, and it also computes dQ, so bwd_dq is not run:
 *     Kr [TK][DW]                     the key tile as it lies
 *     dQa [rows][DW]                  dQ += dS K for the group's rows, lanes over D (qr_tile)
 * bwd_dq, lanes over rows (its row tile is transposed once, key tiles read as they lie):
 *     Qt [D4][TR]   dOt [DV4][TR]     the task's rows, transposed
 *     Kf [TK][D4]   Vf [TK][DV4]      a key tile
 *     St [TK][TR]   dPt [TK][TR]      S^T and dP^T (the forward's qk_tile), then P^T and dS^T
 *     dQt [D4][TR]                    dQ^T += K^T dS^T (the forward's pv_tile with alpha = 1)
 */

/* acc[j][c..] += sum_{r < nr} P[r][j] * X[r][c..] for KB keys and ncv column vectors; P[r][j] at p[r * TK + j]. */
INLINE void tr_block(const float *restrict p, const float *restrict x, int ldx, int nr, float *restrict acc, int ncv)
{
    vf s[KB][RB];
#pragma GCC unroll 4
    for (int kk = 0; kk < KB; kk++)
#pragma GCC unroll 4
        for (int cv = 0; cv < ncv; cv++)
            s[kk][cv] = vload(acc + (size_t)kk * ldx + cv * W);
    for (int r = 0; r < nr; r++) {
        vf xv[RB];
#pragma GCC unroll 4
        for (int cv = 0; cv < ncv; cv++)
            xv[cv] = vload(x + (size_t)r * ldx + cv * W);
#pragma GCC unroll 4
        for (int kk = 0; kk < KB; kk++) {
            vf pv = splat(p[(size_t)r * TK + kk]);
#pragma GCC unroll 4
            for (int cv = 0; cv < ncv; cv++)
                s[kk][cv] += pv * xv[cv];
        }
    }
#pragma GCC unroll 4
    for (int kk = 0; kk < KB; kk++)
#pragma GCC unroll 4
        for (int cv = 0; cv < ncv; cv++)
            vstore(acc + (size_t)kk * ldx + cv * W, s[kk][cv]);
}

/* acc[j][:] += sum_{r < nr} P[r][j] * X[r][:] for keys j < nkp (a multiple of KB); ldx a multiple of W. */
static void tr_tile(const float *pm, const float *x, int ldx, int nr, int nkp, float *acc)
{
    for (int jb = 0; jb < nkp; jb += KB) {
        for (int c0 = 0; c0 < ldx; c0 += RB * W) {
            const float *p = pm + jb;
            float *s = acc + (size_t)jb * ldx + c0;
            switch ((ldx - c0) / W < RB ? (ldx - c0) / W : RB) {
            case 1: tr_block(p, x + c0, ldx, nr, s, 1); break;
#if RB >= 2
            case 2: tr_block(p, x + c0, ldx, nr, s, 2); break;
#endif
#if RB >= 3
            case 3: tr_block(p, x + c0, ldx, nr, s, 3); break;
#endif
#if RB >= 4
            case 4: tr_block(p, x + c0, ldx, nr, s, 4); break;
#endif
            }
        }
    }
}

#define RR 4                /* rows per rk_block */

/* S[r][j..] = sum_{x < n} A[r][x] * Bt[x][j..] for nr rows (lda apart) and RB key vectors (lanes over keys). */
INLINE void rk_block(const float *restrict a, int lda, const float *restrict bt, int n, float *restrict s, int nr)
{
    vf acc[RR][RB];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int kv = 0; kv < RB; kv++)
            acc[r][kv] = splat(0.0f);
    for (int x = 0; x < n; x++) {
        vf b[RB];
#pragma GCC unroll 4
        for (int kv = 0; kv < RB; kv++)
            b[kv] = vload(bt + (size_t)x * TK + kv * W);
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            vf q = splat(a[(size_t)r * lda + x]);
#pragma GCC unroll 4
            for (int kv = 0; kv < RB; kv++)
                acc[r][kv] += q * b[kv];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int kv = 0; kv < RB; kv++)
            vstore(s + (size_t)r * TK + kv * W, acc[r][kv]);
}

/* S[r][0..TK) = A[r][:] . Bt[:][j] for rows r < nrows; Bt [n][TK], S [.][TK]. */
static void rk_tile(const float *a, int lda, const float *bt, int n, float *s, int nrows)
{
    _Static_assert(TK % (RB * W) == 0, "a key tile is whole RB-vector blocks");
    for (int r0 = 0; r0 < nrows; r0 += RR)
        for (int k0 = 0; k0 < TK; k0 += RB * W) {
            const float *ar = a + (size_t)r0 * lda;
            float *sr = s + (size_t)r0 * TK + k0;
            switch (nrows - r0 < RR ? nrows - r0 : RR) {
            case 1: rk_block(ar, lda, bt + k0, n, sr, 1); break;
            case 2: rk_block(ar, lda, bt + k0, n, sr, 2); break;
            case 3: rk_block(ar, lda, bt + k0, n, sr, 3); break;
            default: rk_block(ar, lda, bt + k0, n, sr, 4); break;
            }
        }
}

/* acc[r][c..] += sum_{j < nk} dS[r][j] * X[j][c..] for RR rows and ncv column vectors; dS [.][TK], X and acc [.][ldx]. */
INLINE void qr_block(const float *restrict ds, const float *restrict x, int ldx, int nk, float *restrict acc, int ncv)
{
    vf s[RR][RB];
#pragma GCC unroll 4
    for (int r = 0; r < RR; r++)
#pragma GCC unroll 4
        for (int cv = 0; cv < ncv; cv++)
            s[r][cv] = vload(acc + (size_t)r * ldx + cv * W);
    for (int j = 0; j < nk; j++) {
        vf xv[RB];
#pragma GCC unroll 4
        for (int cv = 0; cv < ncv; cv++)
            xv[cv] = vload(x + (size_t)j * ldx + cv * W);
#pragma GCC unroll 4
        for (int r = 0; r < RR; r++) {
            vf p = splat(ds[(size_t)r * TK + j]);
#pragma GCC unroll 4
            for (int cv = 0; cv < ncv; cv++)
                s[r][cv] += p * xv[cv];
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RR; r++)
#pragma GCC unroll 4
        for (int cv = 0; cv < ncv; cv++)
            vstore(acc + (size_t)r * ldx + cv * W, s[r][cv]);
}

/* acc[r][:] += sum_{j < nk} dS[r][j] * X[j][:] for rows r < nrows (a multiple of RR); ldx a multiple of W. */
static void qr_tile(const float *ds, const float *x, int ldx, int nk, float *acc, int nrows)
{
    for (int r0 = 0; r0 < nrows; r0 += RR)
        for (int c0 = 0; c0 < ldx; c0 += RB * W) {
            const float *d = ds + (size_t)r0 * TK;
            float *s = acc + (size_t)r0 * ldx + c0;
            switch ((ldx - c0) / W < RB ? (ldx - c0) / W : RB) {
            case 1: qr_block(d, x + c0, ldx, nk, s, 1); break;
#if RB >= 2
            case 2: qr_block(d, x + c0, ldx, nk, s, 2); break;
#endif
#if RB >= 3
            case 3: qr_block(d, x + c0, ldx, nk, s, 3); break;
#endif
#if RB >= 4
            case 4: qr_block(d, x + c0, ldx, nk, s, 4); break;
#endif
            }
        }
}

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

static size_t bwd_scratch_bytes(const aule__cpu_bwd *a)
{
    size_t d4 = (size_t)round_up(a->d, CB), dv4 = (size_t)round_up(a->dv, CB);
    size_t dw = (size_t)round_up(a->d, W), dvw = (size_t)round_up(a->dv, W);
    /* The larger of the two kernels' layouts; each carved array may round up by 15 floats. Fused: K's
     * rows and the dQ of the GQA group's rows too. */
    size_t dkdv = (d4 + dv4) * TK + TR * (dw + dvw) + TK * (dw + dvw) + 2 * (size_t)TR * TK + 4 * TR;
    if (a->fused)
        dkdv += TK * dw + (size_t)round_up(a->seq_q * a->gqa, TR) * dw;
    size_t dq = (2 * d4 + dv4) * TR + TK * (d4 + dv4) + 2 * (size_t)TK * TR + 6 * TR;
    size_t floats = (dkdv > dq ? dkdv : dq) + 16 * 16;
    return floats * sizeof(float) + 64;
}

/* The sequence of batch index b: its lengths, where its rows start, and its batch index into the tensors. */
typedef struct bwd_seq {
    int64_t sq, sk, qoff, koff;
    int bt;
} bwd_seq;

static bwd_seq bwd_sequence(const aule__cpu_bwd *a, int b)
{
    bwd_seq s = {.sq = a->seq_q, .sk = a->seq_k, .bt = b};
    if (a->cu_q) {
        s.qoff = a->cu_q[b];
        s.sq = a->cu_q[b + 1] - s.qoff;
        s.koff = a->cu_k[b];
        s.sk = a->cu_k[b + 1] - s.koff;
        s.bt = 0;
    }
    return s;
}

/* Keys j0 .. j0 + nk - 1 of K (or V) as fp32 rows of ld floats, zero-padded to nkp rows. */
static void bwd_load_keys(const aule__cpu_bwd *a, bool is_v, const bwd_seq *s, int kvh, int64_t j0, int nk, int nkp,
                          float *dst, int ld)
{
    int dim = is_v ? a->dv : a->d;
    const char *base = is_v ? a->v : a->k;
    int64_t sb = is_v ? a->v_sb : a->k_sb, sh = is_v ? a->v_sh : a->k_sh, ss = is_v ? a->v_ss : a->k_ss;
    size_t es = dtype_bytes(a->dtype);
    for (int jj = 0; jj < nk; jj++) {
        float *row = dst + (size_t)jj * ld;
        to_f32(a->dtype, base + (size_t)(s->bt * sb + kvh * sh + (s->koff + j0 + jj) * ss) * es, row, dim);
        for (int c = dim; c < ld; c++)
            row[c] = 0.0f;
    }
    if (nk < nkp)
        memset(dst + (size_t)nk * ld, 0, (size_t)(nkp - nk) * ld * sizeof *dst);
}

/* Keys j0 .. j0 + nk - 1 of K (or V) transposed: dst[x][jj] for x < ld, zero past nk and past the row. */
static void bwd_load_keys_t(const aule__cpu_bwd *a, bool is_v, const bwd_seq *s, int kvh, int64_t j0, int nk,
                            float *dst, int ld)
{
    float row[AUEGEN_MAX_HEAD_DIM + 4];
    memset(dst, 0, (size_t)ld * TK * sizeof *dst);
    int dim = is_v ? a->dv : a->d;
    const char *base = is_v ? a->v : a->k;
    int64_t sb = is_v ? a->v_sb : a->k_sb, sh = is_v ? a->v_sh : a->k_sh, ss = is_v ? a->v_ss : a->k_ss;
    size_t es = dtype_bytes(a->dtype);
    for (int jj = 0; jj < nk; jj++) {
        to_f32(a->dtype, base + (size_t)(s->bt * sb + kvh * sh + (s->koff + j0 + jj) * ss) * es, row, dim);
        for (int x = 0; x < dim; x++)
            dst[(size_t)x * TK + jj] = row[x];
    }
}

/* The per-row state of a row tile: LSE, D and the keys each row sees ([lo, hi], empty: lo > hi). */
typedef struct bwd_rows {
    float *lse, *dd;
    int32_t *lo, *hi;
    int64_t lo_any, hi_any;        /* the keys some row sees (lo_any > hi_any: none) */
} bwd_rows;

/* Loads packed rows row0 .. row0 + nrows - 1 of KV head kvh: Q and dO transposed (qt, dot) or as rows (qr, dor),
 * whichever are not NULL; LSE, D and the key range of each row. Rows past nrows are zero and see nothing. */
static void bwd_load_rows(const aule__cpu_bwd *a, const bwd_seq *s, int kvh, int64_t row0, int nrows, float *qt,
                          float *qr, float *dot, float *dor, bwd_rows *rs)
{
    const int d = a->d, dv = a->dv, d4 = round_up(d, CB), dv4 = round_up(dv, CB);
    const int dw = round_up(d, W), dvw = round_up(dv, W);
    size_t es = dtype_bytes(a->dtype);
    float qrow[AUEGEN_MAX_HEAD_DIM + W], orow[AUEGEN_MAX_HEAD_DIM + W];
    rs->lo_any = INT64_MAX;
    rs->hi_any = -1;
    for (int r = 0; r < TR; r++) {
        rs->lse[r] = 0.0f;
        rs->dd[r] = 0.0f;
        rs->lo[r] = 1;
        rs->hi[r] = 0;
        if (r >= nrows) {
            memset(qrow, 0, sizeof qrow);
            memset(orow, 0, sizeof orow);
        } else {
            int64_t g = row0 + r, i = g / a->gqa, h = (int64_t)kvh * a->gqa + g % a->gqa;
            to_f32(a->dtype, (const char *)a->q + (size_t)(s->bt * a->q_sb + h * a->q_sh + (s->qoff + i) * a->q_ss) * es,
                   qrow, d);
            to_f32(a->dtype,
                   (const char *)a->dout + (size_t)(s->bt * a->do_sb + h * a->do_sh + (s->qoff + i) * a->do_ss) * es,
                   orow, dv);
            for (int x = d; x < dw; x++)
                qrow[x] = 0.0f;
            for (int x = dv; x < dvw; x++)
                orow[x] = 0.0f;
            float lse = a->lse[s->bt * a->lse_sb + h * a->lse_sh + s->qoff + i];
            /* Bottom-right aligned: query i is at key position i + sk - sq. */
            int64_t ip = i + s->sk - s->sq, lo = 0, hi = s->sk - 1;
            if (a->window_left >= 0 && ip - a->window_left > lo)
                lo = ip - a->window_left;
            if (a->window_right >= 0 && ip + a->window_right < hi)
                hi = ip + a->window_right;
            if (lse != -INFINITY && lo <= hi) {       /* a row that sees no key has P = dS = 0 */
                rs->lse[r] = lse;
                rs->dd[r] = a->dd[s->bt * a->d_sb + h * a->d_sh + s->qoff + i];
                rs->lo[r] = (int32_t)lo;
                rs->hi[r] = (int32_t)hi;
                rs->lo_any = lo < rs->lo_any ? lo : rs->lo_any;
                rs->hi_any = hi > rs->hi_any ? hi : rs->hi_any;
            }
        }
        for (int x = 0; qt && x < d4; x++)
            qt[(size_t)x * TR + r] = qrow[x];
        for (int x = 0; dot && x < dv4; x++)
            dot[(size_t)x * TR + r] = orow[x];
        if (qr)
            memcpy(qr + (size_t)r * dw, qrow, (size_t)dw * sizeof *qr);
        if (dor)
            memcpy(dor + (size_t)r * dvw, orow, (size_t)dvw * sizeof *dor);
    }
}

/* P and dS of keys j0 .. j0 + nkp - 1 by nrv row vectors, in place: St holds Q.K and dPt dO.V on entry, P and
 * dS on return (0 where a row does not see the key); dx (when not NULL) += sum_j P dP per row. */
static void bwd_p_ds(const aule__cpu_bwd *a, float *st, float *dpt, int64_t j0, int nkp, int nrv, const bwd_rows *rs,
                     float *dx)
{
    const bool cap = a->softcap > 0.0f;
    const vf scale = splat(a->scale), log2e = splat(LOG2E), one = splat(1.0f), zero = splat(0.0f);
    for (int rv = 0; rv < nrv; rv++) {
        const vf lse = vload(rs->lse + rv * W), dd = vload(rs->dd + rv * W);
        const vi lo = *(const vi *)(rs->lo + rv * W), hi = *(const vi *)(rs->hi + rv * W);
        vf pdp = zero;
        for (int jj = 0; jj < nkp; jj++) {
            float *sp = st + (size_t)jj * TR + rv * W, *dp = dpt + (size_t)jj * TR + rv * W;
            vf x = vload(sp) * scale, t = zero;
            if (cap) {
                t = vtanh(x * (1.0f / a->softcap));
                x = a->softcap * t;
            }
            vi j = (vi){0} + (int32_t)(j0 + jj);
            vf p = vselect((j >= lo) & (j <= hi), vexp2((x - lse) * log2e), zero);
            vf dpv = vload(dp), ds = p * (dpv - dd);
            if (cap)
                ds *= one - t * t;
            pdp += p * dpv;
            vstore(sp, p);
            vstore(dp, ds);
        }
        if (dx)
            vstore(dx + rv * W, vload(dx + rv * W) + pdp);
    }
}

/* bwd_p_ds with rows as they lie (bwd_dkdv): S [nrows][TK] and dP hold Q.K and dO.V of keys j0 .. j0 + TK - 1;
 * on return P and dS. */
static void bwd_p_ds_rows(const aule__cpu_bwd *a, float *sm, float *dpm, int64_t j0, int nrows, const bwd_rows *rs)
{
    const bool cap = a->softcap > 0.0f;
    const vf scale = splat(a->scale), log2e = splat(LOG2E), one = splat(1.0f), zero = splat(0.0f);
    vi lane;
    for (int i = 0; i < W; i++)
        lane[i] = i;
    for (int r = 0; r < nrows; r++) {
        const vf lse = splat(rs->lse[r]), dd = splat(rs->dd[r]);
        const vi lo = (vi){0} + rs->lo[r], hi = (vi){0} + rs->hi[r];
        for (int jj = 0; jj < TK; jj += W) {
            float *sp = sm + (size_t)r * TK + jj, *dp = dpm + (size_t)r * TK + jj;
            vf x = vload(sp) * scale, t = zero;
            if (cap) {
                t = vtanh(x * (1.0f / a->softcap));
                x = a->softcap * t;
            }
            vi j = lane + (int32_t)(j0 + jj);
            vf p = vselect((j >= lo) & (j <= hi), vexp2((x - lse) * log2e), zero);
            vf ds = p * (vload(dp) - dd);
            if (cap)
                ds *= one - t * t;
            vstore(sp, p);
            vstore(dp, ds);
        }
    }
}

/* bwd_dkdv's scratch, carved once per task. */
typedef struct dkdv_mem {
    float *kt, *vt, *qr, *dor, *dka, *dva, *sm, *dpm;
    float *kr, *dqa;               /* fused: K's rows [TK][DW]; dQ of the group's rows [rows][DW] */
    bwd_rows rs;
} dkdv_mem;

/* dK and dV of keys j0 .. of sequence s, KV head kvh, written out; fused, their share of dQ added to m->dqa. */
static void dkdv_tile(const aule__cpu_bwd *a, const bwd_seq *s, int kvh, int64_t j0, dkdv_mem *m)
{
    const int d = a->d, dv = a->dv, d4 = round_up(d, CB), dv4 = round_up(dv, CB);
    const int dw = round_up(d, W), dvw = round_up(dv, W);
    const int nk = s->sk - j0 < TK ? (int)(s->sk - j0) : TK, nkp = round_up(nk, KB);
    bwd_load_keys_t(a, false, s, kvh, j0, nk, m->kt, d4);
    bwd_load_keys_t(a, true, s, kvh, j0, nk, m->vt, dv4);
    if (m->dqa)
        bwd_load_keys(a, false, s, kvh, j0, nk, nkp, m->kr, dw);
    memset(m->dka, 0, (size_t)TK * dw * sizeof *m->dka);
    memset(m->dva, 0, (size_t)TK * dvw * sizeof *m->dva);

    /* Query positions that see one of these keys (bottom-right aligned: i' = i + sk - sq). */
    const int64_t shift = s->sk - s->sq, rows = s->sq * a->gqa;
    int64_t lo = a->window_right >= 0 ? j0 - a->window_right - shift : 0;
    int64_t hi = a->window_left >= 0 ? j0 + nk - 1 + a->window_left - shift : s->sq - 1;
    lo = lo > 0 ? lo : 0;
    hi = hi < s->sq - 1 ? hi : s->sq - 1;
    for (int64_t row0 = lo <= hi ? lo * a->gqa / TR * TR : rows; row0 < rows && row0 <= hi * a->gqa + a->gqa - 1;
         row0 += TR) {
        int nrows = rows - row0 < TR ? (int)(rows - row0) : TR;
        bwd_load_rows(a, s, kvh, row0, nrows, NULL, m->qr, NULL, m->dor, &m->rs);
        if (m->rs.lo_any > j0 + nk - 1 || m->rs.hi_any < j0)
            continue;
        rk_tile(m->qr, dw, m->kt, d4, m->sm, nrows);           /* S = Q K^T */
        rk_tile(m->dor, dvw, m->vt, dv4, m->dpm, nrows);       /* dP = dO V^T */
        bwd_p_ds_rows(a, m->sm, m->dpm, j0, nrows, &m->rs);
        tr_tile(m->sm, m->dor, dvw, nrows, nkp, m->dva);      /* dV += P^T dO */
        tr_tile(m->dpm, m->qr, dw, nrows, nkp, m->dka);       /* dK += dS^T Q */
        if (m->dqa) {                                          /* dQ += dS K, whole groups of RR rows */
            int nrp = round_up(nrows, RR);
            memset(m->dpm + (size_t)nrows * TK, 0, (size_t)(nrp - nrows) * TK * sizeof *m->dpm);
            qr_tile(m->dpm, m->kr, dw, nkp, m->dqa + (size_t)row0 * dw, nrp);
        }
    }

    for (int jj = 0; jj < nk; jj++) {
        int64_t at = s->bt * a->dk_sb + kvh * a->dk_sh + (s->koff + j0 + jj) * a->dk_ss;
        for (int x = 0; x < d; x++)
            store_value(a->dtype, a->grad_k, at + x, m->dka[(size_t)jj * dw + x] * a->scale);
        at = s->bt * a->dv_sb + kvh * a->dv_sh + (s->koff + j0 + jj) * a->dv_ss;
        for (int x = 0; x < dv; x++)
            store_value(a->dtype, a->grad_v, at + x, m->dva[(size_t)jj * dvw + x]);
    }
}

/* bwd_dkdv: task = (key tile, sequence, KV head), the earliest key tiles (under a causal mask the heaviest)
 * first; fused: task = (sequence, KV head), every key tile in order, then dQ of the group's rows. */
static void bwd_dkdv(const aule__cpu_bwd *a, int64_t task, void *scratch)
{
    int kvh = (int)(task % a->kv_heads);
    int b = (int)(task / a->kv_heads % a->batch);
    int64_t tile = task / a->kv_heads / a->batch;
    bwd_seq s = bwd_sequence(a, b);
    const int d = a->d, dv = a->dv, d4 = round_up(d, CB), dv4 = round_up(dv, CB);
    const int dw = round_up(d, W), dvw = round_up(dv, W);

    float *mem = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    dkdv_mem m = {0};
    m.kt = carve(&mem, (size_t)d4 * TK);
    m.vt = carve(&mem, (size_t)dv4 * TK);
    m.qr = carve(&mem, (size_t)TR * dw);
    m.dor = carve(&mem, (size_t)TR * dvw);
    m.dka = carve(&mem, (size_t)TK * dw);
    m.dva = carve(&mem, (size_t)TK * dvw);
    m.sm = carve(&mem, (size_t)TR * TK);
    m.dpm = carve(&mem, (size_t)TR * TK);
    m.rs = (bwd_rows){.lse = carve(&mem, TR), .dd = carve(&mem, TR), .lo = (int32_t *)carve(&mem, TR),
                      .hi = (int32_t *)carve(&mem, TR)};
    if (!a->fused) {
        if (tile * TK < s.sk)
            dkdv_tile(a, &s, kvh, tile * TK, &m);
        return;
    }
    const int64_t rows = s.sq * a->gqa;
    m.kr = carve(&mem, (size_t)TK * dw);
    m.dqa = carve(&mem, (size_t)round_up((int)rows, TR) * dw);
    memset(m.dqa, 0, (size_t)round_up((int)rows, TR) * dw * sizeof *m.dqa);
    for (int64_t j0 = 0; j0 < s.sk; j0 += TK)
        dkdv_tile(a, &s, kvh, j0, &m);
    for (int64_t g = 0; g < rows; g++) {
        int64_t i = g / a->gqa, h = (int64_t)kvh * a->gqa + g % a->gqa;
        int64_t at = s.bt * a->dq_sb + h * a->dq_sh + (s.qoff + i) * a->dq_ss;
        for (int x = 0; x < d; x++)
            store_value(a->dtype, a->grad_q, at + x, m.dqa[(size_t)g * dw + x] * a->scale);
    }
}

/* bwd_dq: task = (row tile, sequence, KV head); the last row tiles (under a causal mask the heaviest) first. */
static void bwd_dq(const aule__cpu_bwd *a, int64_t task, void *scratch)
{
    int kvh = (int)(task % a->kv_heads);
    int b = (int)(task / a->kv_heads % a->batch);
    int rt = a->tiles - 1 - (int)(task / a->kv_heads / a->batch);
    bwd_seq s = bwd_sequence(a, b);
    const int64_t rows = s.sq * a->gqa, row0 = (int64_t)rt * TR;
    if (row0 >= rows)
        return;
    const int d = a->d, dv = a->dv, d4 = round_up(d, CB), dv4 = round_up(dv, CB);
    const int nrows = rows - row0 < TR ? (int)(rows - row0) : TR, nrv = (nrows + W - 1) / W;

    float *mem = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *qt = carve(&mem, (size_t)d4 * TR), *dot = carve(&mem, (size_t)dv4 * TR);
    float *dqt = carve(&mem, (size_t)d4 * TR);
    float *kf = carve(&mem, (size_t)TK * d4), *vfp = carve(&mem, (size_t)TK * dv4);
    float *st = carve(&mem, (size_t)TK * TR), *dpt = carve(&mem, (size_t)TK * TR);
    float *ones = carve(&mem, TR), *dx = carve(&mem, TR);
    bwd_rows rs = {.lse = carve(&mem, TR), .dd = carve(&mem, TR), .lo = (int32_t *)carve(&mem, TR),
                   .hi = (int32_t *)carve(&mem, TR)};

    bwd_load_rows(a, &s, kvh, row0, nrows, qt, NULL, dot, NULL, &rs);
    memset(dqt, 0, (size_t)d4 * TR * sizeof *dqt);
    for (int r = 0; r < TR; r++) {
        ones[r] = 1.0f;
        dx[r] = 0.0f;
    }
    for (int64_t j0 = rs.lo_any; j0 <= rs.hi_any; j0 += TK) {
        int nk = rs.hi_any - j0 + 1 < TK ? (int)(rs.hi_any - j0 + 1) : TK, nkp = round_up(nk, KB);
        bwd_load_keys(a, false, &s, kvh, j0, nk, nkp, kf, d4);
        bwd_load_keys(a, true, &s, kvh, j0, nk, nkp, vfp, dv4);
        qk_tile(qt, kf, d4, nkp, st, nrv);
        qk_tile(dot, vfp, dv4, nkp, dpt, nrv);
        bwd_p_ds(a, st, dpt, j0, nkp, nrv, &rs, a->dx ? dx : NULL);
        pv_tile(dpt, kf, d4, nkp, dqt, ones, nrv);     /* dQ^T += K^T dS^T */
    }

    for (int r = 0; r < nrows; r++) {
        int64_t g = row0 + r, i = g / a->gqa, h = (int64_t)kvh * a->gqa + g % a->gqa;
        int64_t at = s.bt * a->dq_sb + h * a->dq_sh + (s.qoff + i) * a->dq_ss;
        for (int x = 0; x < d; x++)
            store_value(a->dtype, a->grad_q, at + x, dqt[(size_t)x * TR + r] * a->scale);
        if (a->dx)
            a->dx[s.bt * a->d_sb + h * a->d_sh + s.qoff + i] = dx[r];
    }
}
