// AVX2 helpers shared by the C kernels (private to CKernels: not in include/): a horizontal sum,
// a vectorized exp (and the prompt attention's 2^x), and the register-blocked product the flash-style attention kernels (rowops.c's
// prompt attention, attention_train.c's training forward and backward) run all their tiles through.
#pragma once
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// ---- exp: Cephes-style range reduction and a degree-5 polynomial (relative error ~2e-7).

static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365447504f);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// exp8 on 16 lanes: the same operations in the same order, so each lane's result is exp8's bit for bit.
__attribute__((target("avx512f"))) static inline __m512 exp16(__m512 x) {
    const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-87.3365447504f);
    x = _mm512_max_ps(_mm512_min_ps(x, hi), lo);
    __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 y = _mm512_set1_ps(1.9875691500E-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

// ---- 2^x for x ≤ FA_LAZY, the prompt attention's softmax (its scores are in base 2: Q carries log2(e)): x clamped
// to ≥ −125, n = round(x), f = x − n (exact) in [−0.5, 0.5], 2^f by Cephes exp2f's degree-6 polynomial (relative
// error ~2e-7, exp8's), times 2^n. Against exp8 this leaves out the multiply by log2(e) and its two-step reduction
// (Q was scaled once per tile instead). 2^f ≥ 2^−0.5 and n ≥ −125 keep every result normal, so the exponent
// added as bits (AVX2) and _mm512_scalef_ps (AVX-512) give the same bits.
static inline __m256 fa_exp2_8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-125.0f));
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), f = _mm256_sub_ps(x, n);
    __m256 y = _mm256_set1_ps(1.535336188319500E-4f);
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.339887440266574E-3f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(9.618437357674640E-3f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(5.550332471162809E-2f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(2.402264791363012E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(6.931472028550421E-1f));
    y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(1.0f));
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(y), _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23)));
}

__attribute__((target("avx512f"))) static inline __m512 fa_exp2_16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-125.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), f = _mm512_sub_ps(x, n);
    __m512 y = _mm512_set1_ps(1.535336188319500E-4f);
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.339887440266574E-3f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(9.618437357674640E-3f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(5.550332471162809E-2f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(2.402264791363012E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(6.931472028550421E-1f));
    y = _mm512_fmadd_ps(y, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

// C[r][0..16) (=|+=) Σ_k A[r·ars + k·aks] · B[k][0..16) for r < R (R ≤ 6: 12 accumulators, enough in
// flight for two FMA pipes of latency 4). Each element adds its k in order whatever R is, so how rows
// are grouped does not change a bit of the result.
__attribute__((always_inline)) static inline void fa_kernel(int R, int K, const float *a, size_t ars, size_t aks, const float *b,
                                                            size_t ldb, float *c, size_t ldc, int accumulate) {
    __m256 acc[6][2];
    for (int r = 0; r < R; r++) {
        acc[r][0] = accumulate ? _mm256_loadu_ps(c + r * ldc) : _mm256_setzero_ps();
        acc[r][1] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8) : _mm256_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        const __m256 b0 = _mm256_loadu_ps(b + (size_t)k * ldb), b1 = _mm256_loadu_ps(b + (size_t)k * ldb + 8);
        for (int r = 0; r < R; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * ars + k * aks);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) { _mm256_storeu_ps(c + r * ldc, acc[r][0]); _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]); }
}

