// AVX2 dot products of a quantized weight row with a quantized activation row: the integer
// multiply-adds of ggml's x86 kernels (maddubs/madd), written for our own block structs.
// Per block: integer sum of products, then one float multiply-add by the two scales, so the result
// equals the scalar references in Kernels/Quantization/QuantizedDotReference.swift up to the
// order of float additions.
#include "CKernels.h"
#include <immintrin.h>
#include <string.h>

_Static_assert(sizeof(hayai_block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(hayai_block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(hayai_block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(hayai_block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(hayai_block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(hayai_block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(hayai_block_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(hayai_block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(hayai_block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(hayai_block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(hayai_block_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(hayai_block_q8_K) == 292, "q8_K layout");
_Static_assert(sizeof(hayai_block_iq4_nl) == 18, "iq4_nl layout");
_Static_assert(sizeof(hayai_block_iq4_xs) == 136, "iq4_xs layout");

// Half -> float. Not _cvtsh_ss: clang lowers it to vpinsrw into whatever register is free, which
// can be an accumulator, chaining every block's scale onto the previous FMA (measured: Q4_0 ran at
// ~9 cycles a block). The empty asm makes the zero-extended value a whole register of its own
// (movzwl + vmovd), so clang cannot shrink it back into a vpinsrw.
static inline float f16(uint16_t h) {
    __m128i v = _mm_cvtsi32_si128(h);
    __asm__("" : "+x"(v));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Σ a·b over each group of 4 bytes, a and b signed (sign trick: |a| · (b·sign a) fits maddubs).
static inline __m256i dot_i8(__m256i a, __m256i b) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

// Σ a·b over each group of 4 bytes, a unsigned (< 128), b signed.
static inline __m256i dot_u8i8(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles are elements 0..15, high nibbles 16..31.
static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, 0xFF where bit k of the little-endian word is set.
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t v; memcpy(&v, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, mask), mask);
}

static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

// Σ of 32 int8 values.
static inline int sum_i8x32(const int8_t *q) {
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load32(q)), _mm256_set1_epi16(1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

// ---- 32-element types. Two accumulators so consecutive blocks do not wait on one FMA chain.

float hayai_avx2_dot_q8_0_q8_0(int n, const void *vw, const void *vx) {
    const hayai_block_q8_0 *w = vw, *x = vx;
    const int nb = n / HAYAI_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i p0 = dot_i8(load32(w[i].qs), load32(x[i].qs));
        __m256i p1 = dot_i8(load32(w[i + 1].qs), load32(x[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i + 1].d) * f16(x[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = dot_i8(load32(w[i].qs), load32(x[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

static inline __m256i q4_0_values(const hayai_block_q4_0 *b) {
    return _mm256_sub_epi8(nibbles32(b->qs), _mm256_set1_epi8(8));
}

float hayai_avx2_dot_q4_0_q8_0(int n, const void *vw, const void *vx) {
    const hayai_block_q4_0 *w = vw;
    const hayai_block_q8_0 *x = vx;
    const int nb = n / HAYAI_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i p0 = dot_i8(q4_0_values(&w[i]), load32(x[i].qs));
        __m256i p1 = dot_i8(q4_0_values(&w[i + 1]), load32(x[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i + 1].d) * f16(x[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = dot_i8(q4_0_values(&w[i]), load32(x[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// Q4_1 · Q8_1: Σ (d q + m)(d8 q8) = d d8 Σ q q8 + m (d8 Σ q8), the last factor being Q8_1's s.
float hayai_avx2_dot_q4_1_q8_1(int n, const void *vw, const void *vx) {
    const hayai_block_q4_1 *w = vw;
    const hayai_block_q8_1 *x = vx;
    const int nb = n / HAYAI_QK;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int i = 0; i < nb; i++) {
        __m256i p = dot_u8i8(nibbles32(w[i].qs), load32(x[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc);
        summ += f16(w[i].m) * f16(x[i].s);
    }
    return hsum(acc) + summ;
}

// Q5_0: nibble | (bit ? 0x00 : 0xF0) read as int8 is nibble + 16·bit − 16.
float hayai_avx2_dot_q5_0_q8_0(int n, const void *vw, const void *vx) {
    const hayai_block_q5_0 *w = vw;
    const hayai_block_q8_0 *x = vx;
    const int nb = n / HAYAI_QK;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        __m256i hi = _mm256_andnot_si256(bits_to_bytes(w[i].qh), _mm256_set1_epi8((char)0xF0));
        __m256i q = _mm256_or_si256(nibbles32(w[i].qs), hi);
        __m256i p = dot_i8(q, load32(x[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum(acc);
}

float hayai_avx2_dot_q5_1_q8_1(int n, const void *vw, const void *vx) {
    const hayai_block_q5_1 *w = vw;
    const hayai_block_q8_1 *x = vx;
    const int nb = n / HAYAI_QK;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int i = 0; i < nb; i++) {
        __m256i hi = _mm256_and_si256(bits_to_bytes(w[i].qh), _mm256_set1_epi8(0x10));
        __m256i q = _mm256_or_si256(nibbles32(w[i].qs), hi);
        __m256i p = dot_u8i8(q, load32(x[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc);
        summ += f16(w[i].m) * f16(x[i].s);
    }
    return hsum(acc) + summ;
}

// ---- K-quants against Q8_K.

// The 12 scale bytes of Q4_K/Q5_K -> 8 six-bit scales and 8 six-bit mins (get_scale_min_k4 for all j).
static inline void unpack_scales_k4(const uint8_t *s12, uint8_t sc[8], uint8_t mn[8]) {
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t u[3]; memcpy(u, s12, 12);
    uint32_t s[2] = { u[0] & m6, (u[2] & m4) | (((u[0] >> 6) & m2) << 4) };
    uint32_t m[2] = { u[1] & m6, ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4) };
    memcpy(sc, s, 8); memcpy(mn, m, 8);
}

static inline int mins_dot_bsums(const uint8_t mn[8], const int16_t *bsums) {
    int s = 0;
    for (int j = 0; j < 8; j++) s += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return s;
}

float hayai_avx2_dot_q4_K_q8_K(int n, const void *vw, const void *vx) {
    const hayai_block_q4_K *w = vw;
    const hayai_block_q8_K *x = vx;
    const int nb = n / HAYAI_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        unpack_scales_k4(w[i].scales, sc, mn);
        summ += x[i].d * f16(w[i].dmin) * (float)mins_dot_bsums(mn, x[i].bsums);
        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i b = load32(q4 + 32 * j);
            __m256i lo = _mm256_and_si256(b, low4), hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), low4);
            __m256i p0 = _mm256_maddubs_epi16(lo, load32(q8 + 64 * j));
            __m256i p1 = _mm256_maddubs_epi16(hi, load32(q8 + 64 * j + 32));
            p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j]));
            p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * f16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - summ;
}

float hayai_avx2_dot_q5_K_q8_K(int n, const void *vw, const void *vx) {
    const hayai_block_q5_K *w = vw;
    const hayai_block_q8_K *x = vx;
    const int nb = n / HAYAI_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        unpack_scales_k4(w[i].scales, sc, mn);
        summ += x[i].d * f16(w[i].dmin) * (float)mins_dot_bsums(mn, x[i].bsums);
        const uint8_t *q4 = w[i].qs;
        const int8_t *q8 = x[i].qs;
        const __m256i hbits = load32(w[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i b = load32(q4 + 32 * j);
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(b, low4), h0);
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), low4), h1);
            __m256i p0 = _mm256_maddubs_epi16(lo, load32(q8 + 64 * j));
            __m256i p1 = _mm256_maddubs_epi16(hi, load32(q8 + 64 * j + 32));
            p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * j]));
            p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * f16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - summ;
}

// Q2_K: per 128 elements one 32-byte register of 2-bit quants, bits 2j..2j+1 being elements 32j..32j+31;
// each 32-element slice spans two 16-element sub-blocks (the register's halves), so one madd with
// the two scales (as 16-bit, one per half) weights maddubs's pair sums. The minimum's term is
// Σ m·bsums over the 16 sub-blocks, Q8_K's bsums being exactly their sums.
float hayai_avx2_dot_q2_K_q8_K(int n, const void *vw, const void *vx) {
    const hayai_block_q2_K *w = vw;
    const hayai_block_q8_K *x = vx;
    const int nb = n / HAYAI_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    // Slice j of a 128-element half: 16-bit scale 2j in the low 128 bits, 2j + 1 in the high ones.
    const __m256i pick[4] = {
        _mm256_set_epi64x(0x0302030203020302, 0x0302030203020302, 0x0100010001000100, 0x0100010001000100),
        _mm256_set_epi64x(0x0706070607060706, 0x0706070607060706, 0x0504050405040504, 0x0504050405040504),
        _mm256_set_epi64x(0x0B0A0B0A0B0A0B0A, 0x0B0A0B0A0B0A0B0A, 0x0908090809080908, 0x0908090809080908),
        _mm256_set_epi64x(0x0F0E0F0E0F0E0F0E, 0x0F0E0F0E0F0E0F0E, 0x0D0C0D0C0D0C0D0C, 0x0D0C0D0C0D0C0D0C),
    };
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int i = 0; i < nb; i++) {
        const __m128i scales = _mm_loadu_si128((const __m128i *)w[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(scales, 4), low4));
        const __m256i mp = _mm256_madd_epi16(mins, load32(x[i].bsums));
        __m128i m4 = _mm_add_epi32(_mm256_castsi256_si128(mp), _mm256_extracti128_si256(mp, 1));
        m4 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0x4E));
        m4 = _mm_add_epi32(m4, _mm_shuffle_epi32(m4, 0xB1));
        summ += x[i].d * f16(w[i].dmin) * (float)_mm_cvtsi128_si32(m4);
        // The 16 scales as 16-bit: sub-blocks 0..7 (the first half) and 8..15, each in both 128-bit lanes.
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(scales, low4));
        const __m256i halves[2] = { _mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11) };
        const int8_t *q8 = x[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            const __m256i bits = load32(w[i].qs + 32 * half);
            for (int j = 0; j < 4; j++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), m3);
                const __m256i p = _mm256_maddubs_epi16(q, load32(q8 + 128 * half + 32 * j));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(halves[half], pick[j])));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * f16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - summ;
}

// Q6_K: unsigned 6-bit q in 0..63 stands for q − 32; Σ (q − 32) q8 = maddubs(q, q8) − maddubs(32, q8).
float hayai_avx2_dot_q6_K_q8_K(int n, const void *vw, const void *vx) {
    const hayai_block_q6_K *w = vw;
    const hayai_block_q8_K *x = vx;
    const int nb = n / HAYAI_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const uint8_t *ql = w[i].ql, *qh = w[i].qh;
        const int8_t *sc = w[i].scales;
        const int8_t *q8 = x[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            __m256i l0 = load32(ql), l1 = load32(ql + 32), h = load32(qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(h, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
            for (int k = 0; k < 4; k++) {
                __m256i y = load32(q8 + 32 * k);
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], y), _mm256_maddubs_epi16(m32, y));
                __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
            }
            ql += 64; qh += 32; q8 += 128; sc += 8;
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * f16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

// Q3_K: the 2 low bits and the 3rd bit (hmask) make an unsigned q in 0..7 standing for q − 4:
// Σ (q − 4)·q8 = maddubs(q, q8) − 4·Σ q8, the last sums per 16 elements being Q8_K's bsums. The 16
// six-bit scales unpack to int8 as ggml's x86 kernel does (kmask1/kmask2), minus 32.
static inline __m128i q3_K_scales(const uint8_t *s12) {
    uint32_t a[4];
    memcpy(a, s12, 12);
    const uint32_t m2 = 0x03030303, m4 = 0x0f0f0f0f, top = a[2];
    a[2] = ((a[0] >> 4) & m4) | (((top >> 4) & m2) << 4);
    a[3] = ((a[1] >> 4) & m4) | (((top >> 6) & m2) << 4);
    a[0] = (a[0] & m4) | ((top & m2) << 4);
    a[1] = (a[1] & m4) | (((top >> 2) & m2) << 4);
    return _mm_sub_epi8(_mm_loadu_si128((const __m128i *)a), _mm_set1_epi8(32));
}

float hayai_avx2_dot_q3_K_q8_K(int n, const void *vw, const void *vx) {
    const hayai_block_q3_K *w = vw;
    const hayai_block_q8_K *x = vx;
    const int nb = n / HAYAI_QK_K;
    const __m256i low2 = _mm256_set1_epi8(3), bit2 = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m128i sc8 = q3_K_scales(w[i].scales);
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        int16_t sc[16];
        _mm256_storeu_si256((__m256i *)sc, sc16);
        const __m256i hbits = load32(w[i].hmask);
        const int8_t *q8 = x[i].qs;
        // The offsets: −4·Σ_j sc_j·bsums_j, as 8 int32 partial sums.
        __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(load32(x[i].bsums), sc16), 2);
        sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
        for (int half = 0; half < 2; half++) {
            const __m256i q3 = load32(w[i].qs + 32 * half);
            for (int s = 0; s < 4; s++) {
                const int k = 4 * half + s;   // elements 32k..32k+31: sub-blocks 2k and 2k + 1
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q3, 2 * s), low2);
                const __m256i hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hbits, k), 2), bit2);
                const __m256i p = _mm256_maddubs_epi16(_mm256_or_si256(lo, hi), load32(q8 + 32 * k));
                const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * f16(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
}

// ---- IQ4_NL and IQ4_XS: 4-bit codes into a non-linear table (kvalues, Kernels/Quantization/
// IQ4Support.swift), looked up 32 at a time with one vpshufb. Table values lie in −127..113 and the
// activation quants in −128..127, so the sign trick goes the other way than dot_i8's: maddubs(|x|,
// t·sign x) has −t ≤ 127 and |x| ≤ 128 (−128 read unsigned), every pair sum within int16 and exact.

static inline __m256i iq4_table(void) {
    return _mm256_broadcastsi128_si256(_mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
}

// The 32 table values of 16 bytes of codes (elements 0..15 low nibbles, 16..31 high nibbles).
static inline __m256i iq4_values(__m256i table, const uint8_t *qs) { return _mm256_shuffle_epi8(table, nibbles32(qs)); }

// Σ t·x over each pair of bytes as int16, t a table value, x an activation quant.
static inline __m256i iq4_pairs(__m256i t, __m256i x) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(t, x));
}

float hayai_avx2_dot_iq4_nl_q8_0(int n, const void *vw, const void *vx) {
    const hayai_block_iq4_nl *w = vw;
    const hayai_block_q8_0 *x = vx;
    const int nb = n / HAYAI_QK;
    const __m256i table = iq4_table(), ones = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 1 < nb; i += 2) {
        __m256i p0 = _mm256_madd_epi16(iq4_pairs(iq4_values(table, w[i].qs), load32(x[i].qs)), ones);
        __m256i p1 = _mm256_madd_epi16(iq4_pairs(iq4_values(table, w[i + 1].qs), load32(x[i + 1].qs)), ones);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i + 1].d) * f16(x[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p = _mm256_madd_epi16(iq4_pairs(iq4_values(table, w[i].qs), load32(x[i].qs)), ones);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * f16(x[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// IQ4_XS: each sub-block's int16 pair sums multiplied by its ls − 32 in the madd, the super-block's
// integer total by d·d8 in float.
float hayai_avx2_dot_iq4_xs_q8_K(int n, const void *vw, const void *vx) {
    const hayai_block_iq4_xs *w = vw;
    const hayai_block_q8_K *x = vx;
    const int nb = n / HAYAI_QK_K;
    const __m256i table = iq4_table();
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const uint8_t *qs = w[i].qs;
        const int8_t *q8 = x[i].qs;
        unsigned h = w[i].scales_h;
        __m256i sumi0 = _mm256_setzero_si256(), sumi1 = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2, h >>= 4) {
            const int ls0 = ((w[i].scales_l[ib / 2] & 0xF) | ((h << 4) & 0x30)) - 32;
            const int ls1 = ((w[i].scales_l[ib / 2] >> 4) | ((h << 2) & 0x30)) - 32;
            __m256i p0 = iq4_pairs(iq4_values(table, qs + 16 * ib), load32(q8 + 32 * ib));
            __m256i p1 = iq4_pairs(iq4_values(table, qs + 16 * ib + 16), load32(q8 + 32 * ib + 32));
            sumi0 = _mm256_add_epi32(sumi0, _mm256_madd_epi16(p0, _mm256_set1_epi16((short)ls0)));
            sumi1 = _mm256_add_epi32(sumi1, _mm256_madd_epi16(p1, _mm256_set1_epi16((short)ls1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * x[i].d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi0, sumi1)), acc);
    }
    return hsum(acc);
}

// ---- Many rows against one activation row. Per-activation-block values that every row needs are
// computed once per call: the activation scale as float, and for Q4_0 the offset 8·d8·Σq8, which lets
// the nibbles stay unsigned (Σ (q − 8)·q8 = Σ q·q8 − 8·Σ q8) and saves the sign trick. Where the CPU
// has AVX512-VNNI (with VL), vpdpbusd replaces maddubs + madd. Measured on the Zen 5 VM, 2048 × 2048
// Q4_0 from L3, one thread: 201 µs per row-at-a-time pass, 147 µs prepared, 135 µs with VNNI.

static int vnni_allowed = 1;

static int has_vnni(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    }
    return cached && __atomic_load_n(&vnni_allowed, __ATOMIC_RELAXED);
}

int hayai_cpu_has_avx512vnni(void) {
    int allowed = __atomic_load_n(&vnni_allowed, __ATOMIC_RELAXED);
    __atomic_store_n(&vnni_allowed, 1, __ATOMIC_RELAXED);
    int has = has_vnni();
    __atomic_store_n(&vnni_allowed, allowed, __ATOMIC_RELAXED);
    return has;
}

void hayai_allow_vnni(int allowed) { __atomic_store_n(&vnni_allowed, allowed != 0, __ATOMIC_RELAXED); }

#define HAYAI_PREP_MAX 4096  // activation blocks prepared on the stack (131072 elements)

static inline __m256i sum_u8i8_madd(__m256i a, __m256i b) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

__attribute__((target("avx512vnni,avx512vl")))
static inline __m256i sum_u8i8_vnni(__m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
}

#define Q4_0_ROWS_BODY(SUM)                                                                          \
    for (int r = 0; r < rows; r++) {                                                                 \
        const hayai_block_q4_0 *w = (const hayai_block_q4_0 *)((const char *)w0 + (size_t)r * rowBytes); \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                               \
        float corr = 0;                                                                              \
        int i = 0;                                                                                   \
        for (; i + 1 < nb; i += 2) {                                                                 \
            __m256i p0 = SUM(nibbles32(w[i].qs), load32(x[i].qs));                                   \
            __m256i p1 = SUM(nibbles32(w[i + 1].qs), load32(x[i + 1].qs));                           \
            float d0 = f16(w[i].d), d1 = f16(w[i + 1].d);                                            \
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xd[i]), _mm256_cvtepi32_ps(p0), acc0);        \
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1 * xd[i + 1]), _mm256_cvtepi32_ps(p1), acc1);    \
            corr += d0 * xoff[i] + d1 * xoff[i + 1];                                                 \
        }                                                                                            \
        for (; i < nb; i++) {                                                                        \
            __m256i p = SUM(nibbles32(w[i].qs), load32(x[i].qs));                                    \
            float d = f16(w[i].d);                                                                   \
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * xd[i]), _mm256_cvtepi32_ps(p), acc0);          \
            corr += d * xoff[i];                                                                     \
        }                                                                                            \
        y[r] = hsum(_mm256_add_ps(acc0, acc1)) - corr;                                               \
    }

static void q4_0_rows_avx2(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *x,
                           const float *xd, const float *xoff, float *y) {
    Q4_0_ROWS_BODY(sum_u8i8_madd)
}

__attribute__((target("avx512vnni,avx512vl")))
static void q4_0_rows_vnni(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *x,
                           const float *xd, const float *xoff, float *y) {
    Q4_0_ROWS_BODY(sum_u8i8_vnni)
}

static void q8_0_rows(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *x,
                      const float *xd, float *y) {
    for (int r = 0; r < rows; r++) {
        const hayai_block_q8_0 *w = (const hayai_block_q8_0 *)((const char *)w0 + (size_t)r * rowBytes);
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 1 < nb; i += 2) {
            __m256i p0 = dot_i8(load32(w[i].qs), load32(x[i].qs));
            __m256i p1 = dot_i8(load32(w[i + 1].qs), load32(x[i + 1].qs));
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * xd[i]), _mm256_cvtepi32_ps(p0), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i + 1].d) * xd[i + 1]), _mm256_cvtepi32_ps(p1), acc1);
        }
        for (; i < nb; i++) {
            __m256i p = dot_i8(load32(w[i].qs), load32(x[i].qs));
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * xd[i]), _mm256_cvtepi32_ps(p), acc0);
        }
        y[r] = hsum(_mm256_add_ps(acc0, acc1));
    }
}

