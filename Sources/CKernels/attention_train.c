// Training's causal attention, fused and tiled (FlashAttention-2): one (sequence, kv head) unit per
// call, its `group` query heads in order. No (T, T) matrix of scores or probabilities is kept: the
// forward saves each query row's log-sum-exp L, and the backward recomputes P = exp(S − L) tile by tile.
// Query row i sees keys [first_i, i]: first_i = max(0, i − positions[i], i − window + 1) (the packed
// document's start and the sliding window, as CausalAttention.firstVisible), so key tiles a query tile
// cannot see (the causal upper half, earlier documents, keys out of the window) are never multiplied.
// Scores are kept transposed, Sᵀ (keys, BQ queries), so the mask and the softmax run 8 queries a vector.
//   forward,  per query tile, over its key tiles:   Sᵀ = K·(scale·Q)ᵀ,  running max m and sum l,
//             O = O·e^(m_old − m) + P·V;  at the end O /= l,  L = m + log l
//   backward, per head, per key tile, over the query tiles that see it (D_i = Σ_c dO_ic·O_ic):
//             Pᵀ = exp(Sᵀ − L),  dV += Pᵀ·dO,  dPᵀ = V·dOᵀ,  dSᵀ = Pᵀ ∘ (dPᵀ − D),
//             dQ += dS·K,  dK += dSᵀ·Q   (both times scale when written out)
// Every product goes through simd.h's fa_multiply (AVX-512 where the CPU has it, the same bits as AVX2); rows of d floats are padded to dp = round16(d)
// where they are its B operand. The group's heads add into the same dK, dV accumulators in order, so
// the result does not depend on threads. Tested against CausalAttention.referenceForward/Backward
// (BLAS with stored probabilities) in Tests/TrainingTests/FlashAttentionTests.swift.
#include "CKernels.h"
#include "simd.h"
#include <math.h>
#include <string.h>

#define TQ FA_BQ   // query rows per tile (lanes of Sᵀ)
#define TK FA_BK   // keys per tile

static inline size_t padded_rows(int t) { return ((size_t)t + TK - 1) / TK * TK; }

size_t hayai_causal_attention_scratch(int t, int d) {
    const size_t tp = padded_rows(t), dp = (size_t)round16(d);
    // first (tp ints) + per-tile min/max first + Kp, Qp, dOp, dQ, dK, dV (tp·dp each) + Qᵀ, dOᵀ (tp·d each)
    // + L, D (tp each) + Sᵀ, dPᵀ (TK·TQ each) + the forward's O tile, m, l, alpha.
    return tp + 2 * (tp / TQ) + 6 * tp * dp + 2 * tp * (size_t)d + 2 * tp + 2 * TK * TQ + TQ * dp + 3 * TQ + 16;
}

// first[i] for the t rows of one sequence; minFirst/maxFirst over each query tile's rows.
static void visible_starts(int t, const int32_t *positions, int window, int *first, int *minFirst, int *maxFirst) {
    for (int i = 0; i < t; i++) {
        int f = 0;
        if (positions && i - positions[i] > f) f = i - positions[i];
        if (window > 0 && i - window + 1 > f) f = i - window + 1;
        first[i] = f;
    }
    for (int i0 = 0, tile = 0; i0 < t; i0 += TQ, tile++) {
        int lo = first[i0], hi = first[i0];
        for (int i = i0; i < i0 + TQ && i < t; i++) { lo = first[i] < lo ? first[i] : lo; hi = first[i] > hi ? first[i] : hi; }
        minFirst[tile] = lo; maxFirst[tile] = hi;
    }
}

// Per 8-query vector v of the tile at i0: each lane's row (−1 past t: sees nothing) and first key.
static void lane_masks(int i0, int t, const int *first, __m256i *pos, __m256i *firstv) {
    for (int v = 0; v < TQ / 8; v++) {
        int p[8], f[8];
        for (int l = 0; l < 8; l++) {
            const int i = i0 + 8 * v + l;
            p[l] = i < t ? i : -1; f[l] = i < t ? first[i] : 0;
        }
        pos[v] = _mm256_loadu_si256((const __m256i *)p); firstv[v] = _mm256_loadu_si256((const __m256i *)f);
    }
}

// (rows, d) rows `ld` apart -> (rows, dp) with zero pad columns, rows..<rowsPadded zero.
static void pad_rows(const float *x, size_t ld, int rows, int rowsPadded, int d, int dp, float *out) {
    for (int r = 0; r < rowsPadded; r++) {
        float *o = out + (size_t)r * dp;
        if (r < rows) { memcpy(o, x + (size_t)r * ld, sizeof(float) * (size_t)d); memset(o + d, 0, sizeof(float) * (size_t)(dp - d)); }
        else memset(o, 0, sizeof(float) * (size_t)dp);
    }
}

