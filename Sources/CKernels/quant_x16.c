// Q4_0, Q8_0 and Q6_K weights interleaved by 16 rows ("x16"), multiplied with AVX512-VNNI.
//
// The GGUF layout keeps each row's blocks together, so a row-at-a-time dot product converts every
// block's scale, multiplies its integers into a vector that holds one row's partial sums and has to
// reduce that vector at the end: most of the instructions are per-block overhead, and one core
// reached ~20 GB/s, below what it can read from memory. Here the 16 rows of a group are stored so
// that one 512-bit register holds four consecutive quants of each of the 16 rows (lane r = row r):
// a vpdpbusd against four activation bytes broadcast to all lanes adds four products to each row's
// sum, the block's 16 scales convert with one vcvtph2ps and multiply 16 row sums at once, and the
// result is 16 finished outputs with no horizontal reduction.
//
// Group layout, for nb blocks per row (the same byte count as 16 GGUF rows), in pairs of blocks
// so that one forward stream of aligned cache lines is read (with the scales in a separate region
// a core streamed less than half of its read bandwidth):
//   pair p = blocks 2p, 2p + 1:  scales(2p) scales(2p + 1) part(2p) part(2p + 1)
//   scales(b)  16 half floats (32 bytes): block b's scale (Q6_K: d) of rows 0..15
//   part(b)    Q4_0 / Q8_0: 16·Q bytes (Q = 16, 32), the 4-byte unit u of row r at (u · 16 + r) · 4,
//              unit u being bytes [4u, 4u + 4) of the block's qs. Q4_0 keeps its nibbles (low =
//              element j, high = element j + 16); Q8_0 stores q + 128 as an unsigned byte (the sign
//              bit flipped), which vpdpbusd needs. Q6_K: see q6_K_pack_row (3,328 bytes).
//   An odd last block is scales then part.
// Integer sums are exact: Σ (q − 8)·x = Σ q·x − 8·Σ x, Σ q·x = Σ (q + 128)·x − 128·Σ x and for
// Q6_K Σ (q − 32)·x = Σ q·x − 32·Σ x, the activation sums being computed once per call (Q8_K
// carries them); so results equal the scalar references up to the order of float additions.
#include "CKernels.h"
#include <immintrin.h>
#include <string.h>

#define X16 16
#define T_Q4_0 2
#define T_Q8_0 8
#define T_Q6_K 14

// Bytes of one block's quants for 16 rows ("part"): everything but the 16 half-float scales.
static size_t part_bytes(uint32_t type) { return type == T_Q4_0 ? 256 : type == T_Q8_0 ? 512 : 3328; }
// Elements per block.
static int block_elements(uint32_t type) { return type == T_Q6_K ? 256 : 32; }

// Offsets of block b's scales and part inside a group (pairs of blocks, see the layout above).
static inline size_t scale_offset(int b, size_t pb) { return (size_t)(b >> 1) * (64 + 2 * pb) + (size_t)(b & 1) * 32; }
static inline size_t part_offset(int b, int nb, size_t pb) {
    return (size_t)(b >> 1) * (64 + 2 * pb) + ((b & 1) ? 64 + pb : (b == nb - 1 ? 32 : 64));
}

size_t hayai_x16_group_bytes(uint32_t type, int nb) { return (size_t)nb * (32 + part_bytes(type)); }

int hayai_x16_supports(uint32_t type) { return type == T_Q4_0 || type == T_Q8_0 || type == T_Q6_K; }

int hayai_x16_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")
                 && __builtin_cpu_supports("f16c");
    }
    return cached;
}

// ---- Packing and unpacking (plain C: once at load, and for single-row lookups).