// ---- Q4_0 rows in 512-bit registers (AVX512-VNNI): two blocks per vpdpbusd. The activations are
// first rearranged per block pair as [x_i[0:16], x_i+1[0:16], x_i[16:32], x_i+1[16:32]] to match the
// unpacked nibbles [lo_i, lo_i+1, hi_i, hi_i+1]; four blocks' scales are converted with one
// vcvtph2ps and spread over the lanes with vpermps, and the offset term Σ d·8·d8·Σq8 accumulates
// four blocks at a time. Measured on the Zen 5 VM (2048 × 2048 from L3, one thread, shared
// machine, best of 300): 141 µs with 256-bit VNNI, 132 µs with a per-row scale pass, 117 µs so.

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))
static void q4_0_rows_zmm(int nb, const void *w0, size_t rowBytes, int rows, const uint8_t *xpairs,
                          const float *xd, const float *xoff, float *y) {
    const __m512i lowmask = _mm512_set1_epi8(0x0F);
    const __m512i idx01 = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    const __m512i idx23 = _mm512_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int r = 0; r < rows; r++) {
        const hayai_block_q4_0 *w = (const hayai_block_q4_0 *)((const uint8_t *)w0 + (size_t)r * rowBytes);
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        __m128 corr = _mm_setzero_ps();
        int i = 0;
        for (; i + 3 < nb; i += 4) {
            const hayai_block_q4_0 *b = w + i;
            // The four blocks' scales, converted together and multiplied by the activation scales.
            uint32_t d01 = (uint32_t)b[0].d | ((uint32_t)b[1].d << 16), d23 = (uint32_t)b[2].d | ((uint32_t)b[3].d << 16);
            __m128i dh = _mm_insert_epi32(_mm_cvtsi32_si128((int)d01), (int)d23, 1);
            __m128 dw = _mm_cvtph_ps(dh);
            __m128 sv = _mm_mul_ps(dw, _mm_loadu_ps(xd + i));
            corr = _mm_fmadd_ps(dw, _mm_loadu_ps(xoff + i), corr);
            __m256i q01 = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b[1].qs), _mm_loadu_si128((const __m128i *)b[0].qs));
            __m256i q23 = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b[3].qs), _mm_loadu_si128((const __m128i *)b[2].qs));
            __m512i n01 = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q01), _mm256_srli_epi16(q01, 4), 1), lowmask);
            __m512i n23 = _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q23), _mm256_srli_epi16(q23, 4), 1), lowmask);
            __m512i p01 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), n01, _mm512_load_si512((const void *)(xpairs + (size_t)i * 32)));
            __m512i p23 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), n23, _mm512_load_si512((const void *)(xpairs + (size_t)i * 32 + 64)));
            __m512 s512 = _mm512_castps128_ps512(sv);
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p01), _mm512_permutexvar_ps(idx01, s512), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p23), _mm512_permutexvar_ps(idx23, s512), acc1);
        }
        __m128 c2 = _mm_add_ps(corr, _mm_movehl_ps(corr, corr));
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - _mm_cvtss_f32(_mm_add_ss(c2, _mm_movehdup_ps(c2)));
        for (; i < nb; i++) {
            const hayai_block_q4_0 *b = w + i;
            const int8_t *xq = (const int8_t *)(xpairs + (size_t)(i & ~1) * 32);
            int lo = (i & 1) ? 16 : 0, dot = 0;
            for (int j = 0; j < 16; j++) dot += (b->qs[j] & 0x0F) * xq[lo + j] + (b->qs[j] >> 4) * xq[32 + lo + j];
            float d = f16(b->d);
            sum += d * xd[i] * (float)dot - d * xoff[i];
        }
        y[r] = sum;
    }
}

