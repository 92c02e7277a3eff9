// AVX2 loops of the decoder outside the quantized dot products: matrix-vector products with F32,
// F16 and BF16 weights, attention of one query over a key/value cache stored as F32, F16 or Q8_0
// (F16 and Q8_0 on AVX-512 where the CPU has it),
// softmax with a vectorized exp, and the element-wise row operations (norms, SiLU gate, adds).
// Each has a plain version it is tested against (Kernels/Ops.swift, Tests/KernelsTests/FastOpsTests.swift).
#include "CKernels.h"
#include "simd.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
static inline float bf16_to_float(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

static inline __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 load8_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

// ---- Matrix-vector products y[r] = W_r · x, W row-major with `stride` elements between rows.
// Four rows at a time share each load of x; four accumulators per row hide the FMA latency.

#define DOT_ROWS(NAME, T, LOAD8, SCALAR)                                                              \
void NAME(const T *w, size_t stride, int rows, int n, const float *x, float *y) {                   \
    int r = 0;                                                                                        \
    for (; r + 4 <= rows; r += 4) {                                                                   \
        const T *w0 = w + (size_t)r * stride, *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride; \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps(); \
        int i = 0;                                                                                    \
        for (; i + 8 <= n; i += 8) {                                                                  \
            __m256 xv = _mm256_loadu_ps(x + i);                                                       \
            a0 = _mm256_fmadd_ps(LOAD8(w0 + i), xv, a0);                                              \
            a1 = _mm256_fmadd_ps(LOAD8(w1 + i), xv, a1);                                              \
            a2 = _mm256_fmadd_ps(LOAD8(w2 + i), xv, a2);                                              \
            a3 = _mm256_fmadd_ps(LOAD8(w3 + i), xv, a3);                                              \
        }                                                                                             \
        float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);                          \
        for (; i < n; i++) {                                                                          \
            s0 += SCALAR(w0[i]) * x[i]; s1 += SCALAR(w1[i]) * x[i];                                    \
            s2 += SCALAR(w2[i]) * x[i]; s3 += SCALAR(w3[i]) * x[i];                                    \
        }                                                                                             \
        y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;                                       \
    }                                                                                                 \
    for (; r < rows; r++) {                                                                           \
        const T *w0 = w + (size_t)r * stride;                                                         \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                                    \
        int i = 0;                                                                                    \
        for (; i + 16 <= n; i += 16) {                                                                \
            a0 = _mm256_fmadd_ps(LOAD8(w0 + i), _mm256_loadu_ps(x + i), a0);                          \
            a1 = _mm256_fmadd_ps(LOAD8(w0 + i + 8), _mm256_loadu_ps(x + i + 8), a1);                  \
        }                                                                                             \
        for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LOAD8(w0 + i), _mm256_loadu_ps(x + i), a0);   \
        float s = hsum8(_mm256_add_ps(a0, a1));                                                       \
        for (; i < n; i++) s += SCALAR(w0[i]) * x[i];                                                 \
        y[r] = s;                                                                                     \
    }                                                                                                 \
}

#define IDENTITY(v) (v)
DOT_ROWS(hayai_f32_dot_rows, float, _mm256_loadu_ps, IDENTITY)
DOT_ROWS(hayai_f16_dot_rows, uint16_t, load8_f16, half_to_float)
DOT_ROWS(hayai_bf16_dot_rows, uint16_t, load8_bf16, bf16_to_float)

void hayai_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(src + i));
    for (; i < n; i++) dst[i] = half_to_float(src[i]);
}

void hayai_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_bf16(src + i));
    for (; i < n; i++) dst[i] = bf16_to_float(src[i]);
}

void hayai_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

static inline float max_row(const float *x, int n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mv), _mm256_extractf128_ps(mv, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float m = _mm_cvtss_f32(m4);
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

void hayai_softmax(float *x, int n) {
    if (n <= 0) return;
    float m = max_row(x, n);
    int i;
    const __m256 mb = _mm256_set1_ps(m);
    __m256 sv = _mm256_setzero_ps();
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float sum = hsum8(sv);
    for (; i < n; i++) { x[i] = expf(x[i] - m); sum += x[i]; }
    const float inv = 1.0f / sum;
    const __m256 iv = _mm256_set1_ps(inv);
    i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), iv));
    for (; i < n; i++) x[i] *= inv;
}

// Cross-entropy over a vocabulary row: log Σ exp(x_i), shifted by the row's max; two accumulators of 8.
float hayai_logsumexp(const float *x, int n) {
    if (n <= 0) return -INFINITY;
    const float m = max_row(x, n);
    const __m256 mb = _mm256_set1_ps(m);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_ps(s0, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb)));
        s1 = _mm256_add_ps(s1, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mb)));
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_add_ps(s0, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb)));
    float sum = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) sum += expf(x[i] - m);
    return m + logf(sum);
}

// In place: x[i] = exp(x[i] − lse) · scale (softmax times the loss scale; the target's −scale is the caller's).
void hayai_softmax_from_lse(float *x, int n, float lse, float scale) {
    const __m256 lb = _mm256_set1_ps(lse), sb = _mm256_set1_ps(scale);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), lb)), sb));
    for (; i < n; i++) x[i] = expf(x[i] - lse) * scale;
}