// C (rows, cols) (=|+=) A (rows, K) · B (K, cols), A[r][k] at a[r·ars + k·aks]; cols a multiple of 16.
static inline void fa_product(int rows, int cols, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                       size_t ldc, int accumulate) {
    for (int j = 0; j < cols; j += 16) {
        int r = 0;
        for (; r + 6 <= rows; r += 6) fa_kernel(6, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
        if (rows - r >= 4) { fa_kernel(4, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate); r += 4; }
        if (rows - r >= 2) { fa_kernel(2, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate); r += 2; }
        if (rows - r == 1) fa_kernel(1, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
    }
}

int hayai_attend_prompt_avx512(void);

// In base 2 the running maximum of a query moves only when a key tile's maximum passes it by more than FA_LAZY
// (the tile's P are then ≤ 2^FA_LAZY, far from overflowing a sum): in most tiles of a long prompt no query's
// maximum moves and O is left as it is (the result is the same up to rounding: O and l carry the same factor).
#define FA_LAZY 8.0f

// The flash-style kernels' tiles: FA_BQ query rows (the lanes of a transposed score tile Sᵀ (keys, FA_BQ),
// 16 a vector on AVX-512, 8 on AVX2), FA_BK keys.
#define FA_BQ 32
#define FA_BK 64
#define FA_EMPTY (-1e30f)   // the running maximum of a query that has seen no key yet

// The lanes of a vector that may not see key `key`: key > pos or key < first.
static inline __m256 fa_hidden(int key, __m256i pos, __m256i first) {
    const __m256i kv = _mm256_set1_epi32(key);
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_cmpgt_epi32(kv, pos), _mm256_cmpgt_epi32(first, kv)));
}

// One key tile of a running softmax (AVX2, the reference for fa_softmax_tile512 below): st holds the tile's scores Sᵀ (nk, FA_BQ), key0 + j on row j, in its
// first `lanes` columns (a multiple of 8 covering `rows`: the rest are not computed and are left alone). With
// `masked`, a lane i sees key j only within [first_i, pos_i] (per vector of 8 lanes); without, every
// lane sees every key. Updates each lane's running maximum m and sum l, leaves P = exp(S − m) (0 where
// hidden) in st, and scales the first `rows` rows of the output o (FA_BQ, dp) by e^(m_old − m);
// alpha: FA_BQ floats of scratch. The caller then adds P·V into o. With base2, the scores, m and the
// exponentials are in base 2 (P = 2^(S − m), fa_exp2_8) for scores that carry log2(e); else exp8.
__attribute__((always_inline)) static inline void fa_softmax_tile256(float *st, int nk, int lanes, int key0, const __m256i *pos,
                                                                    const __m256i *first, int masked, float *m, float *l, float *alpha,
                                                                    float *o, int rows, int dp, const int base2) {
    for (int v = 0; v < lanes / 8; v++) {
        __m256 mx = _mm256_set1_ps(-INFINITY);
        for (int j = 0; j < nk; j++) {
            float *sj = st + (size_t)j * FA_BQ + 8 * v;
            __m256 sv = _mm256_loadu_ps(sj);
            if (masked) {
                sv = _mm256_blendv_ps(sv, _mm256_set1_ps(-INFINITY), fa_hidden(key0 + j, pos[v], first[v]));
                _mm256_storeu_ps(sj, sv);
            }
            mx = _mm256_max_ps(mx, sv);
        }
        const __m256 mOld = _mm256_loadu_ps(m + 8 * v);
        const __m256 mNew = base2 ? _mm256_blendv_ps(mOld, mx, _mm256_cmp_ps(mx, _mm256_add_ps(mOld, _mm256_set1_ps(FA_LAZY)), _CMP_GT_OQ))
                                  : _mm256_max_ps(mOld, mx);
        _mm256_storeu_ps(m + 8 * v, mNew);
        _mm256_storeu_ps(alpha + 8 * v, base2 ? fa_exp2_8(_mm256_sub_ps(mOld, mNew)) : exp8(_mm256_sub_ps(mOld, mNew)));
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < nk; j++) {
            float *sj = st + (size_t)j * FA_BQ + 8 * v;
            const __m256 sv = _mm256_loadu_ps(sj);
            __m256 p = base2 ? fa_exp2_8(_mm256_sub_ps(sv, mNew)) : exp8(_mm256_sub_ps(sv, mNew));
            if (masked) p = _mm256_and_ps(p, _mm256_cmp_ps(sv, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
            _mm256_storeu_ps(sj, p);
            sum = _mm256_add_ps(sum, p);
        }
        _mm256_storeu_ps(l + 8 * v, _mm256_fmadd_ps(_mm256_loadu_ps(l + 8 * v), _mm256_loadu_ps(alpha + 8 * v), sum));
    }
    // The rows whose maximum moved (alpha ≠ 1), as bits.
    uint64_t moved = 0;
    for (int v = 0; v < lanes / 8; v++)
        moved |= (uint64_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(alpha + 8 * v), _mm256_set1_ps(1), _CMP_NEQ_UQ)) << (8 * v);
    for (moved &= (2ull << (rows - 1)) - 1; moved; moved &= moved - 1) {
        const int r = __builtin_ctzll(moved);
        float *orow = o + (size_t)r * dp;
        const __m256 av = _mm256_set1_ps(alpha[r]);
        for (int c = 0; c < dp; c += 8) _mm256_storeu_ps(orow + c, _mm256_mul_ps(av, _mm256_loadu_ps(orow + c)));
    }
}