static int has_avx512_zmm(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
                 && __builtin_cpu_supports("avx512vnni");
    }
    return cached;
}

// Q4_1 rows: each weight block's (d, m) pair converted with one vcvtph2ps and multiplied by the
// activation block's prepared (d8, s) pair: lane 0 is the block's scale, lane 1 its min term m·s.
// Measured on the Zen 5 VM, SmolLM2-135M Q4_1 generation, one thread: the row-at-a-time loop took
// 65% of the time; this one is about twice as fast per row.
#define Q4_1_ROWS_BODY(SUM)                                                                          \
    for (int r = 0; r < rows; r++) {                                                                 \
        const hayai_block_q4_1 *w = (const hayai_block_q4_1 *)((const char *)w0 + (size_t)r * rowBytes); \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                               \
        __m128 mins0 = _mm_setzero_ps(), mins1 = _mm_setzero_ps();                                   \
        int i = 0;                                                                                   \
        for (; i + 1 < nb; i += 2) {                                                                 \
            __m256i p0 = SUM(nibbles32(w[i].qs), load32(x[i].qs));                                   \
            __m256i p1 = SUM(nibbles32(w[i + 1].qs), load32(x[i + 1].qs));                           \
            __m128 s0 = _mm_mul_ps(dm_pair(&w[i]), _mm_castpd_ps(_mm_load_sd((const double *)(xds + 2 * i)))); \
            __m128 s1 = _mm_mul_ps(dm_pair(&w[i + 1]), _mm_castpd_ps(_mm_load_sd((const double *)(xds + 2 * i + 2)))); \
            acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(s0), _mm256_cvtepi32_ps(p0), acc0);         \
            acc1 = _mm256_fmadd_ps(_mm256_broadcastss_ps(s1), _mm256_cvtepi32_ps(p1), acc1);         \
            mins0 = _mm_add_ps(mins0, s0); mins1 = _mm_add_ps(mins1, s1);                            \
        }                                                                                            \
        for (; i < nb; i++) {                                                                        \
            __m256i p = SUM(nibbles32(w[i].qs), load32(x[i].qs));                                    \
            __m128 s = _mm_mul_ps(dm_pair(&w[i]), _mm_castpd_ps(_mm_load_sd((const double *)(xds + 2 * i)))); \
            acc0 = _mm256_fmadd_ps(_mm256_broadcastss_ps(s), _mm256_cvtepi32_ps(p), acc0);           \
            mins0 = _mm_add_ps(mins0, s);                                                            \
        }                                                                                            \
        __m128 mins = _mm_add_ps(mins0, mins1);                                                      \
        y[r] = hsum(_mm256_add_ps(acc0, acc1)) + _mm_cvtss_f32(_mm_movehdup_ps(mins));               \
    }