// Softmax's backward over one row of probabilities p: d_j = p_j · (d_j − Σ_k p_k·d_k).
void hayai_softmax_backward(const float *p, float *d, int n) {
    __m256 a = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(d + i), a);
    float dot = hsum8(a);
    for (; i < n; i++) dot += p[i] * d[i];
    const __m256 db = _mm256_set1_ps(dot);
    i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_sub_ps(_mm256_loadu_ps(d + i), db)));
    for (; i < n; i++) d[i] = p[i] * (d[i] - dot);
}

// Gated SiLU, forward into its own buffer (training keeps gate and up): out[i] = silu(gate[i]) · up[i]; out may be up.
// This is the AVX2 path; hayai_silu_mul_into runs the first n − n % 16 elements 16 lanes wide where
// the CPU has AVX-512 (exp16, the same division and product: the same bits), which halved the MLP
// activation of a SmolLM2 prompt (~0.24 -> ~0.12 ms a layer of 512 × 1536 on Zen 5).
void hayai_silu_mul_into_avx2(const float *gate, const float *up, float *out, size_t n) {
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(up + i), s));
    }
    for (; i < n; i++) out[i] = up[i] * (gate[i] / (1.0f + expf(-gate[i])));
}

__attribute__((target("avx512f"))) static size_t silu_mul_x16(const float *gate, const float *up, float *out, size_t n) {
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(up + i), s));
    }
    return i;
}

void hayai_silu_mul_into(const float *gate, const float *up, float *out, size_t n) {
    const size_t done = hayai_x16_available() ? silu_mul_x16(gate, up, out, n) : 0;
    hayai_silu_mul_into_avx2(gate + done, up + done, out + done, n - done);
}

// up[i] *= silu(gate[i]) = gate / (1 + exp(-gate)), in place (inference keeps no separate up).
void hayai_silu_mul(float *up, const float *gate, size_t n) { hayai_silu_mul_into(gate, up, up, n); }

// Its backward: with s = σ(gate), dup = dout · gate · s and dgate = dout · up · s · (1 + gate · (1 − s)).
void hayai_silu_mul_backward(const float *dout, const float *gate, const float *up, float *dgate, float *dup, size_t n) {
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dout + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(d, x), s));
        __m256 slope = _mm256_add_ps(one, _mm256_mul_ps(x, _mm256_sub_ps(one, s)));
        _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), s), slope));
    }
    for (; i < n; i++) {
        const float x = gate[i], s = 1.0f / (1.0f + expf(-x));
        dup[i] = dout[i] * x * s;
        dgate[i] = dout[i] * up[i] * s * (1.0f + x * (1.0f - s));
    }
}

// x[i] += y[i]
void hayai_add(float *x, const float *y, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) x[i] += y[i];
}

static inline float sum_row(const float *x, int n) {
    __m256 a = _mm256_setzero_ps(); int i = 0;
    for (; i + 8 <= n; i += 8) a = _mm256_add_ps(a, _mm256_loadu_ps(x + i));
    float s = hsum8(a);
    for (; i < n; i++) s += x[i];
    return s;
}

// LayerNorm of one row of n (weight/bias may be NULL); out may alias x.
void hayai_layernorm(const float *x, int n, const float *weight, const float *bias, float eps, float *out) {
    const float mean = sum_row(x, n) / (float)n;
    const __m256 mb = _mm256_set1_ps(mean);
    __m256 a = _mm256_setzero_ps(); int i = 0;
    for (; i + 8 <= n; i += 8) { __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), mb); a = _mm256_fmadd_ps(d, d, a); }
    float var = hsum8(a);
    for (; i < n; i++) { float d = x[i] - mean; var += d * d; }
    var /= (float)n;
    const float rstd = 1.0f / sqrtf(var + eps);
    for (i = 0; i < n; i++) {
        float v = (x[i] - mean) * rstd;
        if (weight) v *= weight[i];
        if (bias) v += bias[i];
        out[i] = v;
    }
}

void hayai_rmsnorm(const float *x, int n, const float *weight, float eps, float *out) {
    __m256 a = _mm256_setzero_ps(); int i = 0;
    for (; i + 8 <= n; i += 8) { __m256 v = _mm256_loadu_ps(x + i); a = _mm256_fmadd_ps(v, v, a); }
    float ss = hsum8(a);
    for (; i < n; i++) ss += x[i] * x[i];
    const float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

// ---- Attention of one query head over a cache. Rows of the cache are `rowBytes` apart and hold
// kvDim elements of `type` (0 F32, 1 F16, 8 Q8_0 in blocks of 32 along the row); a head is the
// elements [off, off + d) of each row.

typedef struct { uint16_t d; int8_t qs[32]; } kv_q8;

static inline float q8_elem(const void *row, int i) {
    const kv_q8 *b = (const kv_q8 *)row + i / 32;
    return half_to_float(b->d) * (float)b->qs[i % 32];
}

static inline __m256 load8_i8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

static float row_dot(int type, const float *q, const void *row, int off, int d) {
    int i = 0;
    __m256 a = _mm256_setzero_ps();
    float s = 0;
    switch (type) {
    case 0: {
        const float *r = (const float *)row + off;
        for (; i + 8 <= d; i += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(r + i), _mm256_loadu_ps(q + i), a);
        s = hsum8(a);
        for (; i < d; i++) s += r[i] * q[i];
        return s;
    }
    case 1: {
        const uint16_t *r = (const uint16_t *)row + off;
        for (; i + 8 <= d; i += 8) a = _mm256_fmadd_ps(load8_f16(r + i), _mm256_loadu_ps(q + i), a);
        s = hsum8(a);
        for (; i < d; i++) s += half_to_float(r[i]) * q[i];
        return s;
    }
    default:
        if (off % 32 == 0 && d % 32 == 0) {
            const kv_q8 *b = (const kv_q8 *)row + off / 32;
            for (int k = 0; k < d / 32; k++) {
                __m256 p = _mm256_mul_ps(load8_i8(b[k].qs), _mm256_loadu_ps(q + 32 * k));
                p = _mm256_fmadd_ps(load8_i8(b[k].qs + 8), _mm256_loadu_ps(q + 32 * k + 8), p);
                p = _mm256_fmadd_ps(load8_i8(b[k].qs + 16), _mm256_loadu_ps(q + 32 * k + 16), p);
                p = _mm256_fmadd_ps(load8_i8(b[k].qs + 24), _mm256_loadu_ps(q + 32 * k + 24), p);
                a = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(b[k].d)), p, a);
            }
            return hsum8(a);
        }
        for (; i < d; i++) s += q8_elem(row, off + i) * q[i];
        return s;
    }
}

