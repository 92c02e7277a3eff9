// Activation rows quantized for the integer dot products, in AVX2: Q8_0 and Q8_1 (blocks of 32)
// and Q8_K (blocks of 256). Bit for bit what the scalar references in
// Kernels/Quantization/Quantize.swift write (quantizeBlockQ8_0/_1/_K), which stay the definition
// and are tested against these on random rows, ties and non-finite values included: the same float
// operations (absmax / 127, x · (1/d), Float16 rounding of the scales), C's roundf (half away from
// zero) for Q8_0/Q8_1 and ggml's nearest_int (round half to even) for Q8_K, a NaN scale for a block holding NaN or ±inf.
// A prompt quantizes every row of its input once per matrix, so on a 2-vCPU machine the scalar
// Swift loops were a visible share of prompt processing, and the AVX2 ones still ~7% of a SmolLM2
// pp512 on Zen 5 (~3 G floats/s a core): where the CPU has AVX-512 the same operations run 16 lanes
// wide (below), and hayai_quantize_row_* pick that path.
#include "CKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>


static inline uint16_t to_half(float f) { return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// Whether every one of the n floats (a multiple of 8) is finite: x · 0 is 0 exactly then.
// A Q8_K block whose values are all zero (d 0) or not all finite (d NaN): no quants, no sums.
static inline void q8_K_empty(hayai_block_q8_K *blk, int finite) {
    blk->d = finite ? 0.0f : NAN;
    memset(blk->qs, 0, sizeof blk->qs);
    memset(blk->bsums, 0, sizeof blk->bsums);
}

static inline int all_finite(const float *x, int n) {
    __m256 probe = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) probe = _mm256_add_ps(probe, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_setzero_ps()));
    return _mm256_movemask_ps(_mm256_cmp_ps(probe, _mm256_setzero_ps(), _CMP_NEQ_UQ)) == 0;
}

// round(v) half away from zero (C's roundf), clamped to ±127, NaN -> 0, as int32 lanes.
static inline __m256i round_away_127(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));          // |v − trunc v|, exact
    const __m256 one = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1));  // ±1 with v's sign
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
    r = _mm256_max_ps(_mm256_min_ps(r, _mm256_set1_ps(127)), _mm256_set1_ps(-127));
    r = _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q));                      // NaN -> 0
    return _mm256_cvttps_epi32(r);
}

// Four vectors of int32 lanes (each in −128...127) -> 32 int8 in order.
static inline void store_i8x32(int8_t *q, __m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i p = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p);
}

// One block of 32: d and the quants; returns Σ q.
static inline int quantize32(const float *x, float *dOut, int8_t *qs) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) { v[i] = _mm256_loadu_ps(x + 8 * i); amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i])); }
    const float d = all_finite(x, 32) ? hmax8(amax) / 127 : NAN;
    const float id = isfinite(d) && d != 0 ? 1 / d : 0;
    __m256i q[4];
    for (int i = 0; i < 4; i++) q[i] = round_away_127(_mm256_mul_ps(v[i], _mm256_set1_ps(id)));
    store_i8x32(qs, q[0], q[1], q[2], q[3]);
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
    *dOut = d;
    return _mm_cvtsi128_si32(h);
}