// (d, m) of a Q4_1 block as floats in lanes 0 and 1.
static inline __m128 dm_pair(const hayai_block_q4_1 *b) {
    uint32_t v; memcpy(&v, &b->d, 4);
    __m128i h = _mm_cvtsi32_si128((int)v);
    __asm__("" : "+x"(h));
    return _mm_cvtph_ps(h);
}

static void q4_1_rows_avx2(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_1 *x,
                           const float *xds, float *y) {
    Q4_1_ROWS_BODY(sum_u8i8_madd)
}

__attribute__((target("avx512vnni,avx512vl")))
static void q4_1_rows_vnni(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_1 *x,
                           const float *xds, float *y) {
    Q4_1_ROWS_BODY(sum_u8i8_vnni)
}

typedef float (*dot_fn)(int, const void *, const void *);

int hayai_avx2_dot_rows(uint32_t type, int n, const void *w, size_t rowBytes, int rows, const void *x, float *y) {
    const int nb = n / HAYAI_QK;
    if ((type == 2 || type == 8) && nb <= HAYAI_PREP_MAX) {
        const hayai_block_q8_0 *xb = x;
        float xd[nb], xoff[nb];
        for (int i = 0; i < nb; i++) xd[i] = f16(xb[i].d);
        if (type == 8) {
            q8_0_rows(nb, w, rowBytes, rows, xb, xd, y);
            return 1;
        }
        for (int i = 0; i < nb; i++) xoff[i] = 8.0f * xd[i] * (float)sum_i8x32(xb[i].qs);
        if (has_vnni() && has_avx512_zmm()) {
            // Activations rearranged per block pair (an odd last block keeps the same layout, half used).
            uint8_t xpairs[(size_t)(nb + 1) * 32] __attribute__((aligned(64)));
            for (int i = 0; i < nb; i++) {
                uint8_t *dst = xpairs + (size_t)(i & ~1) * 32 + ((i & 1) ? 16 : 0);
                memcpy(dst, xb[i].qs, 16);
                memcpy(dst + 32, xb[i].qs + 16, 16);
            }
            q4_0_rows_zmm(nb, w, rowBytes, rows, xpairs, xd, xoff, y);
        } else if (has_vnni()) q4_0_rows_vnni(nb, w, rowBytes, rows, xb, xd, xoff, y);
        else q4_0_rows_avx2(nb, w, rowBytes, rows, xb, xd, xoff, y);
        return 1;
    }
    if (type == 3 && nb <= HAYAI_PREP_MAX) {
        const hayai_block_q8_1 *xb = x;
        float xds[2 * nb] __attribute__((aligned(16)));
        for (int i = 0; i < nb; i++) { xds[2 * i] = f16(xb[i].d); xds[2 * i + 1] = f16(xb[i].s); }
        if (has_vnni()) q4_1_rows_vnni(nb, w, rowBytes, rows, xb, xds, y);
        else q4_1_rows_avx2(nb, w, rowBytes, rows, xb, xds, y);
        return 1;
    }
    dot_fn f;
    switch (type) {  // GGML type numbers
    case 2: f = hayai_avx2_dot_q4_0_q8_0; break;
    case 3: f = hayai_avx2_dot_q4_1_q8_1; break;
    case 6: f = hayai_avx2_dot_q5_0_q8_0; break;
    case 7: f = hayai_avx2_dot_q5_1_q8_1; break;
    case 8: f = hayai_avx2_dot_q8_0_q8_0; break;
    case 10: f = hayai_avx2_dot_q2_K_q8_K; break;
    case 12: f = hayai_avx2_dot_q4_K_q8_K; break;
    case 13: f = hayai_avx2_dot_q5_K_q8_K; break;
    case 14: f = hayai_avx2_dot_q6_K_q8_K; break;
    case 11: f = hayai_avx2_dot_q3_K_q8_K; break;
    case 20: f = hayai_avx2_dot_iq4_nl_q8_0; break;
    case 23: f = hayai_avx2_dot_iq4_xs_q8_K; break;
    default: return 0;
    }
    const char *row = w;
    for (int r = 0; r < rows; r++, row += rowBytes) y[r] = f(n, row, x);
    return 1;
}