// out[i] += p · row[off + i]
static void row_axpy(int type, float p, const void *row, int off, int d, float *out) {
    int i = 0;
    const __m256 pv = _mm256_set1_ps(p);
    switch (type) {
    case 0: {
        const float *r = (const float *)row + off;
        for (; i + 8 <= d; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(r + i), _mm256_loadu_ps(out + i)));
        for (; i < d; i++) out[i] += p * r[i];
        return;
    }
    case 1: {
        const uint16_t *r = (const uint16_t *)row + off;
        for (; i + 8 <= d; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, load8_f16(r + i), _mm256_loadu_ps(out + i)));
        for (; i < d; i++) out[i] += p * half_to_float(r[i]);
        return;
    }
    default:
        if (off % 32 == 0 && d % 32 == 0) {
            const kv_q8 *b = (const kv_q8 *)row + off / 32;
            for (int k = 0; k < d / 32; k++) {
                const __m256 s = _mm256_set1_ps(p * half_to_float(b[k].d));
                for (int j = 0; j < 32; j += 8) {
                    float *o = out + 32 * k + j;
                    _mm256_storeu_ps(o, _mm256_fmadd_ps(s, load8_i8(b[k].qs + j), _mm256_loadu_ps(o)));
                }
            }
            return;
        }
        for (; i < d; i++) out[i] += p * q8_elem(row, off + i);
        return;
    }
}

// ---- One token over an F16 or Q8_0 cache on AVX-512: rows in blocks small enough for L1, each block's
// kv-head slice widened to floats once (each element d · q for Q8_0, as q8_elem computes it) and used by
// every query head of the group that reads it, then per head the scores of the block's rows (q in
// registers) and, after the softmax, the values accumulated into out in registers. The AVX2 path below
// converts a row inside every head's dot product and axpy (group times over) and loads and stores out
// per row: at long contexts that made a Q8_0 cache slower than an F32 one, which it reads 3.8x more of.

#define KV_TARGET __attribute__((target("avx512f,f16c")))
#define KV_BLOCK_FLOATS 8192   // a widened block: 32 KiB
#define KV_BLOCK_ROWS 32       // rows of a block, at least (kv heads are widened together as far as that allows)
#define KV_WIDE_MAX 256        // head sizes the AVX-512 path takes (16 vectors of q or out per head)

static int kv_use_avx512 = -1;
void hayai_attend_heads_set_avx512(int on) { kv_use_avx512 = on && hayai_x16_available(); }
int hayai_attend_heads_avx512(void) {
    if (kv_use_avx512 < 0) kv_use_avx512 = hayai_x16_available();
    return kv_use_avx512;
}

// Elements [off, off + d) of `rows` rows as floats, (rows, d); d a multiple of 16 (of 32 for Q8_0, off too).
KV_TARGET static void kv_widen_rows512(int type, const char *base, size_t rowBytes, int off, int d, int rows, float *out) {
    const size_t start = type == 1 ? 2 * (size_t)off : (size_t)off / 32 * sizeof(kv_q8);
    const size_t bytes = type == 1 ? 2 * (size_t)d : (size_t)d / 32 * sizeof(kv_q8);
    for (int j = 0; j < rows; j++, out += d) {
        const char *row = base + (size_t)j * rowBytes;
        // The same row of the next block: the scores or values of this one take long enough for it to arrive.
        for (size_t b = 0; b < bytes; b += 64) _mm_prefetch(row + (size_t)rows * rowBytes + start + b, _MM_HINT_T0);
        if (type == 1) {
            const uint16_t *r = (const uint16_t *)row + off;
            for (int i = 0; i < d; i += 16) _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + i))));
            continue;
        }
        const kv_q8 *b = (const kv_q8 *)row + off / 32;
        for (int k = 0; k < d / 32; k++) {
            const __m512 s = _mm512_set1_ps(half_to_float(b[k].d));
            const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[k].qs)));
            const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[k].qs + 16))));
            _mm512_storeu_ps(out + 32 * k, _mm512_mul_ps(s, lo));
            _mm512_storeu_ps(out + 32 * k + 16, _mm512_mul_ps(s, hi));
        }
    }
}

