// hayai's own GEMM for training: C = alpha·op(A)·op(B) + beta·C, row-major, in f32 (FMA) or with A and B
// rounded to bf16 (vdpbf16ps, f32 accumulate). The blocking loops and the threads live in Swift
// (Kernels/GEMM.swift); this file packs panels and runs the register-blocked micro-kernels. The scalar
// reference the tests compare against is GEMM.reference.
//
// Layouts (GotoBLAS with the A micro-panel innermost, so A needs no shared buffer):
//   packed B block  kc × nc of op(B), as ceil(nc / 32) panels of 32 columns, each zero-padded:
//     f32   panel[p·32 + j]                = op(B)[p][j]                      (kc·32 floats)
//     bf16  panel[q·32 + j] (32-bit word)  = bf16(op(B)[2q][j]) | bf16(op(B)[2q+1][j]) << 16  (ceil(kc/2)·32 words)
//   packed A micro-panel (on the stack): 12 rows, the same with rows for columns:
//     f32   a[p·12 + i] = op(A)[i][p];  bf16  a[q·12 + i] = bf16(op(A)[i][2q]) | bf16(op(A)[i][2q+1]) << 16
//   An odd kc's last pair has a zero second half; rows and columns past the edge are zero and the
//   micro-kernel stores only the valid mr × nr corner (masked stores: nothing outside C is read or written).
// The micro-kernel keeps a 12 × 32 tile of C in 24 zmm registers: per k (f32) or k pair (bf16) it loads
// two B vectors and broadcasts 12 A values: 24 FMAs (or vdpbf16ps, 2 multiply-adds per lane) per 14 loads.
// Each element of C sums its k in one fixed order whatever the threads do, so results are bit-for-bit
// repeatable.
#include "CKernels.h"
#include <immintrin.h>
#include <string.h>

#define MR HAYAI_GEMM_MR
#define NR HAYAI_GEMM_NR
#define GEMM_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

int hayai_gemm_available(int bf16) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    int f32 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    return bf16 ? f32 && __builtin_cpu_supports("avx512bf16") : f32;
#else
    (void)bf16;
    return 0;
#endif
}