// ---- Many rows against several activation rows (prompt processing). Each weight block is loaded,
// unpacked and its scale converted once, then multiplied with 4 tokens' activations: the weight work
// per block-token pair drops to a quarter. Activation scales (and Q4_0's 8·d8·Σq8) are prepared per
// token once per call.

#define TOKENS 4

#define Q4_0_TOKENS_BODY(SUM)                                                                        \
    for (int r = 0; r < rows; r++) {                                                                 \
        const hayai_block_q4_0 *w = (const hayai_block_q4_0 *)((const char *)w0 + (size_t)r * rowBytes); \
        __m256 acc[TOKENS];                                                                          \
        float corr[TOKENS];                                                                          \
        for (int k = 0; k < TOKENS; k++) { acc[k] = _mm256_setzero_ps(); corr[k] = 0; }              \
        for (int i = 0; i < nb; i++) {                                                               \
            const __m256i q = nibbles32(w[i].qs);                                                    \
            const float d = f16(w[i].d);                                                             \
            for (int k = 0; k < TOKENS; k++) {                                                       \
                __m256i p = SUM(q, load32(x[k][i].qs));                                              \
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * xd[k][i]), _mm256_cvtepi32_ps(p), acc[k]); \
                corr[k] += d * xoff[k][i];                                                           \
            }                                                                                        \
        }                                                                                            \
        for (int k = 0; k < TOKENS; k++) y[k * ldy + r] = hsum(acc[k]) - corr[k];                    \
    }