// q · w in 16 lanes still to be added (two chains of fused multiply-adds, NV = d / 16 vectors).
KV_TARGET __attribute__((always_inline)) static inline __m512 kv_dot512(int NV, const __m512 *qv, const float *w) {
    __m512 a0 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(w)), a1 = _mm512_setzero_ps();
    if (NV > 1) a1 = _mm512_mul_ps(qv[1], _mm512_loadu_ps(w + 16));
    for (int v = 2; v + 1 < NV; v += 2) {
        a0 = _mm512_fmadd_ps(qv[v], _mm512_loadu_ps(w + 16 * v), a0);
        a1 = _mm512_fmadd_ps(qv[v + 1], _mm512_loadu_ps(w + 16 * v + 16), a1);
    }
    if (NV > 2 && NV % 2) a0 = _mm512_fmadd_ps(qv[NV - 1], _mm512_loadu_ps(w + 16 * (NV - 1)), a0);
    return _mm512_add_ps(a0, a1);
}

// The lane sums of 16 vectors as one vector (element i: the sum of r[i]), halving the lanes per vector and
// doubling the vectors per register at each step: 46 instructions where 16 horizontal sums take 128.
KV_TARGET __attribute__((always_inline)) static inline __m512 kv_sum16(const __m512 *r) {
    __m512 t[8], u[4], v[2];
    // t[k]: rows 2k and 2k + 1, 8 partial sums each (a 256-bit half apiece).
    for (int k = 0; k < 8; k++)
        t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(r[2 * k], r[2 * k + 1], 0x44), _mm512_shuffle_f32x4(r[2 * k], r[2 * k + 1], 0xEE));
    // u[k]: rows 4k ... 4k + 3, 4 partial sums each (128-bit lane L: row 4k + L).
    for (int k = 0; k < 4; k++)
        u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0x88), _mm512_shuffle_f32x4(t[2 * k], t[2 * k + 1], 0xDD));
    // v[k]: lane L holds 2 partial sums of row 8k + L, then 2 of row 8k + 4 + L.
    for (int k = 0; k < 2; k++)
        v[k] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44), _mm512_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
    // Lane L: the sums of rows L, 4 + L, 8 + L, 12 + L; element 4L + m holds row 4m + L.
    const __m512 w = _mm512_add_ps(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xDD));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), w);
}

// scores[j] = scale · q · w_j for the block's rows w (rows, d; ldw floats apart), NV = d / 16 vectors (a constant
// where inlined); 16 rows' sums at a time.
KV_TARGET __attribute__((always_inline)) static inline void kv_scores512(int NV, const float *w, size_t ldw, int rows, const float *q,
                                                                          float scale, float *scores) {
    __m512 qv[KV_WIDE_MAX / 16];
    for (int v = 0; v < NV; v++) qv[v] = _mm512_loadu_ps(q + 16 * v);
    int j = 0;
    for (; j + 16 <= rows; j += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = kv_dot512(NV, qv, w + (size_t)(j + i) * ldw);
        _mm512_storeu_ps(scores + j, _mm512_mul_ps(_mm512_set1_ps(scale), kv_sum16(r)));
    }
    for (; j < rows; j++) scores[j] = scale * _mm512_reduce_add_ps(kv_dot512(NV, qv, w + (size_t)j * ldw));
}

// o (d) += Σ_j p[j] · w_j over the block's rows; even and odd rows in two sets of accumulators (while
// they fit in registers) so that twice as many fused multiply-adds are in flight.
KV_TARGET __attribute__((always_inline)) static inline void kv_values512(int NV, const float *w, size_t ldw, int rows, const float *p,
                                                                          float *o) {
    __m512 a[KV_WIDE_MAX / 16], b[KV_WIDE_MAX / 16];
    const int two = NV <= 8;
    for (int v = 0; v < NV; v++) { a[v] = _mm512_loadu_ps(o + 16 * v); b[v] = _mm512_setzero_ps(); }
    int j = 0;
    if (two)
        for (; j + 2 <= rows; j += 2, w += 2 * ldw) {
            const __m512 p0 = _mm512_set1_ps(p[j]), p1 = _mm512_set1_ps(p[j + 1]);
            for (int v = 0; v < NV; v++) {
                a[v] = _mm512_fmadd_ps(p0, _mm512_loadu_ps(w + 16 * v), a[v]);
                b[v] = _mm512_fmadd_ps(p1, _mm512_loadu_ps(w + ldw + 16 * v), b[v]);
            }
        }
    for (; j < rows; j++, w += ldw) {
        const __m512 pj = _mm512_set1_ps(p[j]);
        for (int v = 0; v < NV; v++) a[v] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(w + 16 * v), a[v]);
    }
    for (int v = 0; v < NV; v++) _mm512_storeu_ps(o + 16 * v, two ? _mm512_add_ps(a[v], b[v]) : a[v]);
}

KV_TARGET static void kv_scores512_any(int NV, const float *w, size_t ldw, int rows, const float *q, float scale, float *scores) {
    switch (NV) {
    case 2: kv_scores512(2, w, ldw, rows, q, scale, scores); return;
    case 4: kv_scores512(4, w, ldw, rows, q, scale, scores); return;
    case 6: kv_scores512(6, w, ldw, rows, q, scale, scores); return;
    case 8: kv_scores512(8, w, ldw, rows, q, scale, scores); return;
    default: kv_scores512(NV, w, ldw, rows, q, scale, scores); return;
    }
}

KV_TARGET static void kv_values512_any(int NV, const float *w, size_t ldw, int rows, const float *p, float *o) {
    switch (NV) {
    case 2: kv_values512(2, w, ldw, rows, p, o); return;
    case 4: kv_values512(4, w, ldw, rows, p, o); return;
    case 6: kv_values512(6, w, ldw, rows, p, o); return;
    case 8: kv_values512(8, w, ldw, rows, p, o); return;
    default: kv_values512(NV, w, ldw, rows, p, o); return;
    }
}