// Lanes 0..n-1 of a 16-lane mask (n clamped to 0..16).
static inline __mmask16 lanes(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Interleaves two f32 rows of w ≤ 16 values as bf16 pairs: out[j] = bf16(r0[j]) | bf16(r1[j]) << 16
// (r1 NULL: zero). Rounds to nearest even (vcvtne2ps2bf16).
GEMM_TARGET static inline void pair_to_bf16(const float *r0, const float *r1, int w, uint32_t *out) {
    static const short order[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                    8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __mmask16 m = lanes(w);
    __m512 lo = _mm512_maskz_loadu_ps(m, r0);
    __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);   // r0 in words 0..15, r1 in 16..31
    __m512i pairs = _mm512_permutexvar_epi16(_mm512_loadu_si512(order), both);
    _mm512_mask_storeu_epi32(out, m, pairs);
}

// Four rows of 8 floats, transposed: out[j] holds column j of the rows in its low 128 bits and column j + 4 in
// its high 128 bits (unpack, then shuffle within each 128-bit lane).
GEMM_TARGET static inline void transpose4x8(const float *r0, const float *r1, const float *r2, const float *r3, __m256 out[4]) {
    __m256 a = _mm256_loadu_ps(r0), b = _mm256_loadu_ps(r1), c = _mm256_loadu_ps(r2), d = _mm256_loadu_ps(r3);
    __m256 ab0 = _mm256_unpacklo_ps(a, b), ab1 = _mm256_unpackhi_ps(a, b);   // a0 b0 a1 b1 | a4 b4 a5 b5;  a2 b2 a3 b3 | a6 b6 a7 b7
    __m256 cd0 = _mm256_unpacklo_ps(c, d), cd1 = _mm256_unpackhi_ps(c, d);
    out[0] = _mm256_shuffle_ps(ab0, cd0, 0x44);   // a0 b0 c0 d0 | a4 b4 c4 d4
    out[1] = _mm256_shuffle_ps(ab0, cd0, 0xEE);   // a1 b1 c1 d1 | a5 b5 c5 d5
    out[2] = _mm256_shuffle_ps(ab1, cd1, 0x44);
    out[3] = _mm256_shuffle_ps(ab1, cd1, 0xEE);
}

// op(B)[p0 .. p0+kc) × [j0 .. j0+nr) (nr ≤ 32) as one f32 panel of kc × 32.
GEMM_TARGET static void pack_b_f32(int transB, const float *b, size_t ldb, int p0, int kc, int j0, int nr, float *panel) {
    if (!transB) {
        __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
        for (int p = 0; p < kc; p++) {
            const float *row = b + (size_t)(p0 + p) * ldb + j0;
            _mm512_storeu_ps(panel + p * NR, _mm512_maskz_loadu_ps(m0, row));
            _mm512_storeu_ps(panel + p * NR + 16, _mm512_maskz_loadu_ps(m1, row + 16));
        }
    } else {
        // op(B)[p][j] = B[j][p]: column j of the panel is a contiguous row of B. A full panel goes eight k at a
        // time through 4 × 8 transposes; the rest (and a narrower panel) element by element.
        const float *src = b + (size_t)j0 * ldb + p0;
        int p = 0;
        if (nr == NR) {
            for (; p + 8 <= kc; p += 8) {
                float *out = panel + (size_t)p * NR;
                for (int q = 0; q < NR / 4; q++) {
                    const float *r = src + (size_t)(4 * q) * ldb + p;
                    __m256 g[4];
                    transpose4x8(r, r + ldb, r + 2 * ldb, r + 3 * ldb, g);
                    for (int j = 0; j < 4; j++) {
                        _mm_storeu_ps(out + j * NR + 4 * q, _mm256_castps256_ps128(g[j]));
                        _mm_storeu_ps(out + (j + 4) * NR + 4 * q, _mm256_extractf128_ps(g[j], 1));
                    }
                }
            }
        }
        for (; p < kc; p++) {
#pragma clang loop vectorize(disable)
            for (int j = 0; j < NR; j++) panel[p * NR + j] = j < nr ? src[(size_t)j * ldb + p] : 0;
        }
    }
}

void hayai_gemm_pack_b(int bf16, int transB, const float *b, size_t ldb, int p0, int kc, int j0, int nc,
                       int panel0, int panel1, void *packed) {
    size_t panelWords = (size_t)(bf16 ? (kc + 1) / 2 : kc) * NR;
    for (int t = panel0; t < panel1; t++) {
        int jj = j0 + t * NR, nr = nc - t * NR < NR ? nc - t * NR : NR;
        if (!bf16) {
            pack_b_f32(transB, b, ldb, p0, kc, jj, nr, (float *)packed + t * panelWords);
        } else {
            float f32[HAYAI_GEMM_KC_BF16 * NR];
            pack_b_f32(transB, b, ldb, p0, kc, jj, nr, f32);
            uint32_t *out = (uint32_t *)packed + t * panelWords;
            for (int p = 0; p < kc; p += 2) {
                const float *r1 = p + 1 < kc ? f32 + (p + 1) * NR : NULL;
                pair_to_bf16(f32 + p * NR, r1, 16, out + (p / 2) * NR);
                pair_to_bf16(f32 + p * NR + 16, r1 ? r1 + 16 : NULL, 16, out + (p / 2) * NR + 16);
            }
        }
    }
}

// op(A)[i0 .. i0+mr) × [p0 .. p0+kc) (mr ≤ 12) as an f32 micro-panel of kc × 12.
GEMM_TARGET static void pack_a_f32(int transA, const float *a, size_t lda, int i0, int mr, int p0, int kc, float *panel) {
    if (transA) {
        // op(A)[i][p] = A[p][i]: a row of the panel is a contiguous piece of a row of A (lanes past mr zero).
        __mmask16 m = lanes(mr);
        for (int p = 0; p < kc; p++) {
            _mm512_mask_storeu_ps(panel + p * MR, 0x0FFF, _mm512_maskz_loadu_ps(m, a + (size_t)(p0 + p) * lda + i0));
        }
        return;
    }
    const float *src = a + (size_t)i0 * lda + p0;
    int p = 0;
    if (mr == MR) {
        // Eight k at a time: three 4 × 8 transposes give the eight panel rows of 12 (the compiler's own
        // vectorisation of the scalar loop below used scatters, slow on Zen).
        for (; p + 8 <= kc; p += 8) {
            __m256 g[3][4];
            for (int q = 0; q < 3; q++) {
                const float *r = src + (size_t)(4 * q) * lda + p;
                transpose4x8(r, r + lda, r + 2 * lda, r + 3 * lda, g[q]);
            }
            float *out = panel + (size_t)p * MR;
            for (int j = 0; j < 4; j++) {
                for (int q = 0; q < 3; q++) {
                    _mm_storeu_ps(out + j * MR + 4 * q, _mm256_castps256_ps128(g[q][j]));
                    _mm_storeu_ps(out + (j + 4) * MR + 4 * q, _mm256_extractf128_ps(g[q][j], 1));
                }
            }
        }
    }
    // What is left (the last kc % 8, or every k of a panel shorter than 12 rows), element by element.
    for (; p < kc; p++) {
#pragma clang loop vectorize(disable)
        for (int i = 0; i < MR; i++) panel[p * MR + i] = i < mr ? src[(size_t)i * lda + p] : 0;
    }
}

// acc (12 × 32) → C: C = alpha·acc + beta·C on the valid mr × nr corner (beta 0: C is not read).
#define STORE_TILE()                                                                                   \
    do {                                                                                               \
        __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);                                                 \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                  \
        for (int i = 0; i < MR; i++) {                                                                 \
            if (i >= mr) break;                                                                        \
            float *row = c + (size_t)i * ldc;                                                          \
            __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);               \
            if (beta != 0) {                                                                           \
                r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);                          \
                r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);                     \
            }                                                                                          \
            _mm512_mask_storeu_ps(row, m0, r0);                                                        \
            _mm512_mask_storeu_ps(row + 16, m1, r1);                                                   \
        }                                                                                              \
    } while (0)