// fa_softmax_tile256 16 lanes a vector (two of its 8-lane position/first vectors): per lane the same operations
// in the same order (max over the keys, exp16 = exp8, the sum added key by key, the same fused update of l, the
// same rescale of o), so the bits are fa_softmax_tile256's. NV (1 or 2) vectors of 16 lanes from lane 16·v0 go
// through each key together: their max and sum chains are independent, so one waits less on the other's latency.
__attribute__((target("avx512f"), always_inline)) static inline void fa_softmax_lanes512(const int NV, int v0, float *st, int nk, int key0,
                                                                                        const __m256i *pos, const __m256i *first,
                                                                                        int masked, float *m, float *l, float *alpha,
                                                                                        const int base2) {
    const __m512 minusInf = _mm512_set1_ps(-INFINITY);
    __m512i pv[2], fv[2];
    __m512 mx[2], mNew[2], sum[2];
    for (int v = 0; v < NV; v++) {
        pv[v] = _mm512_inserti64x4(_mm512_castsi256_si512(pos[2 * (v0 + v)]), pos[2 * (v0 + v) + 1], 1);
        fv[v] = _mm512_inserti64x4(_mm512_castsi256_si512(first[2 * (v0 + v)]), first[2 * (v0 + v) + 1], 1);
        mx[v] = minusInf;
    }
    for (int j = 0; j < nk; j++) {
        const __m512i kv = _mm512_set1_epi32(key0 + j);
        for (int v = 0; v < NV; v++) {
            float *sj = st + (size_t)j * FA_BQ + 16 * (v0 + v);
            __m512 sv = _mm512_loadu_ps(sj);
            if (masked) {
                const __mmask16 hidden = _mm512_cmpgt_epi32_mask(kv, pv[v]) | _mm512_cmpgt_epi32_mask(fv[v], kv);
                sv = _mm512_mask_mov_ps(sv, hidden, minusInf);
                _mm512_storeu_ps(sj, sv);
            }
            mx[v] = _mm512_max_ps(mx[v], sv);
        }
    }
    for (int v = 0; v < NV; v++) {
        const __m512 mOld = _mm512_loadu_ps(m + 16 * (v0 + v));
        mNew[v] = base2 ? _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mx[v], _mm512_add_ps(mOld, _mm512_set1_ps(FA_LAZY)), _CMP_GT_OQ), mOld, mx[v])
                        : _mm512_max_ps(mOld, mx[v]);
        _mm512_storeu_ps(m + 16 * (v0 + v), mNew[v]);
        const __m512 shift = _mm512_sub_ps(mOld, mNew[v]);
        _mm512_storeu_ps(alpha + 16 * (v0 + v), base2 ? fa_exp2_16(shift) : exp16(shift));
        sum[v] = _mm512_setzero_ps();
    }
    for (int j = 0; j < nk; j++)
        for (int v = 0; v < NV; v++) {
            float *sj = st + (size_t)j * FA_BQ + 16 * (v0 + v);
            const __m512 sv = _mm512_loadu_ps(sj);
            __m512 p = base2 ? fa_exp2_16(_mm512_sub_ps(sv, mNew[v])) : exp16(_mm512_sub_ps(sv, mNew[v]));
            if (masked) p = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(sv, minusInf, _CMP_NEQ_OQ), p);
            _mm512_storeu_ps(sj, p);
            sum[v] = _mm512_add_ps(sum[v], p);
        }
    for (int v = 0; v < NV; v++) {
        float *lv = l + 16 * (v0 + v);
        _mm512_storeu_ps(lv, _mm512_fmadd_ps(_mm512_loadu_ps(lv), _mm512_loadu_ps(alpha + 16 * (v0 + v)), sum[v]));
    }
}