// hayai_attend_heads for an F16 or Q8_0 cache on AVX-512 (d a multiple of 16, of 32 for Q8_0, at most KV_WIDE_MAX).
// The kv heads the range reads are widened together, as many at a time as leave a block KV_BLOCK_ROWS rows: a
// block then reads each row's slices as one stretch (and prefetches the next block's); one kv head at a time
// read pieces a row apart and waited on memory.
static void attend_heads512(int type, const float *q, const char *k, const char *v, size_t rowBytes, int d, int group, int h0,
                            int h1, int length, float scale, float *scores, size_t ldScores, float *out) {
    float wide[KV_BLOCK_FLOATS] __attribute__((aligned(64)));
    // Rows per block: a multiple of 16 (whole sums of kv_sum16), the same whatever heads the range holds, so
    // that a head's result does not depend on how the heads are split over threads.
    const int NV = d / 16, kvEnd = (h1 - 1) / group + 1, chunk = KV_BLOCK_FLOATS / KV_BLOCK_ROWS / d > 0 ? KV_BLOCK_FLOATS / KV_BLOCK_ROWS / d : 1;
    const int block = KV_BLOCK_FLOATS / (chunk * d) / 16 * 16;
    for (int pass = 0; pass < 2; pass++) {
        const char *base = pass == 0 ? k : v;
        if (pass == 1)
            for (int h = h0; h < h1; h++) {
                hayai_softmax(scores + (size_t)h * ldScores, length);
                memset(out + (size_t)h * d, 0, sizeof(float) * (size_t)d);
            }
        for (int kv0 = h0 / group; kv0 < kvEnd; kv0 += chunk) {
            const int kv1 = kv0 + chunk < kvEnd ? kv0 + chunk : kvEnd, width = (kv1 - kv0) * d;
            const int hs = kv0 * group > h0 ? kv0 * group : h0, he = kv1 * group < h1 ? kv1 * group : h1;
            for (int j0 = 0; j0 < length; j0 += block) {
                const int rows = length - j0 < block ? length - j0 : block;
                kv_widen_rows512(type, base + (size_t)j0 * rowBytes, rowBytes, kv0 * d, width, rows, wide);
                for (int h = hs; h < he; h++) {
                    const float *w = wide + (size_t)(h / group - kv0) * d;
                    float *sh = scores + (size_t)h * ldScores + j0;
                    if (pass == 0) kv_scores512_any(NV, w, (size_t)width, rows, q + (size_t)h * d, scale, sh);
                    else kv_values512_any(NV, w, (size_t)width, rows, sh, out + (size_t)h * d);
                }
            }
        }
    }
}

// Query heads [h0, h1) of one token at once, position by position: each cache row is read once, as
// one contiguous stretch (the heads' slices of it), instead of once per head at a stride of the
// row: one head at a time read 256-byte pieces 8 KiB apart and ran at a fraction of the bandwidth.
// q and out are (heads, d); head h reads kv head h / group at elements [kvh·d, kvh·d + d);
// scores has `ldScores` floats per head.
void hayai_attend_heads(int type, const float *q, const void *keys, const void *values, size_t rowBytes, int d, int group,
                        int h0, int h1, int length, float scale, float *scores, size_t ldScores, float *out) {
    const char *k = keys, *v = values;
    if (type != 0 && d % (type == 1 ? 16 : 32) == 0 && d <= KV_WIDE_MAX && hayai_attend_heads_avx512()) {
        attend_heads512(type, q, k, v, rowBytes, d, group, h0, h1, length, scale, scores, ldScores, out);
        return;
    }
    for (int j = 0; j < length; j++) {
        const char *row = k + (size_t)j * rowBytes;
        for (int h = h0; h < h1; h++) scores[(size_t)h * ldScores + j] = scale * row_dot(type, q + (size_t)h * d, row, (h / group) * d, d);
    }
    for (int h = h0; h < h1; h++) {
        hayai_softmax(scores + (size_t)h * ldScores, length);
        memset(out + (size_t)h * d, 0, sizeof(float) * (size_t)d);
    }
    for (int j = 0; j < length; j++) {
        const char *row = v + (size_t)j * rowBytes;
        for (int h = h0; h < h1; h++) row_axpy(type, scores[(size_t)h * ldScores + j], row, (h / group) * d, d, out + (size_t)h * d);
    }
}

static void kv_row_to_f32(int type, const void *row, int off, int d, float *out);

// Elements [off, off + d) of `rows` cache rows as floats, (rows, d) row-major.
void hayai_kv_rows_to_f32(int type, const void *base, size_t rowBytes, int off, int d, int rows, float *out) {
    const char *p = base;
    for (int j = 0; j < rows; j++, p += rowBytes) kv_row_to_f32(type, p, off, d, out + (size_t)j * d);
}

// ---- Streaming read for the roofline: touches every 32 bytes of [p, p + bytes) once.
uint64_t hayai_stream_read(const void *p, size_t bytes) {
    const __m256i *v = p;
    size_t n = bytes / 32, i = 0;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 4 <= n; i += 4) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + i));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + i + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + i + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + i + 3));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return out[0] + out[1] + out[2] + out[3];
}

// ---- Dequantization of Q8_0 and Q4_0 rows for the prompt path's sgemm tiles (n a whole number
// of 32-blocks). Equal to the scalar references in Kernels/Quantization/Dequantize.swift.
void hayai_dequantize_q8_0(const void *src, float *dst, size_t n) {
    const uint8_t *p = src;
    for (size_t b = 0; b < n / 32; b++, p += 34, dst += 32) {
        uint16_t h; memcpy(&h, p, 2);
        const __m256 d = _mm256_set1_ps(half_to_float(h));
        for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(dst + j, _mm256_mul_ps(d, load8_i8((const int8_t *)p + 2 + j)));
    }
}