// The query tile at i0 transposed and scaled: out (d, TQ), lanes past t zero.
static void transpose_tile(const float *x, size_t ld, int i0, int t, int d, float scale, float *out) {
    for (int c = 0; c < d; c++)
        for (int r = 0; r < TQ; r++) out[(size_t)c * TQ + r] = i0 + r < t ? scale * x[(size_t)(i0 + r) * ld + c] : 0;
}

void hayai_causal_attention_forward(const float *q, size_t ldq, const float *k, const float *v, size_t ldkv, int t, int d,
                                    int group, const int32_t *positions, int window, float scale, float *scratch,
                                    float *out, size_t ldo, float *lse) {
    const size_t tp = padded_rows(t);
    const int dp = round16(d);
    int *first = (int *)scratch, *minFirst = first + tp, *maxFirst = minFirst + tp / TQ;
    float *vp = scratch + tp + 2 * (tp / TQ), *qt = vp + tp * dp, *st = qt + (size_t)d * TQ, *o = st + TK * TQ;
    float *m = o + (size_t)TQ * dp, *l = m + TQ, *alpha = l + TQ;
    visible_starts(t, positions, window, first, minFirst, maxFirst);
    // V as the B operand of P·V: in place when its rows need no padding.
    const int directV = d == dp;
    if (!directV) pad_rows(v, ldkv, t, t, d, dp, vp);
    const float *vb = directV ? v : vp;
    const size_t ldv = directV ? ldkv : (size_t)dp;
    __m256i pos[TQ / 8], firstv[TQ / 8];
    for (int g = 0; g < group; g++) {
        for (int i0 = 0, tile = 0; i0 < t; i0 += TQ, tile++) {
            const int rows = t - i0 < TQ ? t - i0 : TQ, last = i0 + rows - 1;
            transpose_tile(q + (size_t)g * d, ldq, i0, t, d, scale, qt);
            lane_masks(i0, t, first, pos, firstv);
            memset(o, 0, sizeof(float) * (size_t)TQ * dp);
            for (int r = 0; r < TQ; r++) { m[r] = FA_EMPTY; l[r] = 0; }
            for (int j0 = minFirst[tile]; j0 <= last; j0 += TK) {
                const int nk = last + 1 - j0 < TK ? last + 1 - j0 : TK;
                // Every lane sees every key of the tile: no mask.
                const int whole = j0 + nk - 1 <= i0 && j0 >= maxFirst[tile] && rows == TQ;
                fa_multiply(nk, TQ, d, k + (size_t)j0 * ldkv, ldkv, 1, qt, TQ, st, TQ, 0);
                fa_softmax_tile(st, nk, TQ, j0, pos, firstv, !whole, m, l, alpha, o, rows, dp);
                fa_multiply(rows, dp, nk, st, 1, TQ, vb + (size_t)j0 * ldv, ldv, o, (size_t)dp, 1);
            }
            for (int r = 0; r < rows; r++) {
                const float inv = 1.0f / l[r];
                const float *orow = o + (size_t)r * dp;
                float *dst = out + (size_t)(i0 + r) * ldo + (size_t)g * d;
                for (int c = 0; c < d; c++) dst[c] = orow[c] * inv;
                lse[(size_t)g * t + i0 + r] = m[r] + logf(l[r]);
            }
        }
    }
}