// `lanes` a multiple of 16.
__attribute__((target("avx512f"), always_inline)) static inline void fa_softmax_tile512(float *st, int nk, int lanes, int key0,
                                                                                        const __m256i *pos, const __m256i *first, int masked,
                                                                                        float *m, float *l, float *alpha, float *o, int rows,
                                                                                        int dp, const int base2) {
    int v = 0;
    for (; v + 2 <= lanes / 16; v += 2) fa_softmax_lanes512(2, v, st, nk, key0, pos, first, masked, m, l, alpha, base2);
    if (v < lanes / 16) fa_softmax_lanes512(1, v, st, nk, key0, pos, first, masked, m, l, alpha, base2);
    uint64_t moved = 0;
    for (v = 0; v < lanes / 16; v++)
        moved |= (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(alpha + 16 * v), _mm512_set1_ps(1), _CMP_NEQ_UQ) << (16 * v);
    for (moved &= (2ull << (rows - 1)) - 1; moved; moved &= moved - 1) {
        const int r = __builtin_ctzll(moved);
        float *orow = o + (size_t)r * dp;
        const __m512 av = _mm512_set1_ps(alpha[r]);
        for (int c = 0; c < dp; c += 16) _mm512_storeu_ps(orow + c, _mm512_mul_ps(av, _mm512_loadu_ps(orow + c)));
    }
}

// fa_softmax_tile512 in base e and in base 2, each compiled on its own.
__attribute__((target("avx512f"))) static inline void fa_softmax_tile512e(float *st, int nk, int lanes, int key0, const __m256i *pos,
                                                                          const __m256i *first, int masked, float *m, float *l,
                                                                          float *alpha, float *o, int rows, int dp) {
    fa_softmax_tile512(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp, 0);
}
__attribute__((target("avx512f"))) static inline void fa_softmax_tile512b2(float *st, int nk, int lanes, int key0, const __m256i *pos,
                                                                           const __m256i *first, int masked, float *m, float *l,
                                                                           float *alpha, float *o, int rows, int dp) {
    fa_softmax_tile512(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp, 1);
}

// The running-softmax step, 16 lanes a vector where the CPU has AVX-512 (the same bits either way).
static inline void fa_softmax_tile(float *st, int nk, int lanes, int key0, const __m256i *pos, const __m256i *first, int masked,
                                   float *m, float *l, float *alpha, float *o, int rows, int dp) {
    if (lanes % 16 == 0 && hayai_attend_prompt_avx512()) fa_softmax_tile512e(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp);
    else fa_softmax_tile256(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp, 0);
}

// fa_softmax_tile in base 2 (scores that carry log2(e), P = 2^(S − m)): the prompt attention's, whose
// exponentials then need no range reduction by ln 2.
static inline void fa_softmax_tile_exp2(float *st, int nk, int lanes, int key0, const __m256i *pos, const __m256i *first, int masked,
                                        float *m, float *l, float *alpha, float *o, int rows, int dp) {
    if (lanes % 16 == 0 && hayai_attend_prompt_avx512()) fa_softmax_tile512b2(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp);
    else fa_softmax_tile256(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp, 1);
}