// Eight blocks of 32 at a time: their absmax, then d = absmax / 127 and 1 / d as one vector division
// each (the same IEEE divisions as one block's scalar ones, so the same bits), then the quants. One block
// at a time, the two dependent divisions and the finiteness pass held a row to ~1.2 G floats/s a core.
// d[k] (NaN for a block with NaN or ±inf) and Σq[k] of block k come back for the caller's scales.
static inline void quantize32x8(const float *x, int8_t *qs, size_t blockBytes, float d[8], int sums[8]) {
    const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
    float amax[8], probe[8];
    for (int k = 0; k < 8; k++) {
        const float *xb = x + 32 * k;
        __m256 a = zero, p = zero;
        for (int i = 0; i < 4; i++) {
            const __m256 v = _mm256_loadu_ps(xb + 8 * i);
            a = _mm256_max_ps(a, _mm256_andnot_ps(sign, v));
            p = _mm256_add_ps(p, _mm256_mul_ps(v, zero));   // NaN unless every value is finite
        }
        amax[k] = hmax8(a);
        probe[k] = _mm256_movemask_ps(_mm256_cmp_ps(p, zero, _CMP_NEQ_UQ)) == 0 ? 0 : NAN;
    }
    const __m256 finite = _mm256_cmp_ps(_mm256_loadu_ps(probe), zero, _CMP_EQ_OQ);
    const __m256 dv = _mm256_blendv_ps(_mm256_set1_ps(NAN), _mm256_div_ps(_mm256_loadu_ps(amax), _mm256_set1_ps(127)), finite);
    // 1 / d where d is finite and non-zero, else 0 (d − d is 0 exactly for finite d).
    const __m256 usable = _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(dv, dv), zero, _CMP_EQ_OQ), _mm256_cmp_ps(dv, zero, _CMP_NEQ_OQ));
    const __m256 idv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1), dv), usable);
    float id[8];
    _mm256_storeu_ps(d, dv);
    _mm256_storeu_ps(id, idv);
    for (int k = 0; k < 8; k++) {
        const float *xb = x + 32 * k;
        const __m256 s = _mm256_set1_ps(id[k]);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = round_away_127(_mm256_mul_ps(_mm256_loadu_ps(xb + 8 * i), s));
        store_i8x32(qs + k * blockBytes, q[0], q[1], q[2], q[3]);
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        sums[k] = _mm_cvtsi128_si32(h);
    }
}

void hayai_quantize_row_q8_0_avx2(const float *x, void *out, int n) {
    hayai_block_q8_0 *y = out;
    int b = 0;
    for (; b + 8 <= n / 32; b += 8) {
        float d[8];
        int sums[8];
        quantize32x8(x + 32 * b, y[b].qs, sizeof *y, d, sums);
        for (int k = 0; k < 8; k++) y[b + k].d = to_half(d[k]);
    }
    for (; b < n / 32; b++) {
        float d;
        quantize32(x + 32 * b, &d, y[b].qs);
        y[b].d = to_half(d);
    }
}

void hayai_quantize_row_q8_1_avx2(const float *x, void *out, int n) {
    hayai_block_q8_1 *y = out;
    int b = 0;
    for (; b + 8 <= n / 32; b += 8) {
        float d[8];
        int sums[8];
        quantize32x8(x + 32 * b, y[b].qs, sizeof *y, d, sums);
        for (int k = 0; k < 8; k++) {
            y[b + k].d = to_half(d[k]);
            y[b + k].s = to_half((float)sums[k] * d[k]);
        }
    }
    for (; b < n / 32; b++) {
        float d;
        const int sum = quantize32(x + 32 * b, &d, y[b].qs);
        y[b].d = to_half(d);
        y[b].s = to_half((float)sum * d);
    }
}

void hayai_quantize_row_q8_K_avx2(const float *x, void *out, int n) {
    hayai_block_q8_K *y = out;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        hayai_block_q8_K *blk = y + b;
        const int finite = all_finite(xb, 256);
        __m256 amax8 = _mm256_setzero_ps();
        for (int i = 0; i < 256; i += 8) amax8 = _mm256_max_ps(amax8, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + i)));
        const float amax = hmax8(amax8);
        // The value of largest magnitude with its sign, the first one on ties (signedAbsMax).
        float m = 0;
        if (finite && amax > 0) {
            const __m256 target = _mm256_set1_ps(amax);
            for (int i = 0; i < 256; i += 8) {
                const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + i)), target, _CMP_EQ_OQ));
                if (hits) { m = xb[i + __builtin_ctz(hits)]; break; }
            }
        }
        if (m == 0 || !finite) {
            q8_K_empty(blk, finite);
            continue;
        }
        const float iscale = -127 / m;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int i = 0; i < 256; i += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                // ggml's nearest_int as the reference has it: the mantissa of v + 1.5·2²³ − 2²², also for
                // the ±infinity a subnormal block's iscale overflows to (−128 then, not ±127).
                const __m256 v = _mm256_add_ps(_mm256_mul_ps(is, _mm256_loadu_ps(xb + i + 8 * k)), _mm256_set1_ps(12582912.0f));
                const __m256i r = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x007FFFFF)),
                                                   _mm256_set1_epi32(0x00400000));
                q[k] = _mm256_max_epi32(_mm256_min_epi32(r, _mm256_set1_epi32(127)), _mm256_set1_epi32(-128));
            }
            store_i8x32(blk->qs + i, q[0], q[1], q[2], q[3]);
            // Sums of each 16 quants: lanes of q[0] + q[1] and q[2] + q[3].
            for (int h = 0; h < 2; h++) {
                const __m256i s = _mm256_add_epi32(q[2 * h], q[2 * h + 1]);
                __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
                t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
                blk->bsums[i / 16 + h] = (int16_t)_mm_cvtsi128_si32(t);
            }
        }
        blk->d = 1 / iscale;
    }
}


