// AVX2 helpers shared by the C kernels (private to CKernels: not in include/): a horizontal sum,
// a vectorized exp, and the register-blocked product the flash-style attention kernels (rowops.c's
// prompt attention, attention_train.c's training forward and backward) run all their tiles through.
#pragma once
#include <immintrin.h>
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

// C[r][0..16) (=|+=) Σ_k A[r·ars + k·aks] · B[k][0..16) for r < R (R ≤ 4).
__attribute__((always_inline)) static inline void fa_kernel(int R, int K, const float *a, size_t ars, size_t aks, const float *b,
                                                            size_t ldb, float *c, size_t ldc, int accumulate) {
    __m256 acc[4][2];
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
        for (; r + 4 <= rows; r += 4) fa_kernel(4, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
        for (; r < rows; r++) fa_kernel(1, K, a + r * ars, ars, aks, b + j, ldb, c + r * ldc + j, ldc, accumulate);
    }
}

// d rounded up to a whole number of fa_product column blocks.
static inline int round16(int d) { return (d + 15) & ~15; }