static void q4_0_tokens_avx2(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *const *x,
                             float *const *xd, float *const *xoff, float *y, size_t ldy) {
    Q4_0_TOKENS_BODY(sum_u8i8_madd)
}

__attribute__((target("avx512vnni,avx512vl")))
static void q4_0_tokens_vnni(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *const *x,
                             float *const *xd, float *const *xoff, float *y, size_t ldy) {
    Q4_0_TOKENS_BODY(sum_u8i8_vnni)
}

#define Q8_0_TOKENS_BODY(SUM)                                                                        \
    for (int r = 0; r < rows; r++) {                                                                 \
        const hayai_block_q8_0 *w = (const hayai_block_q8_0 *)((const char *)w0 + (size_t)r * rowBytes); \
        __m256 acc[TOKENS];                                                                          \
        for (int k = 0; k < TOKENS; k++) acc[k] = _mm256_setzero_ps();                               \
        for (int i = 0; i < nb; i++) {                                                               \
            const __m256i q = load32(w[i].qs);                                                       \
            const __m256i aq = _mm256_sign_epi8(q, q);                                               \
            const float d = f16(w[i].d);                                                             \
            for (int k = 0; k < TOKENS; k++) {                                                       \
                __m256i p = SUM(aq, _mm256_sign_epi8(load32(x[k][i].qs), q));                        \
                acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d * xd[k][i]), _mm256_cvtepi32_ps(p), acc[k]); \
            }                                                                                        \
        }                                                                                            \
        for (int k = 0; k < TOKENS; k++) y[k * ldy + r] = hsum(acc[k]);                              \
    }