// ---- AVX-512: the same operations as the AVX2 code above, 16 lanes a vector, so the same bytes.

#define Q_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))

// round_away_127 on 16 lanes: trunc, |v − trunc v| ≥ 0.5 adds ±1 with v's sign, clamp to ±127, NaN -> 0.
Q_AVX512 static inline __m512i round_away_127_x16(__m512 v) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000), one = _mm512_castps_si512(_mm512_set1_ps(1));
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    // ternary logic 0xEA = (a & b) | c: v's sign bit on 1.0
    const __m512 away = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(v), sign, one, 0xEA));
    __m512 r = _mm512_mask_add_ps(t, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, away);
    r = _mm512_max_ps(_mm512_min_ps(r, _mm512_set1_ps(127)), _mm512_set1_ps(-127));
    return _mm512_maskz_cvttps_epi32(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), r);
}

// The same for v = x · (1 / d) with d finite and non-zero and 1 / d finite, the common case: then
// |v| ≤ |x| · 127 / absmax rounds to at most 127 and v is a number, so no clamp and no NaN test.
Q_AVX512 static inline __m512i round_away_finite_x16(__m512 v) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000), one = _mm512_castps_si512(_mm512_set1_ps(1));
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __m512 away = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(v), sign, one, 0xEA));
    return _mm512_cvttps_epi32(_mm512_mask_add_ps(t, _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ), t, away));
}

// Eight vectors of 16 lanes -> lane 4j holds the reduction of v[j], lane 4j + 2 that of v[j + 4]
// (j < 4), through halving steps that each combine two vectors: ~3 instructions a vector where a
// full reduction of each took ~8. OP is max_epu32 or add_epi32.
#define REDUCE8(OP, v, out)                                                                                              \
    do {                                                                                                                 \
        __m512i p_[4], q_[2];                                                                                            \
        for (int i_ = 0; i_ < 4; i_++) /* 256-bit halves: lanes 0-7 v[2i], 8-15 v[2i + 1] */                            \
            p_[i_] = OP(_mm512_shuffle_i32x4(v[2 * i_], v[2 * i_ + 1], 0x44), _mm512_shuffle_i32x4(v[2 * i_], v[2 * i_ + 1], 0xEE)); \
        for (int i_ = 0; i_ < 2; i_++) /* 128-bit quarters: lanes 4k..4k+3 v[4i + k] */                                  \
            q_[i_] = OP(_mm512_shuffle_i32x4(p_[2 * i_], p_[2 * i_ + 1], 0x88), _mm512_shuffle_i32x4(p_[2 * i_], p_[2 * i_ + 1], 0xDD)); \
        /* 64-bit pairs: lanes 4k, 4k + 1 v[k], 4k + 2, 4k + 3 v[k + 4] */                                               \
        const __m512i r_ = OP(_mm512_unpacklo_epi64(q_[0], q_[1]), _mm512_unpackhi_epi64(q_[0], q_[1]));                  \
        out = OP(r_, _mm512_shuffle_epi32(r_, _MM_PERM_CDAB));                                                          \
    } while (0)

