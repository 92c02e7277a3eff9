// The optimizer's element-wise passes over the flat parameter, gradient and moment buffers: AdamW
// as torch.optim.AdamW computes it (Training/AdamW.swift holds the formula and the scalar factors), and
// the sum of squares gradient clipping needs. Memory-bound loops the compiler vectorizes; contraction
// into FMAs is off so every element rounds exactly as the scalar Swift it replaced.
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>
#include "CKernels.h"

double hayai_sum_squares(const float *x, size_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256d x0 = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), x1 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        __m256d x2 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 8)), x3 = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 12));
        a0 = _mm256_add_pd(a0, _mm256_mul_pd(x0, x0)); a1 = _mm256_add_pd(a1, _mm256_mul_pd(x1, x1));
        a2 = _mm256_add_pd(a2, _mm256_mul_pd(x2, x2)); a3 = _mm256_add_pd(a3, _mm256_mul_pd(x3, x3));
    }
    __m256d a = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    double lanes[4];
    _mm256_storeu_pd(lanes, a);
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) sum += (double)x[i] * (double)x[i];
    return sum;
}

void hayai_scale(float *x, size_t n, float scale) {
    const __m256 sb = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), sb));
    for (; i < n; i++) x[i] *= scale;
}

void hayai_adamw(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n, int decay,
                 float decayFactor, float lerpWeight, float beta2, float oneMinusBeta2, float denomScale, float eps, float stepSize) {
    const float negStep = -stepSize, oneMinusLerp = 1 - lerpWeight;
    // torch's lerp: weight < 0.5 ? self + w·(end − self) : end − (end − self)·(1 − w)
    const int lowWeight = lerpWeight < 0.5f;
    const __m256 df = _mm256_set1_ps(decay ? decayFactor : 1), lw = _mm256_set1_ps(lerpWeight), olw = _mm256_set1_ps(oneMinusLerp);
    const __m256 b2 = _mm256_set1_ps(beta2), ob2 = _mm256_set1_ps(oneMinusBeta2), ds = _mm256_set1_ps(denomScale);
    const __m256 ep = _mm256_set1_ps(eps), ns = _mm256_set1_ps(negStep);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pi = _mm256_loadu_ps(p + i);
        if (decay) pi = _mm256_mul_ps(pi, df);
        const __m256 grad = _mm256_loadu_ps(g + i), mi = _mm256_loadu_ps(m + i);
        const __m256 diff = _mm256_sub_ps(grad, mi);
        const __m256 mn = lowWeight ? _mm256_add_ps(mi, _mm256_mul_ps(lw, diff)) : _mm256_sub_ps(grad, _mm256_mul_ps(diff, olw));
        const __m256 vn = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(ob2, grad), grad));
        const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vn), ds), ep);
        _mm256_storeu_ps(m + i, mn); _mm256_storeu_ps(v + i, vn);
        _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_mul_ps(ns, _mm256_div_ps(mn, denom))));
    }
    for (; i < n; i++) {
        float pi = p[i];
        if (decay) pi *= decayFactor;
        const float grad = g[i], mi = m[i];
        const float mn = lowWeight ? mi + lerpWeight * (grad - mi) : grad - (grad - mi) * oneMinusLerp;
        const float vn = v[i] * beta2 + oneMinusBeta2 * grad * grad;
        const float denom = __builtin_sqrtf(vn) / denomScale + eps;
        m[i] = mn; v[i] = vn;
        p[i] = pi + negStep * (mn / denom);
    }
}