static void q8_0_tokens_avx2(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *const *x,
                             float *const *xd, float *y, size_t ldy) {
    Q8_0_TOKENS_BODY(sum_u8i8_madd)
}

__attribute__((target("avx512vnni,avx512vl")))
static void q8_0_tokens_vnni(int nb, const void *w0, size_t rowBytes, int rows, const hayai_block_q8_0 *const *x,
                             float *const *xd, float *y, size_t ldy) {
    Q8_0_TOKENS_BODY(sum_u8i8_vnni)
}

int hayai_avx2_dot_rows_tokens(uint32_t type, int n, const void *w, size_t rowBytes, int rows,
                               const void *x, size_t xStride, int tokens, float *y, size_t ldy) {
    const int nb = n / HAYAI_QK;
    if ((type != 2 && type != 8) || nb > HAYAI_PREP_MAX / TOKENS) {
        for (int s = 0; s < tokens; s++)
            if (!hayai_avx2_dot_rows(type, n, w, rowBytes, rows, (const char *)x + s * xStride, y + s * ldy)) return 0;
        return 1;
    }
    float prep[2 * TOKENS * nb];
    int s = 0;
    for (; s + TOKENS <= tokens; s += TOKENS) {
        const hayai_block_q8_0 *xs[TOKENS];
        float *xd[TOKENS], *xoff[TOKENS];
        for (int k = 0; k < TOKENS; k++) {
            xs[k] = (const hayai_block_q8_0 *)((const char *)x + (size_t)(s + k) * xStride);
            xd[k] = prep + k * nb;
            xoff[k] = prep + (TOKENS + k) * nb;
            for (int i = 0; i < nb; i++) {
                xd[k][i] = f16(xs[k][i].d);
                if (type == 2) xoff[k][i] = 8.0f * xd[k][i] * (float)sum_i8x32(xs[k][i].qs);
            }
        }
        float *ys = y + (size_t)s * ldy;
        if (type == 2) {
            if (has_vnni()) q4_0_tokens_vnni(nb, w, rowBytes, rows, xs, xd, xoff, ys, ldy);
            else q4_0_tokens_avx2(nb, w, rowBytes, rows, xs, xd, xoff, ys, ldy);
        } else {
            if (has_vnni()) q8_0_tokens_vnni(nb, w, rowBytes, rows, xs, xd, ys, ldy);
            else q8_0_tokens_avx2(nb, w, rowBytes, rows, xs, xd, ys, ldy);
        }
    }
    for (; s < tokens; s++) hayai_avx2_dot_rows(type, n, w, rowBytes, rows, (const char *)x + (size_t)s * xStride, y + (size_t)s * ldy);
    return 1;
}

