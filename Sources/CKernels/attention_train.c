// Training's causal attention, fused and tiled (FlashAttention-2): one (sequence, kv head) unit per
// call, its `group` query heads in order. No (T, T) matrix of scores or probabilities is kept: the
// forward saves each query row's log-sum-exp L, and the backward recomputes P = exp(S − L) tile by tile.
// Query row i sees keys [first_i, i]: first_i = max(0, i − positions[i], i − window + 1) (the packed
// document's start and the sliding window, as CausalAttention.firstVisible), so key tiles a query tile
// cannot see (the causal upper half, earlier documents, keys out of the window) are never multiplied.
// The forward keeps scores transposed, Sᵀ (keys, BQ queries), so the mask and the running softmax run 16
// queries a vector (8 on AVX2); the backward keeps them as S (BQ queries, keys), each row's L and D one broadcast.
//   forward,  per query tile, over its key tiles:   Sᵀ = K·(scale·Q)ᵀ,  running max m and sum l,
//             O = O·e^(m_old − m) + P·V;  at the end O /= l,  L = m + log l
//   backward, per head, per key tile, over the query tiles that see it (D_i = Σ_c dO_ic·O_ic):
//             S = (scale·Q)·Kᵀ,  P = exp(S − L),  dP = dO·Vᵀ,  dS = P ∘ (dP − D),
//             dV += Pᵀ·dO,  dK += dSᵀ·Q,  dQ += dS·K   (dK, dQ times scale when written out)
// Both passes' products go through bw_multiply (register tiles up to 6 × 64, see below), leaving out terms past
// the causal diagonal; they run AVX-512 where the CPU has it with the same bits as their AVX2 fallback. Rows
// of d floats are padded to dp = round16(d) where they are a B operand. The group's heads add into the same
// dK, dV accumulators in order, so the result does not depend on threads. Tested against
// CausalAttention.referenceForward/Backward (BLAS with stored probabilities) in Tests/TrainingTests/FlashAttentionTests.swift.
#include "CKernels.h"
#include "simd.h"
#include <math.h>
#include <string.h>

#define TQ FA_BQ   // query rows per tile (lanes of Sᵀ)
#define TK FA_BK   // keys per tile

static inline size_t padded_rows(int t) { return ((size_t)t + TK - 1) / TK * TK; }

