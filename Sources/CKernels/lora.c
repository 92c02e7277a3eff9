// A LoRA update row by row: y_i += s · B (A x_i) for each row x_i, in an order fixed per row, so a row's
// result does not depend on which rows share the call (scoring's batch invariance; an sgemm call's can).
// The Swift reference is LoRAAdapter.referenceAdd (Inference/LoRA.swift), which the tests compare with.
#include "CKernels.h"
#include <immintrin.h>

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void hayai_lora_rows(const float *x, int t, int in, const float *a, int r, const float *bt, int out, float s, float *y,
                     float *xa) {
    for (int i = 0; i < t; i++) {
        const float *xi = x + (size_t)i * in;
        float *yi = y + (size_t)i * out;
        // xa = s · A x_i: one dot product per adapter row, 4 × 8 lanes then the tail.
        for (int k = 0; k < r; k++) {
            const float *ak = a + (size_t)k * in;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
            int j = 0;
            for (; j + 32 <= in; j += 32) {
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j), _mm256_loadu_ps(ak + j), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j + 8), _mm256_loadu_ps(ak + j + 8), acc1);
                acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j + 16), _mm256_loadu_ps(ak + j + 16), acc2);
                acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j + 24), _mm256_loadu_ps(ak + j + 24), acc3);
            }
            for (; j + 8 <= in; j += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j), _mm256_loadu_ps(ak + j), acc0);
            float dot = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
            for (; j < in; j++) dot += xi[j] * ak[j];
            xa[k] = s * dot;
        }
        // y_i += Bᵀ-rows weighted by xa: bt is B transposed, (r, out).
        int o = 0;
        for (; o + 8 <= out; o += 8) {
            __m256 acc = _mm256_loadu_ps(yi + o);
            for (int k = 0; k < r; k++) acc = _mm256_fmadd_ps(_mm256_set1_ps(xa[k]), _mm256_loadu_ps(bt + (size_t)k * out + o), acc);
            _mm256_storeu_ps(yi + o, acc);
        }
        for (; o < out; o++) {
            float acc = yi[o];
            for (int k = 0; k < r; k++) acc = __builtin_fmaf(xa[k], bt[(size_t)k * out + o], acc);
            yi[o] = acc;
        }
    }
}