// Q6_K block -> its 256 unsigned 6-bit quants (q + 32 of the signed value), as ggml orders them.
static void q6_K_values(const hayai_block_q6_K *blk, uint8_t q[256]) {
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = blk->ql + 64 * half, *qh = blk->qh + 32 * half;
        uint8_t *o = q + 128 * half;
        for (int l = 0; l < 32; l++) {
            o[l] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
            o[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            o[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            o[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
}

// Q6_K part of 16 rows. Unit u = elements [4u, 4u + 4) of the super-block; 64-byte registers hold
// 4 bytes per row (lane r). ql register c: low nibbles of unit c, high nibbles of unit c + 32
// (c < 32). qh register h: bits 0-1, 2-3, 4-5, 6-7 = the top two bits of units h, h + 16, h + 32,
// h + 48 (h < 16). Sub-block s (elements 16s..16s+15) has one int8 scale per row. The kernel reads
// in four passes j, pass j covering h = 4j..4j+3 and so sub-blocks j, j + 4, j + 8, j + 12, and the
// part is stored in that order, one forward stream: pass j at 832·j holds, for each of its h, ql
// register h, ql register h + 16 and qh register h (192 bytes), then those four sub-blocks' 16
// scales each (64 bytes).
static inline size_t q6_ql_offset(int c) { const int h = c & 15; return 832 * (size_t)(h >> 2) + 192 * (h & 3) + 64 * (c >> 4); }
static inline size_t q6_qh_offset(int h) { return 832 * (size_t)(h >> 2) + 192 * (h & 3) + 128; }
static inline size_t q6_scale_offset(int s) { return 832 * (size_t)(s & 3) + 768 + 16 * (s >> 2); }

static void q6_K_pack_row(const hayai_block_q6_K *blk, int r, uint8_t *part) {
    uint8_t q[256];
    q6_K_values(blk, q);
    for (int k = 0; k < 4; k++) {
        for (int c = 0; c < 32; c++)
            part[q6_ql_offset(c) + 4 * r + k] = (q[4 * c + k] & 0xF) | ((q[4 * (c + 32) + k] & 0xF) << 4);
        for (int h = 0; h < 16; h++)
            part[q6_qh_offset(h) + 4 * r + k] = (q[4 * h + k] >> 4) | ((q[4 * (h + 16) + k] >> 4) << 2)
                                                | ((q[4 * (h + 32) + k] >> 4) << 4) | ((q[4 * (h + 48) + k] >> 4) << 6);
    }
    for (int s = 0; s < 16; s++) part[q6_scale_offset(s) + r] = (uint8_t)blk->scales[s];
}

// Element j of row r, signed (q − 32).
static int q6_K_value(const uint8_t *part, int r, int j) {
    const int u = j >> 2, k = j & 3;
    const uint8_t low = part[q6_ql_offset(u & 31) + 4 * r + k];
    const uint8_t high = part[q6_qh_offset(u & 15) + 4 * r + k];
    return ((u < 32 ? low & 0xF : low >> 4) | (((high >> (2 * (u >> 4))) & 3) << 4)) - 32;
}

void hayai_x16_pack(uint32_t type, int nb, const void *src, size_t rowBytes, int groups, void *dst) {
    const size_t pb = part_bytes(type);
    for (int g = 0; g < groups; g++) {
        uint8_t *out = (uint8_t *)dst + (size_t)g * hayai_x16_group_bytes(type, nb);
        for (int r = 0; r < X16; r++) {
            const uint8_t *row = (const uint8_t *)src + ((size_t)g * X16 + r) * rowBytes;
            for (int b = 0; b < nb; b++) {
                uint8_t *part = out + part_offset(b, nb, pb);
                if (type == T_Q6_K) {
                    const hayai_block_q6_K *blk = (const hayai_block_q6_K *)row + b;
                    memcpy(out + scale_offset(b, pb) + 2 * r, &blk->d, 2);
                    q6_K_pack_row(blk, r, part);
                    continue;
                }
                const int q = type == T_Q4_0 ? 16 : 32;
                const uint8_t flip = type == T_Q8_0 ? 0x80 : 0x00;
                const uint8_t *blk = row + (size_t)b * (2 + q);
                memcpy(out + scale_offset(b, pb) + 2 * r, blk, 2);
                for (int u = 0; u < q / 4; u++)
                    for (int k = 0; k < 4; k++) part[(u * X16 + r) * 4 + k] = blk[2 + 4 * u + k] ^ flip;
            }
        }
    }
}

static inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Row `lane` of one group as floats (nb blocks), computed as the scalar dequantizers do.
void hayai_x16_dequantize_row(uint32_t type, int nb, const void *group, int lane, float *out) {
    const size_t pb = part_bytes(type);
    const int n = block_elements(type);
    for (int b = 0; b < nb; b++) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)group + scale_offset(b, pb) + 2 * lane, 2);
        const float d = half_to_float(h);
        const uint8_t *part = (const uint8_t *)group + part_offset(b, nb, pb);
        float *o = out + (size_t)b * n;
        for (int j = 0; j < n; j++) {
            if (type == T_Q4_0) {
                const int k = j & 15;
                const uint8_t byte = part[((k >> 2) * X16 + lane) * 4 + (k & 3)];
                o[j] = d * (float)((j < 16 ? byte & 0x0F : byte >> 4) - 8);
            } else if (type == T_Q8_0) {
                o[j] = d * (float)(int8_t)(part[((j >> 2) * X16 + lane) * 4 + (j & 3)] ^ 0x80);
            } else {
                o[j] = d * (float)(int8_t)part[q6_scale_offset(j >> 4) + lane] * (float)q6_K_value(part, lane, j);
            }
        }
    }
}

// Rows of whole groups as floats, (groups · 16, nb · elements) row-major.
void hayai_x16_dequantize(uint32_t type, int nb, const void *w, int groups, float *out) {
    const size_t gbytes = hayai_x16_group_bytes(type, nb), n = (size_t)nb * block_elements(type);
    for (int g = 0; g < groups; g++)
        for (int r = 0; r < X16; r++)
            hayai_x16_dequantize_row(type, nb, (const uint8_t *)w + g * gbytes, r, out + ((size_t)g * X16 + r) * n);
}

// ---- Products. T tokens share each block's unpacked weights and converted scales. Per token and
// block the kernel needs the activation quants (the Q8_0 block's qs), its scale as float and the
// offset (8 or 128)·Σ qs.

#define ZMM_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c"), always_inline))

static inline int32_t load_i32(const int8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

// Q4_0 (q4 = 1) or Q8_0 (q4 = 0) rows of one group against T tokens. A block's 32 quants of a row
// become eight 4-byte units u[k] (elements 4k..4k+3): Q8_0's are stored so; Q4_0's are the low
// nibbles (k < 4) and the high nibbles (k ≥ 4) of its four registers.
ZMM_TARGET static inline void x16_blocks32(int nb, const uint8_t *group, int q4, int T, const hayai_block_q8_0 *const *x,
                                           const float *const *xd, const int32_t *const *xoff, float *const *y) {
    const __m512i low = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    const size_t pb = q4 ? 256 : 512;
    __m512 acc[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (int b = 0; b < nb; b++) {
        const uint8_t *q = group + part_offset(b, nb, pb);
        const uint16_t *scales = (const uint16_t *)(group + scale_offset(b, pb));
        __m512i u[8];
        if (q4) {
            for (int k = 0; k < 4; k++) {
                const __m512i w = _mm512_loadu_si512((const void *)(q + 64 * k));
                u[k] = _mm512_and_si512(w, low);
                u[k + 4] = _mm512_and_si512(_mm512_srli_epi16(w, 4), low);
            }
        } else {
            for (int k = 0; k < 8; k++) u[k] = _mm512_loadu_si512((const void *)(q + 64 * k));
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
        for (int t = 0; t < T; t++) {
            const int8_t *xq = x[t][b].qs;
            // Four chains of two, so consecutive vpdpbusd do not wait on each other.
            __m512i s0 = _mm512_dpbusd_epi32(zero, u[0], _mm512_set1_epi32(load_i32(xq + 0)));
            __m512i s1 = _mm512_dpbusd_epi32(zero, u[2], _mm512_set1_epi32(load_i32(xq + 8)));
            __m512i s2 = _mm512_dpbusd_epi32(zero, u[4], _mm512_set1_epi32(load_i32(xq + 16)));
            __m512i s3 = _mm512_dpbusd_epi32(zero, u[6], _mm512_set1_epi32(load_i32(xq + 24)));
            s0 = _mm512_dpbusd_epi32(s0, u[1], _mm512_set1_epi32(load_i32(xq + 4)));
            s1 = _mm512_dpbusd_epi32(s1, u[3], _mm512_set1_epi32(load_i32(xq + 12)));
            s2 = _mm512_dpbusd_epi32(s2, u[5], _mm512_set1_epi32(load_i32(xq + 20)));
            s3 = _mm512_dpbusd_epi32(s3, u[7], _mm512_set1_epi32(load_i32(xq + 28)));
            __m512i s = _mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3));
            s = _mm512_sub_epi32(s, _mm512_set1_epi32(xoff[t][b]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(d, _mm512_set1_ps(xd[t][b])), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y[t], acc[t]);
}

#define X16_KERNEL(NAME, Q4, T)                                                                       \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))                             \
    static void NAME(int nb, const uint8_t *group, const hayai_block_q8_0 *const *x, const float *const *xd, \
                     const int32_t *const *xoff, float *const *y) { x16_blocks32(nb, group, Q4, T, x, xd, xoff, y); }
X16_KERNEL(q4_0_x16_t1, 1, 1)
X16_KERNEL(q4_0_x16_t4, 1, 4)
X16_KERNEL(q8_0_x16_t1, 0, 1)
X16_KERNEL(q8_0_x16_t4, 0, 4)

// Q6_K against one Q8_K row. Per super-block and 16 rows: four passes, pass j covering sub-blocks
// j, j + 4, j + 8, j + 12 (their units come from the same ql/qh registers); each sub-block's exact
// integer sum Σ q·x − 32·Σx (Q8_K's bsums) is multiplied by the rows' sub-block scales in int32,
// and the super-block's total by d·d8 in float, as ggml computes it.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))
static void q6_K_x16_t1(int nb, const uint8_t *group, const hayai_block_q8_K *x, float *y) {
    const __m512i low = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30), zero = _mm512_setzero_si512();
    __m512 acc = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, 3328);
        const uint16_t *scales = (const uint16_t *)(group + scale_offset(b, 3328));
        const int8_t *xq = x[b].qs;
        const int16_t *bsums = x[b].bsums;
        __m512i total = zero;
        for (int j = 0; j < 4; j++) {
            __m512i s0 = zero, s1 = zero, s2 = zero, s3 = zero;   // sub-blocks j, j + 4, j + 8, j + 12
            const uint8_t *pass = part + 832 * j;
            for (int i = 0; i < 4; i++) {
                const int h = 4 * j + i;
                const __m512i a = _mm512_loadu_si512((const void *)(pass + 192 * i));
                const __m512i c = _mm512_loadu_si512((const void *)(pass + 192 * i + 64));
                const __m512i hb = _mm512_loadu_si512((const void *)(pass + 192 * i + 128));
                // unit | top bits: ternary logic 0xF8 = a | (b & c)
                const __m512i u0 = _mm512_ternarylogic_epi32(_mm512_and_si512(a, low), _mm512_slli_epi16(hb, 4), top, 0xF8);
                const __m512i u1 = _mm512_ternarylogic_epi32(_mm512_and_si512(c, low), _mm512_slli_epi16(hb, 2), top, 0xF8);
                const __m512i u2 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(a, 4), low), hb, top, 0xF8);
                const __m512i u3 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(c, 4), low), _mm512_srli_epi16(hb, 2), top, 0xF8);
                s0 = _mm512_dpbusd_epi32(s0, u0, _mm512_set1_epi32(load_i32(xq + 4 * h)));
                s1 = _mm512_dpbusd_epi32(s1, u1, _mm512_set1_epi32(load_i32(xq + 4 * (h + 16))));
                s2 = _mm512_dpbusd_epi32(s2, u2, _mm512_set1_epi32(load_i32(xq + 4 * (h + 32))));
                s3 = _mm512_dpbusd_epi32(s3, u3, _mm512_set1_epi32(load_i32(xq + 4 * (h + 48))));
            }
            const int8_t *sc = (const int8_t *)pass + 768;
            #define SUB(S, K) _mm512_mullo_epi32(_mm512_sub_epi32(S, _mm512_set1_epi32(32 * bsums[j + 4 * (K)])), \
                                                 _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + 16 * (K)))))
            total = _mm512_add_epi32(total, _mm512_add_epi32(_mm512_add_epi32(SUB(s0, 0), SUB(s1, 1)),
                                                             _mm512_add_epi32(SUB(s2, 2), SUB(s3, 3))));
            #undef SUB
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(x[b].d)), acc);
    }
    _mm512_storeu_ps(y, acc);
}