size_t hayai_causal_attention_scratch(int t, int d) {
    const size_t tp = padded_rows(t), dp = (size_t)round16(d);
    // The backward's (the forward needs less): first (tp ints) + per-tile min/max first + Kp, Qp, dOp, dQ, dK, dV
    // (tp·dp each) + Kᵀ, Vᵀ by key tile and scale·Q (tp·d each) + L, D (tp each) + the S/P and dP/dS tiles (TQ·TK each).
    return tp + 2 * (tp / TQ) + 6 * tp * dp + 3 * tp * (size_t)d + 2 * tp + 2 * TQ * TK + 16;
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

// The products run through simd.h's bw_multiply (register tiles up to 6 × 64 with per-block trims).

// Rows [j0, j0 + nk) transposed: out (d, width), row j0 + j in column j, columns nk..<width zero (a key tile for
// the backward, width TK; a query tile for the forward, width TQ).
// 8 × 8 blocks through registers, the edges one float at a time.
static void transpose_rows(const float *x, size_t ld, int j0, int nk, int d, int width, float *out) {
    int j = 0;
    for (; j + 8 <= nk; j += 8) {
        const float *row = x + (size_t)(j0 + j) * ld;
        int c = 0;
        for (; c + 8 <= d; c += 8) {
            __m256 r[8], u[8], w[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(row + (size_t)i * ld + c);
            for (int i = 0; i < 8; i += 2) { u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]); u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); }
            for (int i = 0; i < 8; i += 4) {
                w[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44); w[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xEE);
                w[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44); w[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
            }
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(out + (size_t)(c + i) * width + j, _mm256_permute2f128_ps(w[i], w[i + 4], 0x20));
                _mm256_storeu_ps(out + (size_t)(c + i + 4) * width + j, _mm256_permute2f128_ps(w[i], w[i + 4], 0x31));
            }
        }
        for (; c < d; c++)
            for (int i = 0; i < 8; i++) out[(size_t)c * width + j + i] = row[(size_t)i * ld + c];
    }
    for (int c = 0; c < d; c++)
        for (int jj = j; jj < width; jj++) out[(size_t)c * width + jj] = jj < nk ? x[(size_t)(j0 + jj) * ld + c] : 0;
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
            // The query tile transposed and scaled, Qᵀ (d, TQ), lanes past t zero.
            transpose_rows(q + (size_t)g * d, ldq, i0, rows, d, TQ, qt);
            for (int e = 0; e < d * TQ; e++) qt[e] *= scale;
            lane_masks(i0, t, first, pos, firstv);
            memset(o, 0, sizeof(float) * (size_t)TQ * dp);
            for (int r = 0; r < TQ; r++) { m[r] = FA_EMPTY; l[r] = 0; }
            for (int j0 = minFirst[tile]; j0 <= last; j0 += TK) {
                const int nk = last + 1 - j0 < TK ? last + 1 - j0 : TK;
                // Every lane sees every key of the tile: no mask.
                const int whole = j0 + nk - 1 <= i0 && j0 >= maxFirst[tile] && rows == TQ;
                // Sᵀ (nk, TQ) = K·Qᵀ. Query lanes [16c, 16c + 16) see no key past i0 + 16c + 15 (nor any, past t): in the
                // tiles the causal diagonal crosses, their block of columns leaves out the key rows after it (the mask
                // then hides those scores, whatever the tile holds there).
                const float *ktile = k + (size_t)j0 * ldkv;
                if (whole || j0 + nk <= i0 + 16) bw_multiply(nk, TQ, d, ktile, ldkv, 1, qt, TQ, st, TQ, 0, bw_whole);
                else
                    for (int c = 0; c < TQ && c < rows; c += 16) {
                        const int n = i0 + c + 16 - j0 < nk ? i0 + c + 16 - j0 : nk;
                        if (n > 0) bw_multiply(n, 16, d, ktile, ldkv, 1, qt + c, TQ, st + c, TQ, 0, bw_whole);
                    }
                fa_softmax_tile(st, nk, TQ, j0, pos, firstv, !whole, m, l, alpha, o, rows, dp);
                // O (rows, dp) += P·V: query row i0 + r has P = 0 past key i0 + r, terms the products leave out.
                const bw_trim causal = {bw_whole.cols, bw_whole.kFrom, i0 - j0};
                bw_multiply(rows, dp, nk, st, 1, TQ, vb + (size_t)j0 * ldv, ldv, o, (size_t)dp, 1, causal);
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

// Whether query row i sees every key of [j0, jLast].
static inline int row_sees_all(int i, int first, int j0, int jLast) { return j0 >= first && jLast <= i; }

// P = exp(S − L_i) (0 where row i does not see the key) and dS = P ∘ (dP − D_i) in place, for `rows` query
// rows from i0 of a (TQ, TK) tile whose key j0 + j is column j, cols (a multiple of 16) columns. Row i's
// scores are read only up to round16(i − j0 + 1) (what the trimmed products computed); past it P and dS are 0.
__attribute__((target("avx512f"))) static void probabilities512(float *sp, float *ds, int rows, int cols, int i0, int j0, int jLast,
                                                                const int *first, const float *lh, const float *dh) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int r = 0; r < rows; r++) {
        const int i = i0 + r;
        const __m512 lv = _mm512_set1_ps(lh[i]), dv = _mm512_set1_ps(dh[i]);
        const int all = row_sees_all(i, first[i], j0, jLast);
        const __m512i iv = _mm512_set1_epi32(i), fv = _mm512_set1_epi32(first[i]);
        const int seen = round16(i - j0 + 1) < cols ? round16(i - j0 + 1) : cols;   // past it every key is hidden from row i
        for (int c = seen; c < cols; c += 16) {
            _mm512_storeu_ps(sp + (size_t)r * TK + c, _mm512_setzero_ps());
            _mm512_storeu_ps(ds + (size_t)r * TK + c, _mm512_setzero_ps());
        }
        for (int c = 0; c < seen; c += 16) {
            float *s = sp + (size_t)r * TK + c, *g = ds + (size_t)r * TK + c;
            __m512 p = exp16(_mm512_sub_ps(_mm512_loadu_ps(s), lv));
            if (!all) {
                const __m512i key = _mm512_add_epi32(_mm512_set1_epi32(j0 + c), iota);
                const __mmask16 seen = _mm512_cmple_epi32_mask(key, iv) & _mm512_cmpge_epi32_mask(key, fv);
                p = _mm512_maskz_mov_ps(seen, p);
            }
            _mm512_storeu_ps(s, p);
            _mm512_storeu_ps(g, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(g), dv)));
        }
    }
}