// Up to eight blocks of 32 (count ≤ 8): quantize32x8's steps. The absmax is taken on the bit patterns
// of |x| (for non-negative floats integer order is float order, and NaN patterns lie above +inf), so
// it also tells whether the block is finite: its largest |x| is below the infinity's pattern. Blocks
// past `count` are read as zeros.
Q_AVX512 static inline void quantize32_avx512(const float *x, int8_t *qs, size_t blockBytes, int count, float d[8], int sums[8]) {
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), zeroi = _mm512_setzero_si512();
    __m512i m[8];
    for (int k = 0; k < 8; k++) {
        if (k >= count) { m[k] = zeroi; continue; }
        const __m512i a = _mm512_and_si512(_mm512_loadu_si512((const void *)(x + 32 * k)), magnitude);
        const __m512i b = _mm512_and_si512(_mm512_loadu_si512((const void *)(x + 32 * k + 16)), magnitude);
        m[k] = _mm512_max_epu32(a, b);
    }
    __m512i reduced;
    REDUCE8(_mm512_max_epu32, m, reduced);
    // Lanes 0, 4, 8, 12 then 2, 6, 10, 14: blocks 0..7 in order.
    const __m256i amaxBits = _mm512_castsi512_si256(_mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), reduced));
    const __m256 zero = _mm256_setzero_ps();
    const __m256 finite = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(0x7F800000), amaxBits));
    const __m256 dv = _mm256_blendv_ps(_mm256_set1_ps(NAN), _mm256_div_ps(_mm256_castsi256_ps(amaxBits), _mm256_set1_ps(127)), finite);
    // 1 / d where d is finite and non-zero, else 0 (d − d is 0 exactly for finite d).
    const __m256 usable = _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(dv, dv), zero, _CMP_EQ_OQ), _mm256_cmp_ps(dv, zero, _CMP_NEQ_OQ));
    const __m256 idv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1), dv), usable);
    // Blocks whose 1 / d is a finite non-zero number take round_away_finite_x16.
    const int plain = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(idv, idv), zero, _CMP_EQ_OQ)) & _mm256_movemask_ps(usable);
    float id[8];
    _mm256_storeu_ps(d, dv);
    _mm256_storeu_ps(id, idv);
    __m512i sum[8];
    for (int k = 0; k < 8; k++) {
        if (k >= count) { sum[k] = zeroi; continue; }
        const __m512 s = _mm512_set1_ps(id[k]);
        const __m512 v0 = _mm512_mul_ps(_mm512_loadu_ps(x + 32 * k), s), v1 = _mm512_mul_ps(_mm512_loadu_ps(x + 32 * k + 16), s);
        __m512i q0, q1;
        if (plain >> k & 1) { q0 = round_away_finite_x16(v0); q1 = round_away_finite_x16(v1); }
        else { q0 = round_away_127_x16(v0); q1 = round_away_127_x16(v1); }
        int8_t *out = qs + k * blockBytes;
        _mm_storeu_si128((__m128i *)out, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(out + 16), _mm512_cvtepi32_epi8(q1));
        sum[k] = _mm512_add_epi32(q0, q1);
    }
    if (sums) {
        __m512i total;
        REDUCE8(_mm512_add_epi32, sum, total);
        _mm256_storeu_si256((__m256i *)sums, _mm512_castsi512_si256(_mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), total)));
    }
}

Q_AVX512 void hayai_quantize_row_q8_0_avx512(const float *x, void *out, int n) {
    hayai_block_q8_0 *y = out;
    for (int b = 0; b < n / 32; b += 8) {
        const int count = n / 32 - b < 8 ? n / 32 - b : 8;
        float d[8];
        quantize32_avx512(x + 32 * b, y[b].qs, sizeof *y, count, d, NULL);
        for (int k = 0; k < count; k++) y[b + k].d = to_half(d[k]);
    }
}