// C's tile into the cache while the k loop runs: its rows are ldc apart, and the store (and, with beta, the load)
// at the end otherwise waits on them (perf showed the tile's beta loads as a tenth of the kernel's time).
static inline void prefetch_tile(const float *c, size_t ldc, int mr) {
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + 16), _MM_HINT_T0);
    }
}

GEMM_TARGET static void kernel_f32(int kc, const float *ap, const float *bp, float *c, size_t ldc, int mr, int nr,
                                   float alpha, float beta) {
    prefetch_tile(c, ldc, mr);
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(ap[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        ap += MR;
        bp += NR;
    }
    STORE_TILE();
}

GEMM_TARGET static void kernel_bf16(int pairs, const uint32_t *ap, const uint32_t *bp, float *c, size_t ldc, int mr, int nr,
                                    float alpha, float beta) {
    prefetch_tile(c, ldc, mr);
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp), b1 = (__m512bh)_mm512_loadu_si512(bp + 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
        }
        ap += MR;
        bp += NR;
    }
    STORE_TILE();
}

GEMM_TARGET void hayai_gemm_rows(int bf16, int transA, const float *a, size_t lda, int i0, int rows, int p0, int kc,
                                 const void *packedB, int nc, float alpha, float beta, float *c, size_t ldc) {
    float af[HAYAI_GEMM_KC_BF16 * MR];
    uint32_t ab[HAYAI_GEMM_KC_BF16 / 2 * MR];
    int pairs = (kc + 1) / 2;
    size_t panelWords = (size_t)(bf16 ? pairs : kc) * NR;
    for (int ir = 0; ir < rows; ir += MR) {
        int mr = rows - ir < MR ? rows - ir : MR;
        pack_a_f32(transA, a, lda, i0 + ir, mr, p0, kc, af);
        if (bf16) {
            for (int p = 0; p < kc; p += 2) pair_to_bf16(af + p * MR, p + 1 < kc ? af + (p + 1) * MR : NULL, MR, ab + (p / 2) * MR);
        }
        float *crow = c + (size_t)(i0 + ir) * ldc;
        for (int jr = 0, t = 0; jr < nc; jr += NR, t++) {
            int nr = nc - jr < NR ? nc - jr : NR;
            if (bf16) {
                kernel_bf16(pairs, ab, (const uint32_t *)packedB + t * panelWords, crow + jr, ldc, mr, nr, alpha, beta);
            } else {
                kernel_f32(kc, af, (const float *)packedB + t * panelWords, crow + jr, ldc, mr, nr, alpha, beta);
            }
        }
    }
}

// BLAS.precision: one process-wide value (0 f32, 1 bf16), defined once here (a static in the header
// would give each Swift file its own copy).
static int gemm_precision = 0;
int hayai_gemm_precision_get(void) { return __atomic_load_n(&gemm_precision, __ATOMIC_RELAXED); }
void hayai_gemm_precision_set(int bf16) { __atomic_store_n(&gemm_precision, bf16 != 0, __ATOMIC_RELAXED); }

// The arithmetic ceilings the benchmark reports shares of: `iterations` × 24 independent zmm FMAs (32 flops
// each) or vdpbf16ps (64 flops each) with no memory traffic; returns a checksum so nothing is optimised away.
GEMM_TARGET float hayai_gemm_peak(int bf16, long iterations) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-6f);
    __m512bh xb = _mm512_cvtne2ps_pbh(x, x), yb = _mm512_cvtne2ps_pbh(y, y);
    for (long it = 0; it < iterations; it++) {
        if (bf16) {
#pragma clang loop unroll(full)
            for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], xb, yb);
        } else {
#pragma clang loop unroll(full)
            for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
        }
        __asm__ volatile("" : "+v"(x));   // keeps the loop from being folded
    }
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < 24; i++) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}