void hayai_dequantize_q4_0(const void *src, float *dst, size_t n) {
    const uint8_t *p = src;
    for (size_t b = 0; b < n / 32; b++, p += 18, dst += 32) {
        uint16_t h; memcpy(&h, p, 2);
        const __m256 d = _mm256_set1_ps(half_to_float(h));
        __m128i q = _mm_loadu_si128((const __m128i *)(p + 2));
        __m128i lo = _mm_sub_epi8(_mm_and_si128(q, _mm_set1_epi8(0x0F)), _mm_set1_epi8(8));
        __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F)), _mm_set1_epi8(8));
        _mm256_storeu_ps(dst, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
        _mm256_storeu_ps(dst + 16, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
        _mm256_storeu_ps(dst + 24, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
    }
}

// ---- Prompt attention, blocked ("flash"): the queries of a tile of new rows against the cache in
// key tiles, with a running softmax per query (its maximum m, its sum l, its output rescaled when m
// grows), so no row of scores longer than a key tile exists and keys no query of the tile sees are
// never read or multiplied. Each head's queries are transposed and scaled once per tile,
// Qᵀ (d, BQ) = log2(e) · scale · q, so the scores are in base 2 and the softmax's exponentials need no
// reduction by ln 2; per key tile the kv head's keys and values are widened to floats once,
// K (BK, d) and V (BK, dp), and every query head of the group uses them:
//   Sᵀ (BK, BQ) = K · Qᵀ                       scores of the tile, one row per key
//   P = 2^(Sᵀ − m), masked                     causal / sliding window, 16 queries a vector (AVX2: 8)
//   O_h (rows, dp) = O_h · 2^(m_old − m) + P · V
// Key tiles that every query of the tile sees whole (all but the last one or two of a long prompt) skip
// the mask; in the others the products leave out what the causal diagonal hides.
// Both products run through simd.h's register-blocked fa_multiply / bw_multiply (AVX-512 where the CPU has it, else
// AVX2; the same bits either way). dp is d rounded up to 16 (the values' pad columns are zero).

// Query tiles of FA_BQ rows per call: each key tile, widened and brought into cache once, serves all of
// them (and the group's heads), which halves the key and value traffic of a head that has no group.
#define FA_PROMPT_TILES 2

size_t hayai_attend_prompt_scratch(int d, int group) {
    const size_t dp = (size_t)round16(d), states = (size_t)FA_PROMPT_TILES * group;
    return states * d * FA_BQ + FA_BK * (size_t)d + FA_BK * dp + FA_BK * FA_BQ + states * FA_BQ * (dp + 2) + FA_BQ;
}

// fa_product on AVX-512 where the CPU has it (hayai_attend_prompt_set_avx512(0) turns that off, for tests);
// simd.h's fa_multiply asks hayai_attend_prompt_avx512.
static int fa_use_avx512 = -1;
void hayai_attend_prompt_set_avx512(int on) { fa_use_avx512 = on && hayai_x16_available(); }
int hayai_attend_prompt_avx512(void) {
    if (fa_use_avx512 < 0) fa_use_avx512 = hayai_x16_available();
    return fa_use_avx512;
}

// 2^x as the prompt attention's softmax computes it (x ≤ FA_LAZY = 8): fa_exp2_16 where `avx512` asks for it and the CPU
// has it, else fa_exp2_8 (the same bits); tests hold both to the accuracy and to each other.
__attribute__((target("avx512f"))) static void hayai_attend_prompt_exp2_512(const float *x, float *y, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, fa_exp2_16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, fa_exp2_16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}
void hayai_attend_prompt_exp2(const float *x, float *y, int n, int avx512) {
    if (avx512 && hayai_x16_available()) { hayai_attend_prompt_exp2_512(x, y, n); return; }
    for (int i = 0; i < n; i += 8) {
        float in[8] = {0}, res[8];
        for (int j = 0; j < 8 && i + j < n; j++) in[j] = x[i + j];
        _mm256_storeu_ps(res, fa_exp2_8(_mm256_loadu_ps(in)));
        for (int j = 0; j < 8 && i + j < n; j++) y[i + j] = res[j];
    }
}

// Elements [off, off + d) of one cache row as floats (Q8_0 blocks that the head's slice covers whole
// in AVX2, each element d · q as q8_elem computes it).
static void kv_row_to_f32(int type, const void *row, int off, int d, float *out) {
    switch (type) {
    case 0: memcpy(out, (const float *)row + off, sizeof(float) * (size_t)d); return;
    case 1: hayai_f16_to_f32((const uint16_t *)row + off, out, (size_t)d); return;
    default:
        if (off % 32 == 0 && d % 32 == 0) {
            const kv_q8 *b = (const kv_q8 *)row + off / 32;
            for (int k = 0; k < d / 32; k++) {
                const __m256 s = _mm256_set1_ps(half_to_float(b[k].d));
                for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(out + 32 * k + j, _mm256_mul_ps(s, load8_i8(b[k].qs + j)));
            }
            return;
        }
        for (int i = 0; i < d; i++) out[i] = q8_elem(row, off + i);
    }
}

void hayai_attend_prompt(int type, const float *q, size_t ldq, const void *keys, const void *values, size_t rowBytes, int d,
                         int group, int kvh, int p0, int i0, int i1, int window, float scale, float *scratch, float *out,
                         size_t ldo) {
    const int dp = round16(d), tiles = (i1 - i0 + FA_BQ - 1) / FA_BQ, states = tiles * group;
    // One state per (query tile u, head g), at u·group + g: Qᵀ, O, m, l.
    float *qt = scratch, *kr = qt + (size_t)FA_PROMPT_TILES * group * d * FA_BQ, *vt = kr + (size_t)FA_BK * d, *st = vt + (size_t)FA_BK * dp;
    float *o = st + FA_BK * FA_BQ, *m = o + (size_t)FA_PROMPT_TILES * group * FA_BQ * dp, *l = m + FA_PROMPT_TILES * group * FA_BQ;
    float *alpha = l + FA_PROMPT_TILES * group * FA_BQ;
    memset(o, 0, sizeof(float) * (size_t)states * FA_BQ * dp);
    // The widened values' pad columns (d < dp) stay zero.
    if (d != dp) memset(vt, 0, sizeof(float) * (size_t)FA_BK * dp);
    for (int i = 0; i < states * FA_BQ; i++) { m[i] = FA_EMPTY; l[i] = 0; }
    // Scores in base 2: Qᵀ carries log2(e), so the softmax's exponentials are 2^x (fa_exp2_16).
    const float scale2 = scale * 1.44269504088896341f;
    // Per query tile u: its rows from ui0, cq (its rows rounded up to 16: the query columns the scores compute,
    // so a continuation of a few tokens after a long context, as eval packs them, does not pay for 32), each
    // lane's position and first visible key, and the keys it sees, [firstKey, endKey). Every query of the tile
    // sees the keys up to pFirst (its first query's position) that are not before `shut` (its last query's
    // first visible key, with a window).
    int ui0[FA_PROMPT_TILES], rows[FA_PROMPT_TILES], cq[FA_PROMPT_TILES], pFirst[FA_PROMPT_TILES], firstKey[FA_PROMPT_TILES];
    int endKey[FA_PROMPT_TILES], shut[FA_PROMPT_TILES];
    __m256i pos[FA_PROMPT_TILES][FA_BQ / 8], first[FA_PROMPT_TILES][FA_BQ / 8];
    for (int u = 0; u < tiles; u++) {
        ui0[u] = i0 + u * FA_BQ;
        rows[u] = i1 - ui0[u] < FA_BQ ? i1 - ui0[u] : FA_BQ;
        cq[u] = round16(rows[u]);
        pFirst[u] = p0 + ui0[u];
        const int pLast = pFirst[u] + rows[u] - 1;
        firstKey[u] = window > 0 && pFirst[u] - window + 1 > 0 ? pFirst[u] - window + 1 : 0;
        endKey[u] = pLast + 1;
        shut[u] = window > 0 ? pLast - window + 1 : 0;
        for (int v = 0; v < FA_BQ / 8; v++) {
            pos[u][v] = _mm256_add_epi32(_mm256_set1_epi32(pFirst[u] + 8 * v), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            first[u][v] = window > 0 ? _mm256_sub_epi32(pos[u][v], _mm256_set1_epi32(window - 1)) : _mm256_set1_epi32(-1);
        }
        for (int g = 0; g < group; g++)
            fa_transpose_scaled(q + (size_t)ui0[u] * ldq + (size_t)(kvh * group + g) * d, ldq, rows[u], d, scale2,
                                qt + (size_t)(u * group + g) * d * FA_BQ);
    }
    const char *kb = keys, *vb = values;
    // An F32 cache is multiplied where it lies (keys always, values when d needs no padding).
    const size_t ldRow = rowBytes / sizeof(float);
    const int directK = type == 0, directV = type == 0 && d == dp;
    for (int j0 = firstKey[0]; j0 < endKey[tiles - 1]; j0 += FA_BK) {
        const int nkAll = endKey[tiles - 1] - j0 < FA_BK ? endKey[tiles - 1] - j0 : FA_BK;
        for (int j = 0; j < nkAll; j++) {
            if (!directK) kv_row_to_f32(type, kb + (size_t)(j0 + j) * rowBytes, kvh * d, d, kr + (size_t)j * d);
            if (!directV) kv_row_to_f32(type, vb + (size_t)(j0 + j) * rowBytes, kvh * d, d, vt + (size_t)j * dp);
        }
        const float *kTile = directK ? (const float *)(kb + (size_t)j0 * rowBytes) + (size_t)kvh * d : kr;
        const float *vTile = directV ? (const float *)(vb + (size_t)j0 * rowBytes) + (size_t)kvh * d : vt;
        const size_t ldK = directK ? ldRow : (size_t)d, ldV = directV ? ldRow : (size_t)dp;
        for (int u = 0; u < tiles; u++) {
            if (j0 >= endKey[u] || j0 + nkAll <= firstKey[u]) continue;   // no key of this tile that u's queries see
            const int nk = endKey[u] - j0 < nkAll ? endKey[u] - j0 : nkAll, P = pFirst[u];
            // Every query of tile u sees every key of this key tile: no mask (most tiles of a long prompt).
            const int whole = j0 + nk - 1 <= P && j0 >= shut[u];
            // P·V's terms that the mask makes 0: query row r sees keys of the tile up to P + r − j0 and, with a
            // window, from P + r − window + 1 − j0 (bw_trim's offsets from a block's first row).
            const bw_trim visible = {bw_whole.cols, window > 0 ? P - window + 1 - j0 : bw_whole.kFrom, P - j0};
            for (int g = 0; g < group; g++) {
                const int sIdx = u * group + g;
                float *oh = o + (size_t)sIdx * FA_BQ * dp, *mh = m + sIdx * FA_BQ, *lh = l + sIdx * FA_BQ;
                const float *qtg = qt + (size_t)sIdx * d * FA_BQ;
                // Sᵀ (nk, cq) = K·Qᵀ. Query lanes [16c, 16c + 16) see no key past P + 16c + 15: where the causal
                // diagonal crosses the tile, their block of columns leaves out the key rows after it (the mask then
                // hides those scores, whatever the tile holds there).
                if (whole || j0 + nk <= P + 16) fa_multiply(nk, cq[u], d, kTile, ldK, 1, qtg, FA_BQ, st, FA_BQ, 0);
                else
                    for (int c = 0; c < cq[u]; c += 16) {
                        const int n = P + c + 16 - j0 < nk ? P + c + 16 - j0 : nk;
                        if (n > 0) fa_multiply(n, 16, d, kTile, ldK, 1, qtg + c, FA_BQ, st + c, FA_BQ, 0);
                    }
                // Mask what query lane i may not see (key j0 + j outside [first_i, pos_i]), then the running softmax.
                fa_softmax_tile_exp2(st, nk, cq[u], j0, pos[u], first[u], !whole, mh, lh, alpha, oh, rows[u], dp);
                if (whole) fa_multiply(rows[u], dp, nk, st, 1, FA_BQ, vTile, ldV, oh, (size_t)dp, 1);
                else bw_multiply(rows[u], dp, nk, st, 1, FA_BQ, vTile, ldV, oh, (size_t)dp, 1, visible);
            }
        }
    }
    for (int u = 0; u < tiles; u++)
        for (int g = 0; g < group; g++) {
            const int h = kvh * group + g, sIdx = u * group + g;
            for (int r = 0; r < rows[u]; r++) {
                const float inv = 1.0f / l[sIdx * FA_BQ + r];
                const float *orow = o + ((size_t)sIdx * FA_BQ + r) * dp;
                float *dst = out + (size_t)(ui0[u] + r) * ldo + (size_t)h * d;
                for (int c = 0; c < d; c++) dst[c] = orow[c] * inv;
            }
        }
}

// Query rows per call of hayai_attend_prompt.
int hayai_attend_prompt_tile(void) { return FA_PROMPT_TILES * FA_BQ; }

// ---- RoPE on one row of `heads` heads (Ops.rope's arithmetic: y_a = x_a·cos − x_b·sin, y_b = x_b·cos + x_a·sin,
// each product rounded on its own, no FMA), so the same bits; pairs (2i, 2i + 1) when `adjacent`, else
// (i, i + rotaryDim/2). 16 lanes at a time where the CPU has AVX-512; the scalar loop is the rest (and
// the whole row elsewhere). Swift's scalar loop was ~2% of a SmolLM2 prompt.
#pragma clang fp contract(off)
static void rope_scalar(float *v, int from, int half, const float *cos, const float *sin, int adjacent) {
    for (int i = from; i < half; i++) {
        const int a = adjacent ? 2 * i : i, b = adjacent ? 2 * i + 1 : i + half;
        const float x1 = v[a], x2 = v[b];
        v[a] = x1 * cos[i] - x2 * sin[i];
        v[b] = x2 * cos[i] + x1 * sin[i];
    }
}

__attribute__((target("avx512f"))) static void rope_head_x16(float *v, int half, const float *cos, const float *sin, int adjacent) {
    int i = 0;
    if (adjacent) {
        // Eight pairs a vector: each pair's cos and sin on both its lanes; the partner from swapping neighbours.
        const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        for (; i + 8 <= half; i += 8) {
            const __m512 x = _mm512_loadu_ps(v + 2 * i), partner = _mm512_permute_ps(x, 0xB1);
            const __m512 c = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(cos + i)));
            const __m512 s = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(sin + i)));
            const __m512 p = _mm512_mul_ps(x, c), q = _mm512_mul_ps(partner, s);
            _mm512_storeu_ps(v + 2 * i, _mm512_mask_add_ps(_mm512_sub_ps(p, q), 0xAAAA, p, q));   // odd lanes: x_b·cos + x_a·sin
        }
    } else {
        for (; i + 16 <= half; i += 16) {
            const __m512 x1 = _mm512_loadu_ps(v + i), x2 = _mm512_loadu_ps(v + i + half);
            const __m512 c = _mm512_loadu_ps(cos + i), s = _mm512_loadu_ps(sin + i);
            _mm512_storeu_ps(v + i, _mm512_sub_ps(_mm512_mul_ps(x1, c), _mm512_mul_ps(x2, s)));
            _mm512_storeu_ps(v + i + half, _mm512_add_ps(_mm512_mul_ps(x2, c), _mm512_mul_ps(x1, s)));
        }
    }
    rope_scalar(v, i, half, cos, sin, adjacent);
}

void hayai_rope_row(float *x, int heads, int headDim, int rotaryDim, const float *cos, const float *sin, int adjacent) {
    const int half = rotaryDim / 2, wide = hayai_x16_available();
    for (int h = 0; h < heads; h++) {
        if (wide) rope_head_x16(x + (size_t)h * headDim, half, cos, sin, adjacent);
        else rope_scalar(x + (size_t)h * headDim, 0, half, cos, sin, adjacent);
    }
}
#pragma clang fp contract(on)