Q_AVX512 void hayai_quantize_row_q8_1_avx512(const float *x, void *out, int n) {
    hayai_block_q8_1 *y = out;
    for (int b = 0; b < n / 32; b += 8) {
        const int count = n / 32 - b < 8 ? n / 32 - b : 8;
        float d[8];
        int sums[8];
        quantize32_avx512(x + 32 * b, y[b].qs, sizeof *y, count, d, sums);
        for (int k = 0; k < count; k++) {
            y[b + k].d = to_half(d[k]);
            y[b + k].s = to_half((float)sums[k] * d[k]);
        }
    }
}

static int quantize_avx512 = -1;
static inline int use_avx512(void) {
    if (quantize_avx512 < 0) quantize_avx512 = hayai_x16_available();
    return quantize_avx512;
}

void hayai_quantize_row_q8_0(const float *x, void *out, int n) {
    if (use_avx512()) hayai_quantize_row_q8_0_avx512(x, out, n); else hayai_quantize_row_q8_0_avx2(x, out, n);
}
void hayai_quantize_row_q8_1(const float *x, void *out, int n) {
    if (use_avx512()) hayai_quantize_row_q8_1_avx512(x, out, n); else hayai_quantize_row_q8_1_avx2(x, out, n);
}
// Q8_K's steps (hayai_quantize_row_q8_K_avx2) on 16 lanes: absmax and finiteness from the bit patterns of
// |x| as above, the first value of that magnitude as the signed maximum, the unfused x · iscale + 1.5·2²³,
// and the sixteen sums of 16 quants reduced together.
Q_AVX512 void hayai_quantize_row_q8_K_avx512(const float *x, void *out, int n) {
    hayai_block_q8_K *y = out;
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int b = 0; b < n / 256; b++) {
        const float *xb = x + 256 * b;
        hayai_block_q8_K *blk = y + b;
        __m512i top = _mm512_setzero_si512();
        for (int i = 0; i < 256; i += 16) top = _mm512_max_epu32(top, _mm512_and_si512(_mm512_loadu_si512((const void *)(xb + i)), magnitude));
        const uint32_t amaxBits = _mm512_reduce_max_epu32(top);
        const int finite = amaxBits < 0x7F800000u;
        // The value of largest magnitude with its sign, the first one on ties (signedAbsMax).
        float m = 0;
        if (finite && amaxBits > 0) {
            const __m512i target = _mm512_set1_epi32((int)amaxBits);
            for (int i = 0; i < 256; i += 16) {
                const __mmask16 hits = _mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_loadu_si512((const void *)(xb + i)), magnitude), target);
                if (hits) { m = xb[i + __builtin_ctz(hits)]; break; }
            }
        }
        if (m == 0 || !finite) {
            q8_K_empty(blk, finite);
            continue;
        }
        const float iscale = -127 / m;
        const __m512 is = _mm512_set1_ps(iscale);
        __m512i q[16];
        for (int k = 0; k < 16; k++) {
            // ggml's nearest_int as the reference has it (see the AVX2 version).
            const __m512 v = _mm512_add_ps(_mm512_mul_ps(is, _mm512_loadu_ps(xb + 16 * k)), _mm512_set1_ps(12582912.0f));
            const __m512i r = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x007FFFFF)), _mm512_set1_epi32(0x00400000));
            q[k] = _mm512_max_epi32(_mm512_min_epi32(r, _mm512_set1_epi32(127)), _mm512_set1_epi32(-128));
            _mm_storeu_si128((__m128i *)(blk->qs + 16 * k), _mm512_cvtepi32_epi8(q[k]));
        }
        for (int h = 0; h < 2; h++) {
            __m512i total;
            REDUCE8(_mm512_add_epi32, (q + 8 * h), total);
            _mm_storeu_si128((__m128i *)(blk->bsums + 8 * h),
                             _mm256_cvtepi32_epi16(_mm512_castsi512_si256(_mm512_permutexvar_epi32(order, total))));
        }
        blk->d = 1 / iscale;
    }
}

void hayai_quantize_row_q8_K(const float *x, void *out, int n) {
    if (use_avx512()) hayai_quantize_row_q8_K_avx512(x, out, n); else hayai_quantize_row_q8_K_avx2(x, out, n);
}