static void probabilities(float *sp, float *ds, int rows, int cols, int i0, int j0, int jLast, const int *first, const float *lh,
                          const float *dh) {
    if (hayai_attend_prompt_avx512()) { probabilities512(sp, ds, rows, cols, i0, j0, jLast, first, lh, dh); return; }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int r = 0; r < rows; r++) {
        const int i = i0 + r;
        const __m256 lv = _mm256_set1_ps(lh[i]), dv = _mm256_set1_ps(dh[i]);
        const int all = row_sees_all(i, first[i], j0, jLast);
        const __m256i iv = _mm256_set1_epi32(i), fv = _mm256_set1_epi32(first[i]);
        const int seen = round16(i - j0 + 1) < cols ? round16(i - j0 + 1) : cols;
        for (int c = seen; c < cols; c += 8) {
            _mm256_storeu_ps(sp + (size_t)r * TK + c, _mm256_setzero_ps());
            _mm256_storeu_ps(ds + (size_t)r * TK + c, _mm256_setzero_ps());
        }
        for (int c = 0; c < seen; c += 8) {
            float *s = sp + (size_t)r * TK + c, *g = ds + (size_t)r * TK + c;
            __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s), lv));
            if (!all) {
                const __m256i key = _mm256_add_epi32(_mm256_set1_epi32(j0 + c), iota);
                const __m256i hidden = _mm256_or_si256(_mm256_cmpgt_epi32(key, iv), _mm256_cmpgt_epi32(fv, key));
                p = _mm256_andnot_ps(_mm256_castsi256_ps(hidden), p);
            }
            _mm256_storeu_ps(s, p);
            _mm256_storeu_ps(g, _mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(g), dv)));
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
    float *dka = dqa + tp * dp, *dva = dka + tp * dp, *kt = dva + tp * dp, *vt = kt + tp * (size_t)d, *qs = vt + tp * (size_t)d;
    float *lh = qs + tp * (size_t)d, *dh = lh + tp, *sp = dh + tp, *ds = sp + TQ * TK;
    visible_starts(t, positions, window, first, minFirst, maxFirst);
    pad_rows(k, ldkv, t, t, d, dp, kp);
    for (int j0 = 0; j0 < t; j0 += TK) {
        const int nk = t - j0 < TK ? t - j0 : TK;
        transpose_rows(k, ldkv, j0, nk, d, TK, kt + (size_t)j0 * d);
        transpose_rows(v, ldkv, j0, nk, d, TK, vt + (size_t)j0 * d);
    }
    memset(dka, 0, sizeof(float) * (size_t)t * dp);
    memset(dva, 0, sizeof(float) * (size_t)t * dp);
    for (int g = 0; g < group; g++) {
        const float *qg = q + (size_t)g * d, *dog = dout + (size_t)g * d, *og = out + (size_t)g * d;
        // This head's queries (scaled for the scores) and output gradients in the layouts the products read, L and D per row.
        pad_rows(qg, ldq, t, (int)tp, d, dp, qp);
        pad_rows(dog, ldq, t, (int)tp, d, dp, dop);
        for (int i = 0; i < t; i++)
            for (int c = 0; c < d; c++) qs[(size_t)i * d + c] = scale * qg[(size_t)i * ldq + c];
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
            const float *ktile = kt + (size_t)j0 * d, *vtile = vt + (size_t)j0 * d;
            for (int tile = j0 / TQ; tile < tiles && tile * TQ < t; tile++) {
                const int i0 = tile * TQ, rows = t - i0 < TQ ? t - i0 : TQ, last = i0 + rows - 1;
                if (minFirst[tile] > jLast) continue;   // no row of this tile sees these keys
                // Keys j0 + [lo, hi) are the ones some row of the tile sees: past the last row (the causal diagonal) and
                // before the earliest first key no product is run (their P and dS are 0, and adding 0 changes no sum).
                const int hi = (last < jLast ? last : jLast) - j0 + 1, lo = minFirst[tile] > j0 ? minFirst[tile] - j0 : 0, cols = round16(hi);
                // S (rows, cols) = (scale·Q) Kᵀ,  dP = dO Vᵀ,  then P and dS in their place
                // Within the tile the causal diagonal leaves out more: query row i0 + r needs keys up to i0 + r, key
                // j0 + lo + r is seen from query row j0 + lo + r on.
                const int keys = hi - lo, jl = j0 + lo;
                const bw_trim scores = {i0 - j0, bw_whole.kFrom, bw_whole.kTo}, byKey = {bw_whole.cols, jl - i0, bw_whole.kTo},
                              byQuery = {bw_whole.cols, bw_whole.kFrom, i0 - jl};
                bw_multiply(rows, cols, d, qs + (size_t)i0 * d, (size_t)d, 1, ktile, TK, sp, TK, 0, scores);
                bw_multiply(rows, cols, d, dop + (size_t)i0 * dp, (size_t)dp, 1, vtile, TK, ds, TK, 0, scores);
                probabilities(sp, ds, rows, cols, i0, j0, j0 + hi - 1, first, lh, dh);
                // dV (keys, dp) += Pᵀ (keys, rows) · dO (rows, dp);  dK += dSᵀ · Q;  dQ (rows, dp) += dS (rows, keys) · K (keys, dp)
                bw_multiply(keys, dp, rows, sp + lo, 1, TK, dop + (size_t)i0 * dp, (size_t)dp, dva + (size_t)jl * dp, (size_t)dp, 1, byKey);
                bw_multiply(keys, dp, rows, ds + lo, 1, TK, qp + (size_t)i0 * dp, (size_t)dp, dka + (size_t)jl * dp, (size_t)dp, 1, byKey);
                bw_multiply(rows, dp, keys, ds + lo, TK, 1, kp + (size_t)jl * dp, (size_t)dp, dqa + (size_t)i0 * dp, (size_t)dp, 1, byQuery);
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