void hayai_causal_attention_backward(const float *dout, const float *q, const float *out, size_t ldq, const float *k,
                                     const float *v, size_t ldkv, const float *lse, int t, int d, int group,
                                     const int32_t *positions, int window, float scale, float *scratch, float *dq,
                                     float *dk, float *dv) {
    const size_t tp = padded_rows(t);
    const int dp = round16(d), tiles = (int)(tp / TQ);
    int *first = (int *)scratch, *minFirst = first + tp, *maxFirst = minFirst + tp / TQ;
    float *kp = scratch + tp + 2 * (tp / TQ), *qp = kp + tp * dp, *dop = qp + tp * dp, *dqa = dop + tp * dp;
    float *dka = dqa + tp * dp, *dva = dka + tp * dp, *qt = dva + tp * dp, *dot = qt + tp * (size_t)d;
    float *lh = dot + tp * (size_t)d, *dh = lh + tp, *st = dh + tp, *dpt = st + TK * TQ;
    visible_starts(t, positions, window, first, minFirst, maxFirst);
    pad_rows(k, ldkv, t, t, d, dp, kp);
    memset(dka, 0, sizeof(float) * (size_t)t * dp);
    memset(dva, 0, sizeof(float) * (size_t)t * dp);
    __m256i pos[TQ / 8], firstv[TQ / 8];
    for (int g = 0; g < group; g++) {
        const float *qg = q + (size_t)g * d, *dog = dout + (size_t)g * d, *og = out + (size_t)g * d;
        // This head's queries and output gradients in the layouts the products read, L and D per row.
        pad_rows(qg, ldq, t, (int)tp, d, dp, qp);
        pad_rows(dog, ldq, t, (int)tp, d, dp, dop);
        for (int tile = 0; tile < tiles; tile++) {
            transpose_tile(qg, ldq, tile * TQ, t, d, scale, qt + (size_t)tile * d * TQ);
            transpose_tile(dog, ldq, tile * TQ, t, d, 1, dot + (size_t)tile * d * TQ);
        }
        for (int i = 0; i < (int)tp; i++) {
            if (i >= t) { lh[i] = 0; dh[i] = 0; continue; }
            lh[i] = lse[(size_t)g * t + i];
            const float *a = dog + (size_t)i * ldq, *b = og + (size_t)i * ldq;
            __m256 s = _mm256_setzero_ps();
            int c = 0;
            for (; c + 8 <= d; c += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + c), _mm256_loadu_ps(b + c), s);
            float sum = hsum8(s);
            for (; c < d; c++) sum += a[c] * b[c];
            dh[i] = sum;
        }
        memset(dqa, 0, sizeof(float) * (size_t)t * dp);
        for (int j0 = 0; j0 < t; j0 += TK) {
            const int nk = t - j0 < TK ? t - j0 : TK, jLast = j0 + nk - 1;
            for (int tile = j0 / TQ; tile < tiles && tile * TQ < t; tile++) {
                const int i0 = tile * TQ, rows = t - i0 < TQ ? t - i0 : TQ;
                if (minFirst[tile] > jLast) continue;   // no row of this tile sees these keys
                const int whole = jLast <= i0 && j0 >= maxFirst[tile] && rows == TQ;
                lane_masks(i0, t, first, pos, firstv);
                fa_multiply(nk, TQ, d, k + (size_t)j0 * ldkv, ldkv, 1, qt + (size_t)tile * d * TQ, TQ, st, TQ, 0);
                fa_multiply(nk, TQ, d, v + (size_t)j0 * ldkv, ldkv, 1, dot + (size_t)tile * d * TQ, TQ, dpt, TQ, 0);
                for (int vv = 0; vv < TQ / 8; vv++) {
                    const __m256 lv = _mm256_loadu_ps(lh + i0 + 8 * vv), dv8 = _mm256_loadu_ps(dh + i0 + 8 * vv);
                    for (int j = 0; j < nk; j++) {
                        float *sj = st + (size_t)j * TQ + 8 * vv, *pj = dpt + (size_t)j * TQ + 8 * vv;
                        __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(sj), lv));
                        if (!whole) p = _mm256_andnot_ps(fa_hidden(j0 + j, pos[vv], firstv[vv]), p);
                        _mm256_storeu_ps(sj, p);
                        _mm256_storeu_ps(pj, _mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(pj), dv8)));
                    }
                }
                // dV (nk, dp) += Pᵀ (nk, rows) · dO (rows, dp);  dK += dSᵀ · Q;  dQ (rows, dp) += dS (rows, nk) · K (nk, dp)
                fa_multiply(nk, dp, rows, st, TQ, 1, dop + (size_t)i0 * dp, (size_t)dp, dva + (size_t)j0 * dp, (size_t)dp, 1);
                fa_multiply(nk, dp, rows, dpt, TQ, 1, qp + (size_t)i0 * dp, (size_t)dp, dka + (size_t)j0 * dp, (size_t)dp, 1);
                fa_multiply(rows, dp, nk, dpt, 1, TQ, kp + (size_t)j0 * dp, (size_t)dp, dqa + (size_t)i0 * dp, (size_t)dp, 1);
            }
        }
        for (int i = 0; i < t; i++)
            for (int c = 0; c < d; c++) dq[(size_t)i * ldq + (size_t)g * d + c] = scale * dqa[(size_t)i * dp + c];
    }
    for (int i = 0; i < t; i++)
        for (int c = 0; c < d; c++) {
            dk[(size_t)i * ldkv + c] = scale * dka[(size_t)i * dp + c];
            dv[(size_t)i * ldkv + c] = dva[(size_t)i * dp + c];
        }
}