// Qᵀ (d, FA_BQ) of a query tile, scaled: out[c·FA_BQ + r] = scale · x[r·ld + c] for r < rows (≤ FA_BQ), 0 for
// the lanes past them. 8 × 8 blocks go through registers (AVX2 unpack/shuffle/permute), the rest one element at a
// time; each element is the one product either way.
static inline void fa_transpose_scaled(const float *x, size_t ld, int rows, int d, float scale, float *out) {
    const __m256 sv = _mm256_set1_ps(scale);
    int r0 = 0;
    for (; r0 + 8 <= rows; r0 += 8) {
        int c = 0;
        for (; c + 8 <= d; c += 8) {
            __m256 a[8], t[8], u[8];
            for (int i = 0; i < 8; i++) a[i] = _mm256_mul_ps(sv, _mm256_loadu_ps(x + (size_t)(r0 + i) * ld + c));
            for (int i = 0; i < 8; i += 2) { t[i] = _mm256_unpacklo_ps(a[i], a[i + 1]); t[i + 1] = _mm256_unpackhi_ps(a[i], a[i + 1]); }
            for (int i = 0; i < 8; i += 4) {
                u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
                u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
                u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
                u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
            }
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(out + (size_t)(c + i) * FA_BQ + r0, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
                _mm256_storeu_ps(out + (size_t)(c + i + 4) * FA_BQ + r0, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
            }
        }
        for (; c < d; c++)
            for (int i = 0; i < 8; i++) out[(size_t)c * FA_BQ + r0 + i] = scale * x[(size_t)(r0 + i) * ld + c];
    }
    for (int c = 0; c < d; c++)
        for (int r = r0; r < FA_BQ; r++) out[(size_t)c * FA_BQ + r] = r < rows ? scale * x[(size_t)r * ld + c] : 0;
}

// d rounded up to a whole number of fa_product column blocks.
static inline int round16(int d) { return (d + 15) & ~15; }

// ---- Wide register tiles of up to 6 × 64 (AVX-512) outputs: all the products of the training attention
// (bw_multiply, with trims) and of the prompt attention (fa_multiply).
// C (R, 16·W) (=|+=) A (R, K) · B (K, 16·W), A[r][k] at a[r·ars + k·aks], B's rows ldb apart: R·W accumulators
// stay in registers across all of K, each k loads W vectors of B and broadcasts R elements of A. Every
// element is the chain fa_kernel makes (its k in order, from 0 or from C), so the AVX2 fallback (bw_product256,
// on fa_kernel) gives the same bits.
__attribute__((target("avx512f"), always_inline)) static inline void bw_tile512(const int R, const int W, int K, const float *a, size_t ars,
                                                                               size_t aks, const float *b, size_t ldb, float *c, size_t ldc,
                                                                               int accumulate) {
    __m512 acc[12][4];
    for (int r = 0; r < R; r++)
        for (int w = 0; w < W; w++) acc[r][w] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * w) : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 bv[4];
        for (int w = 0; w < W; w++) bv[w] = _mm512_loadu_ps(b + (size_t)k * ldb + 16 * w);
        for (int r = 0; r < R; r++) {
            const __m512 av = _mm512_set1_ps(a[r * ars + k * aks]);
            for (int w = 0; w < W; w++) acc[r][w] = _mm512_fmadd_ps(av, bv[w], acc[r][w]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int w = 0; w < W; w++) _mm512_storeu_ps(c + r * ldc + 16 * w, acc[r][w]);
}

// The terms of a product known to be 0 past the causal diagonal, as offsets from a block of rows [r, r + R):
// only its first round16(r + R + cols) columns are needed (scores: query row i0 + r sees keys up to i0 + r),
// and only the inner terms [max(0, r + kFrom), min(K, r + R + kTo)) can be nonzero. Leaving out a term whose
// product is ±0 changes no sum (each accumulator starts at +0 or at such a sum, never −0), so the bits are
// those of the whole product, whichever blocks the AVX-512 or the AVX2 path leaves out.
typedef struct { int cols, kFrom, kTo; } bw_trim;
static const bw_trim bw_whole = {1 << 24, -(1 << 24), 1 << 24};

#define BW_TILE_W(R)                                                                                                               \
    switch (W) {                                                                                                                   \
    case 4: bw_tile512(R, 4, K, a, ars, aks, b, ldb, c, ldc, accumulate); break;                                                   \
    case 3: bw_tile512(R, 3, K, a, ars, aks, b, ldb, c, ldc, accumulate); break;                                                   \
    case 2: bw_tile512(R, 2, K, a, ars, aks, b, ldb, c, ldc, accumulate); break;                                                   \
    default: bw_tile512(R, 1, K, a, ars, aks, b, ldb, c, ldc, accumulate); break;                                                  \
    }

// One block of R (12, 8, 6, 4, 2 or 1) rows and 16·W (W ≤ 4) columns, each a constant in its case so the
// accumulators stay in registers.
__attribute__((target("avx512f"))) static inline void bw_block512(int R, int W, int K, const float *a, size_t ars, size_t aks, const float *b,
                                                                  size_t ldb, float *c, size_t ldc, int accumulate) {
    switch (R) {
    case 12: BW_TILE_W(12) break;
    case 8: BW_TILE_W(8) break;
    case 6: BW_TILE_W(6) break;
    case 4: BW_TILE_W(4) break;
    case 2: BW_TILE_W(2) break;
    default: BW_TILE_W(1) break;
    }
}

// fa_product's contract (cols a multiple of 16) with the wide tiles: passes of 64 columns in blocks of 6 rows,
// a rest of 48 columns in 8, 32 or 16 columns in 12; the last rows of a pass in 8, 4, 2, 1. With `trim`, each
// block leaves out the columns and inner terms it says are 0.
__attribute__((target("avx512f"))) static inline void bw_product512(int rows, int cols, int K, const float *a, size_t ars, size_t aks, const float *b,
                                                             size_t ldb, float *c, size_t ldc, int accumulate, bw_trim trim) {
    for (int j = 0; j < cols; j += 64) {
        const int wmax = cols - j >= 64 ? 4 : (cols - j) / 16, rmax = wmax == 4 ? 6 : wmax == 3 ? 8 : 12;
        for (int r = 0, R; r < rows; r += R) {
            const int left = rows - r;
            R = left >= rmax ? rmax : rmax > 8 && left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const int need = round16(r + R + trim.cols) - j, W = need < 16 * wmax ? need / 16 : wmax;
            const int k0 = r + trim.kFrom > 0 ? r + trim.kFrom : 0, k1 = r + R + trim.kTo < K ? r + R + trim.kTo : K;
            if (W <= 0 || (accumulate && k1 <= k0)) continue;   // nothing of this block is needed, or nothing to add
            bw_block512(R, W, k1 > k0 ? k1 - k0 : 0, a + r * ars + (size_t)k0 * aks, ars, aks, b + (size_t)k0 * ldb + j, ldb, c + r * ldc + j,
                        ldc, accumulate);
        }
    }
}

// The AVX2 fallback: fa_product's blocks (16 columns, 6 rows, the last rows in 4, 2, 1) through its fa_kernel,
// with the same trims.
static inline void bw_product256(int rows, int cols, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                          size_t ldc, int accumulate, bw_trim trim) {
    for (int j = 0; j < cols; j += 16)
        for (int r = 0, R; r < rows; r += R) {
            const int left = rows - r;
            R = left >= 6 ? 6 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const int k0 = r + trim.kFrom > 0 ? r + trim.kFrom : 0, k1 = r + R + trim.kTo < K ? r + R + trim.kTo : K;
            if (round16(r + R + trim.cols) <= j || (accumulate && k1 <= k0)) continue;
            const int n = k1 > k0 ? k1 - k0 : 0;
            const float *ab = a + r * ars + (size_t)k0 * aks, *bb = b + (size_t)k0 * ldb + j;
            float *cb = c + r * ldc + j;
            switch (R) {
            case 6: fa_kernel(6, n, ab, ars, aks, bb, ldb, cb, ldc, accumulate); break;
            case 4: fa_kernel(4, n, ab, ars, aks, bb, ldb, cb, ldc, accumulate); break;
            case 2: fa_kernel(2, n, ab, ars, aks, bb, ldb, cb, ldc, accumulate); break;
            default: fa_kernel(1, n, ab, ars, aks, bb, ldb, cb, ldc, accumulate); break;
            }
        }
}

static inline void bw_multiply(int rows, int cols, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                               size_t ldc, int accumulate, bw_trim trim) {
    if (hayai_attend_prompt_avx512()) bw_product512(rows, cols, K, a, ars, aks, b, ldb, c, ldc, accumulate, trim);
    else bw_product256(rows, cols, K, a, ars, aks, b, ldb, c, ldc, accumulate, trim);
}

// fa_product, on AVX-512 where the CPU has it through the wide tiles (the same bits either way).
static inline void fa_multiply(int rows, int cols, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                               size_t ldc, int accumulate) {
    if (hayai_attend_prompt_avx512()) bw_product512(rows, cols, K, a, ars, aks, b, ldb, c, ldc, accumulate, bw_whole);
    else fa_product(rows, cols, K, a, ars, aks, b, ldb, c, ldc, accumulate);
}
