// AVX2 helpers shared by the C kernels (private to CKernels: not in include/): a horizontal sum,
// a vectorized exp, and the register-blocked product the flash-style attention kernels (rowops.c's
// prompt attention, attention_train.c's training forward and backward) run all their tiles through.
#pragma once
#include <immintrin.h>
#include <math.h>
#include <stddef.h>

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

// The same product on AVX-512 (where hayai_x16_available says the CPU has it): 32 columns per pass,
// two 16-wide accumulators per row. Every element is the same chain of fused multiply-adds in the
// same order as in fa_kernel, so the results equal the AVX2 kernel's bit for bit, at half the instructions.
__attribute__((target("avx512f"), always_inline)) static inline void fa_kernel512(int R, int K, const float *a, size_t ars, size_t aks,
                                                                                 const float *b, size_t ldb, float *c, size_t ldc,
                                                                                 int accumulate) {
    __m512 acc[4][2];
    for (int r = 0; r < R; r++) {
        acc[r][0] = accumulate ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
        acc[r][1] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k++) {
        const __m512 b0 = _mm512_loadu_ps(b + (size_t)k * ldb), b1 = _mm512_loadu_ps(b + (size_t)k * ldb + 16);
        for (int r = 0; r < R; r++) {
            const __m512 av = _mm512_set1_ps(a[r * ars + k * aks]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < R; r++) { _mm512_storeu_ps(c + r * ldc, acc[r][0]); _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]); }
}

// 16 columns in one accumulator per row, up to 8 rows: the narrow products (a tile of at most 16 query rows).
__attribute__((target("avx512f"), always_inline)) static inline void fa_kernel512_16(int R, int K, const float *a, size_t ars, size_t aks,
                                                                                    const float *b, size_t ldb, float *c, size_t ldc,
                                                                                    int accumulate) {
    __m512 acc[8];
    for (int r = 0; r < R; r++) acc[r] = accumulate ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        const __m512 b0 = _mm512_loadu_ps(b + (size_t)k * ldb);
        for (int r = 0; r < R; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * ars + k * aks]), b0, acc[r]);
    }
    for (int r = 0; r < R; r++) _mm512_storeu_ps(c + r * ldc, acc[r]);
}

__attribute__((target("avx512f"))) static inline void fa_product512(int rows, int cols, int K, const float *a, size_t ars, size_t aks,
                                                              const float *b, size_t ldb, float *c, size_t ldc, int accumulate) {
    int j = 0;
    for (; j + 32 <= cols; j += 32) {
        int r = 0;
        for (; r + 4 <= rows; r += 4) fa_kernel512(4, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
        for (; r < rows; r++) fa_kernel512(1, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
    }
    for (; j < cols; j += 16) {
        int r = 0;
        for (; r + 8 <= rows; r += 8) fa_kernel512_16(8, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
        for (; r < rows; r++) fa_kernel512_16(1, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
    }
}

int hayai_attend_prompt_avx512(void);

// fa_product, on AVX-512 where the CPU has it (the same bits either way).
static inline void fa_multiply(int rows, int cols, int K, const float *a, size_t ars, size_t aks, const float *b, size_t ldb, float *c,
                               size_t ldc, int accumulate) {
    if (hayai_attend_prompt_avx512()) fa_product512(rows, cols, K, a, ars, aks, b, ldb, c, ldc, accumulate);
    else fa_product(rows, cols, K, a, ars, aks, b, ldb, c, ldc, accumulate);
}

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
// alpha: FA_BQ floats of scratch. The caller then adds P·V into o.
static inline void fa_softmax_tile256(float *st, int nk, int lanes, int key0, const __m256i *pos, const __m256i *first, int masked,
                                   float *m, float *l, float *alpha, float *o, int rows, int dp) {
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
        const __m256 mOld = _mm256_loadu_ps(m + 8 * v), mNew = _mm256_max_ps(mOld, mx);
        _mm256_storeu_ps(m + 8 * v, mNew);
        _mm256_storeu_ps(alpha + 8 * v, exp8(_mm256_sub_ps(mOld, mNew)));
        __m256 sum = _mm256_setzero_ps();
        for (int j = 0; j < nk; j++) {
            float *sj = st + (size_t)j * FA_BQ + 8 * v;
            const __m256 sv = _mm256_loadu_ps(sj);
            __m256 p = exp8(_mm256_sub_ps(sv, mNew));
            if (masked) p = _mm256_and_ps(p, _mm256_cmp_ps(sv, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
            _mm256_storeu_ps(sj, p);
            sum = _mm256_add_ps(sum, p);
        }
        _mm256_storeu_ps(l + 8 * v, _mm256_fmadd_ps(_mm256_loadu_ps(l + 8 * v), _mm256_loadu_ps(alpha + 8 * v), sum));
    }
    for (int r = 0; r < rows; r++) {
        if (alpha[r] == 1) continue;
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
                                                                                        int masked, float *m, float *l, float *alpha) {
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
        mNew[v] = _mm512_max_ps(mOld, mx[v]);
        _mm512_storeu_ps(m + 16 * (v0 + v), mNew[v]);
        _mm512_storeu_ps(alpha + 16 * (v0 + v), exp16(_mm512_sub_ps(mOld, mNew[v])));
        sum[v] = _mm512_setzero_ps();
    }
    for (int j = 0; j < nk; j++)
        for (int v = 0; v < NV; v++) {
            float *sj = st + (size_t)j * FA_BQ + 16 * (v0 + v);
            const __m512 sv = _mm512_loadu_ps(sj);
            __m512 p = exp16(_mm512_sub_ps(sv, mNew[v]));
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
__attribute__((target("avx512f"))) static inline void fa_softmax_tile512(float *st, int nk, int lanes, int key0, const __m256i *pos,
                                                                         const __m256i *first, int masked, float *m, float *l, float *alpha,
                                                                         float *o, int rows, int dp) {
    int v = 0;
    for (; v + 2 <= lanes / 16; v += 2) fa_softmax_lanes512(2, v, st, nk, key0, pos, first, masked, m, l, alpha);
    if (v < lanes / 16) fa_softmax_lanes512(1, v, st, nk, key0, pos, first, masked, m, l, alpha);
    for (int r = 0; r < rows; r++) {
        if (alpha[r] == 1) continue;
        float *orow = o + (size_t)r * dp;
        const __m512 av = _mm512_set1_ps(alpha[r]);
        for (int c = 0; c < dp; c += 16) _mm512_storeu_ps(orow + c, _mm512_mul_ps(av, _mm512_loadu_ps(orow + c)));
    }
}

// The running-softmax step, 16 lanes a vector where the CPU has AVX-512 (the same bits either way).
static inline void fa_softmax_tile(float *st, int nk, int lanes, int key0, const __m256i *pos, const __m256i *first, int masked,
                                   float *m, float *l, float *alpha, float *o, int rows, int dp) {
    if (lanes % 16 == 0 && hayai_attend_prompt_avx512()) fa_softmax_tile512(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp);
    else fa_softmax_tile256(st, nk, lanes, key0, pos, first, masked, m, l, alpha, o, rows, dp);
}

// d rounded up to a whole number of fa_product column blocks.
static inline int round16(int d) { return (d + 15) & ~15; }