#define X16_PREP_MAX 2048  // activation blocks prepared on the stack per token (65536 elements)
#define X16_TOKENS 4

// Scale as float and offset (8 or 128)·Σ qs of each activation block.
static void prepare(uint32_t type, int nb, const hayai_block_q8_0 *x, float *xd, int32_t *xoff) {
    const int bias = type == T_Q4_0 ? 8 : 128;
    for (int b = 0; b < nb; b++) {
        xd[b] = half_to_float(x[b].d);
        __m256i v = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
        xoff[b] = bias * _mm_cvtsi128_si32(t);
    }
}

int hayai_x16_dot_rows_tokens(uint32_t type, int nb, const void *w, int groups, const void *x, size_t xStride,
                              int tokens, float *y, size_t ldy) {
    if (!hayai_x16_available() || !hayai_x16_supports(type) || nb > X16_PREP_MAX) return 0;
    const size_t gbytes = hayai_x16_group_bytes(type, nb);
    if (type == T_Q6_K) {
        for (int s = 0; s < tokens; s++) {
            const hayai_block_q8_K *xs = (const hayai_block_q8_K *)((const uint8_t *)x + (size_t)s * xStride);
            for (int g = 0; g < groups; g++)
                q6_K_x16_t1(nb, (const uint8_t *)w + (size_t)g * gbytes, xs, y + (size_t)s * ldy + (size_t)g * X16);
        }
        return 1;
    }
    float xdBuf[X16_TOKENS][nb];
    int32_t xoffBuf[X16_TOKENS][nb];
    int s = 0;
    while (s < tokens) {
        const int T = tokens - s >= X16_TOKENS ? X16_TOKENS : 1;
        const hayai_block_q8_0 *xs[X16_TOKENS];
        const float *xd[X16_TOKENS];
        const int32_t *xoff[X16_TOKENS];
        for (int t = 0; t < T; t++) {
            xs[t] = (const hayai_block_q8_0 *)((const uint8_t *)x + (size_t)(s + t) * xStride);
            prepare(type, nb, xs[t], xdBuf[t], xoffBuf[t]);
            xd[t] = xdBuf[t];
            xoff[t] = xoffBuf[t];
        }
        for (int g = 0; g < groups; g++) {
            const uint8_t *group = (const uint8_t *)w + (size_t)g * gbytes;
            float *ys[X16_TOKENS];
            for (int t = 0; t < T; t++) ys[t] = y + (size_t)(s + t) * ldy + (size_t)g * X16;
            if (type == T_Q4_0) {
                if (T == X16_TOKENS) q4_0_x16_t4(nb, group, xs, xd, xoff, ys); else q4_0_x16_t1(nb, group, xs, xd, xoff, ys);
            } else {
                if (T == X16_TOKENS) q8_0_x16_t4(nb, group, xs, xd, xoff, ys); else q8_0_x16_t1(nb, group, xs, xd, xoff, ys);
            }
        }
        s += T;
    }
    return 1;
}


// ---- The machine's int8 multiply-add peak for `hayai bench`: `iterations` rounds of 8 independent
// 512-bit vpdpbusd (64 multiply-adds each); returns a checksum so the loop is not removed.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
int32_t hayai_x16_vnni_peak(long iterations) {
    if (!hayai_x16_available()) return 0;
    __m512i a[8];
    const __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(-1);
    for (int i = 0; i < 8; i++) a[i] = _mm512_set1_epi32(i);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < 8; i++) a[i] = _mm512_dpbusd_epi32(a[i], u, s);
        __asm__("" : "+v"(a[0]), "+v"(a[1]), "+v"(a[2]), "+v"(a[3]), "+v"(a[4]), "+v"(a[5]), "+v"(a[6]), "+v"(a[7]));
    }
    __m512i t = a[0];
    for (int i = 1; i < 8; i++) t = _mm512_add_epi32(t, a[i]);
    return _mm512_reduce_add_epi32(t);
}
