// CKernels: SIMD inner loops that Swift cannot make fast (quantized dot products), the exact GGUF
// block layouts they read, and the few atomics the thread pool needs.
// Each dot product has a scalar reference in Swift (Kernels) that tests compare against.
#pragma once
#include <stdint.h>
#include <stddef.h>

// Returns non-zero when the running CPU has AVX2, FMA and F16C.
int hayai_cpu_has_avx2(void);

// The process-wide interrupt flag (interrupt.c): SIGINT sets it; the forward pass polls it.
int hayai_interrupt_install(void);
int hayai_interrupt_requested(void);
void hayai_interrupt_set(void);
void hayai_interrupt_clear(void);

// xxHash64-style content hash of `length` bytes (hash.c); model files' identity in the run store.
uint64_t hayai_hash64(const void *data, size_t length, uint64_t seed);
// The same hash fed piece by piece: begin, stripes (each call's length a multiple of 32 but the
// last bytes < 32, which go to end), end. Equal to hayai_hash64 over the concatenation.
typedef struct { uint64_t v[4]; uint64_t length; uint64_t seed; } hayai_hash64_state;
void hayai_hash64_begin(hayai_hash64_state *s, uint64_t seed);
void hayai_hash64_stripes(hayai_hash64_state *s, const void *data, size_t length);
uint64_t hayai_hash64_end(const hayai_hash64_state *s, const void *tail, size_t tailLength);

// ---- Block layouts, byte for byte as ggml/GGUF store them (ggml-common.h). Half floats are raw
// IEEE binary16 bits. Sizes are checked by static asserts in quant_dot.c and by the Swift tests.
#define HAYAI_QK 32      // elements per block of the 32-element types
#define HAYAI_QK_K 256   // elements per K-quant super-block

typedef struct { uint16_t d; int8_t qs[32]; } hayai_block_q8_0;                          // 34 bytes
typedef struct { uint16_t d; uint16_t s; int8_t qs[32]; } hayai_block_q8_1;              // 36: s = d * Σqs
typedef struct { uint16_t d; uint8_t qs[16]; } hayai_block_q4_0;                         // 18
typedef struct { uint16_t d; uint16_t m; uint8_t qs[16]; } hayai_block_q4_1;             // 20
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } hayai_block_q5_0;          // 22
typedef struct { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[16]; } hayai_block_q5_1; // 24
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d; uint16_t dmin; } hayai_block_q2_K; // 84
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[128]; } hayai_block_q4_K; // 144
typedef struct { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } hayai_block_q5_K; // 176
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } hayai_block_q6_K; // 210
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } hayai_block_q3_K; // 110
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } hayai_block_q8_K;         // 292
typedef struct { uint16_t d; uint8_t qs[16]; } hayai_block_iq4_nl;                       // 18: codes into kvalues
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } hayai_block_iq4_xs; // 136

// ---- Activation rows of n floats (a whole number of blocks) quantized as the scalar references
// quantizeBlockQ8_0 / Q8_1 / Q8_K do, bit for bit (quant_act.c). Call only with AVX2, FMA and F16C;
// these pick the AVX-512 versions where the CPU has them (hayai_x16_available). The _avx2 and _avx512
// ones are each path alone (call the latter only where hayai_x16_available() is 1), for tests.
void hayai_quantize_row_q8_0(const float *x, void *out, int n);
void hayai_quantize_row_q8_1(const float *x, void *out, int n);
void hayai_quantize_row_q8_K(const float *x, void *out, int n);
void hayai_quantize_row_q8_0_avx2(const float *x, void *out, int n);
void hayai_quantize_row_q8_1_avx2(const float *x, void *out, int n);
void hayai_quantize_row_q8_K_avx2(const float *x, void *out, int n);
void hayai_quantize_row_q8_0_avx512(const float *x, void *out, int n);
void hayai_quantize_row_q8_1_avx512(const float *x, void *out, int n);
void hayai_quantize_row_q8_K_avx512(const float *x, void *out, int n);

// ---- AVX2 dot products of one weight row with one quantized activation row of n elements
// (n a whole number of blocks). Call only when hayai_cpu_has_avx2() is non-zero.
float hayai_avx2_dot_q8_0_q8_0(int n, const void *w, const void *x);
float hayai_avx2_dot_q4_0_q8_0(int n, const void *w, const void *x);
float hayai_avx2_dot_q4_1_q8_1(int n, const void *w, const void *x);
float hayai_avx2_dot_q5_0_q8_0(int n, const void *w, const void *x);
float hayai_avx2_dot_q5_1_q8_1(int n, const void *w, const void *x);
float hayai_avx2_dot_q2_K_q8_K(int n, const void *w, const void *x);
float hayai_avx2_dot_q4_K_q8_K(int n, const void *w, const void *x);
float hayai_avx2_dot_q5_K_q8_K(int n, const void *w, const void *x);
float hayai_avx2_dot_q6_K_q8_K(int n, const void *w, const void *x);
float hayai_avx2_dot_q3_K_q8_K(int n, const void *w, const void *x);
float hayai_avx2_dot_iq4_nl_q8_0(int n, const void *w, const void *x);
float hayai_avx2_dot_iq4_xs_q8_K(int n, const void *w, const void *x);

// Dots of `rows` consecutive weight rows (rowBytes apart) with one activation row: y[r] = w_r · x.
// `type` is the GGML type number of the weights; returns 0 when the type has no AVX2 kernel.
int hayai_avx2_dot_rows(uint32_t type, int n, const void *w, size_t rowBytes, int rows, const void *x, float *y);

// The same for `tokens` activation rows `xStride` bytes apart: y[s·ldy + r] = w_r · x_s. Q4_0 and
// Q8_0 reuse each unpacked weight block for 4 tokens; other types loop over hayai_avx2_dot_rows.
int hayai_avx2_dot_rows_tokens(uint32_t type, int n, const void *w, size_t rowBytes, int rows,
                               const void *x, size_t xStride, int tokens, float *y, size_t ldy);

// Non-zero when the CPU has AVX512-VNNI with VL (then Q4_0 rows use vpdpbusd).
int hayai_cpu_has_avx512vnni(void);
// Lets tests turn the VNNI variant off (0) and on again (1) to check both; results are identical.
void hayai_allow_vnni(int allowed);

// ---- Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K weights interleaved by 16 rows for
// AVX512-VNNI (quant_x16.c explains the layouts). A group is 16 rows of nb blocks, hayai_x16_group_bytes(type, nb) bytes (as many as 16
// GGUF rows).
// Non-zero when the CPU runs the x16 kernels (AVX512 F/BW/VL/VNNI).
int hayai_x16_available(void);
// Non-zero for the GGML types with an x16 layout (Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8,
// Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14; IQ4_NL = 20, IQ4_XS = 23).
int hayai_x16_supports(uint32_t type);
size_t hayai_x16_group_bytes(uint32_t type, int nb);
// `groups` × 16 GGUF rows (rowBytes apart) -> the interleaved layout at dst.
void hayai_x16_pack(uint32_t type, int nb, const void *src, size_t rowBytes, int groups, void *dst);
// Row `lane` (0..15) of one group, or every row of `groups` groups, as floats.
void hayai_x16_dequantize_row(uint32_t type, int nb, const void *group, int lane, float *out);
void hayai_x16_dequantize(uint32_t type, int nb, const void *w, int groups, float *out);
// y[s·ldy + r] = w_r · x_s for the 16·groups rows at w and `tokens` activation rows xStride bytes
// apart, each a row of nb blocks in the type's activation format (Q8_0; Q8_1 for Q4_1 and Q5_1; Q8_K
// for the K-quants); returns 0 (and computes nothing) when the CPU or
// the type has no x16 kernel.
int hayai_x16_dot_rows_tokens(uint32_t type, int nb, const void *w, int groups, const void *x, size_t xStride,
                              int tokens, float *y, size_t ldy);
// What the kernels derive from each activation row before multiplying (scales as floats, offsets' sums,
// Q8_K's sub-block sum pairs): hayai_x16_prepared_bytes(type, nb) bytes a row, written for `tokens` rows
// by hayai_x16_prepare (rows xStride and preparedStride bytes apart). A product whose rows are split into
// several calls prepares each token once this way instead of once a call: with `prepared` non-NULL,
// hayai_x16_dot_rows_tokens_prepared reads it for the same tokens as x (same results as without).
size_t hayai_x16_prepared_bytes(uint32_t type, int nb);
void hayai_x16_prepare(uint32_t type, int nb, const void *x, size_t xStride, int tokens, void *prepared, size_t preparedStride);
int hayai_x16_dot_rows_tokens_prepared(uint32_t type, int nb, const void *w, int groups, const void *x, size_t xStride,
                                       const void *prepared, size_t preparedStride, int tokens, float *y, size_t ldy);

// `chains` (8 or 24) × `iterations` independent 512-bit vpdpbusd (64 int8 multiply-adds each) with no
// memory traffic, for the int8 roofline of `hayai bench`; returns a checksum (0 without AVX512-VNNI).
int32_t hayai_x16_vnni_peak(int chains, long iterations);

// ---- Atomics for the thread pool (sequentially consistent).
long hayai_atomic_load(const long *p);
void hayai_atomic_store(long *p, long v);
long hayai_atomic_fetch_add(long *p, long v);
void hayai_cpu_relax(void);

// ---- Row operations (rowops.c).
// y[r] = W_r · x for `rows` rows of n elements, `stride` elements apart (F32, F16 or BF16 weights).
void hayai_f32_dot_rows(const float *w, size_t stride, int rows, int n, const float *x, float *y);
void hayai_f16_dot_rows(const uint16_t *w, size_t stride, int rows, int n, const float *x, float *y);
void hayai_bf16_dot_rows(const uint16_t *w, size_t stride, int rows, int n, const float *x, float *y);
void hayai_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void hayai_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
void hayai_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void hayai_softmax(float *x, int n);
// Softmax's backward over one row: d_j = p_j · (d_j − Σ p·d), in place.
void hayai_softmax_backward(const float *p, float *d, int n);
// Cross-entropy's rows: log Σ exp(x_i) of n logits, and x[i] = exp(x[i] − lse) · scale in place.
float hayai_logsumexp(const float *x, int n);
void hayai_softmax_from_lse(float *x, int n, float lse, float scale);
void hayai_silu_mul(float *up, const float *gate, size_t n);
// Training's gated SiLU: out = silu(gate) · up, and its backward (dgate, dup overwritten).
void hayai_silu_mul_into(const float *gate, const float *up, float *out, size_t n);
// RoPE on one row of `heads` heads of headDim, the first rotaryDim of each rotated by cos/sin (rotaryDim/2 each),
// pairs (2i, 2i + 1) when adjacent, else (i, i + rotaryDim/2): Ops.rope's arithmetic and bits (rowops.c).
void hayai_rope_row(float *x, int heads, int headDim, int rotaryDim, const float *cos, const float *sin, int adjacent);
// Its AVX2 path alone (hayai_silu_mul_into takes 16 lanes at a time where the CPU has AVX-512, the same bits).
void hayai_silu_mul_into_avx2(const float *gate, const float *up, float *out, size_t n);
void hayai_silu_mul_backward(const float *dout, const float *gate, const float *up, float *dgate, float *dup, size_t n);
void hayai_add(float *x, const float *y, size_t n);
void hayai_layernorm(const float *x, int n, const float *weight, const float *bias, float eps, float *out);
void hayai_rmsnorm(const float *x, int n, const float *weight, float eps, float *out);
// Attention of heads [h0, h1) of one token's query (q, out: (heads, d)) over `length` cached
// positions: scores = softmax(scale · q_h·K_j), out_h = Σ scores_j V_j. Cache rows are rowBytes
// apart, of `type` (0 F32, 1 F16, 8 Q8_0); head h reads kv head h / group, elements [kvh·d, kvh·d + d)
// of a row. Position by position, so each row is read once; scores has ldScores floats per head.
void hayai_attend_heads(int type, const float *q, const void *keys, const void *values, size_t rowBytes, int d, int group,
                        int h0, int h1, int length, float scale, float *scores, size_t ldScores, float *out);
// Whether hayai_attend_heads runs an F16 or Q8_0 cache on AVX-512 (where the CPU has it: rows widened
// once per kv head, not once per query head); set_avx512(0) gives the AVX2 path (tests compare the two).
int hayai_attend_heads_avx512(void);
void hayai_attend_heads_set_avx512(int on);
void hayai_kv_rows_to_f32(int type, const void *base, size_t rowBytes, int off, int d, int rows, float *out);
// Prompt attention, blocked with a running softmax (flash-style): query rows [i0, i1) of the new rows q
// ((t, ·) with ldq floats per row; row i is at position p0 + i) for the `group` query heads of kv
// head kvh (heads kvh·group ..< (kvh + 1)·group, elements [h·d, h·d + d) of a row), causal, and with a
// sliding window when window > 0 (a query at position i sees keys i − window + 1 ... i). The cache
// rows as for hayai_attend_heads; out (row i at i·ldo, head h at h·d). scratch holds
// hayai_attend_prompt_scratch(d, group) floats; i1 − i0 ≤ hayai_attend_prompt_tile().
size_t hayai_attend_prompt_scratch(int d, int group);
int hayai_attend_prompt_tile(void);
void hayai_attend_prompt(int type, const float *q, size_t ldq, const void *keys, const void *values, size_t rowBytes, int d,
                         int group, int kvh, int p0, int i0, int i1, int window, float scale, float *scratch, float *out,
                         size_t ldo);
// Whether hayai_attend_prompt's products run on AVX-512 (where the CPU has it; the same results as
// the AVX2 ones bit for bit); set_avx512(0) makes them AVX2 (tests compare the two).
int hayai_attend_prompt_avx512(void);
void hayai_attend_prompt_set_avx512(int on);
// 2^x (x ≤ 8) as hayai_attend_prompt's softmax computes it (its scores are in base 2), on AVX-512 where `avx512`
// asks for it and the CPU has it (the same bits either way); for tests.
void hayai_attend_prompt_exp2(const float *x, float *y, int n, int avx512);
// Training's causal attention, flash-style (attention_train.c): one sequence's t rows and one kv head's
// `group` query heads (q, out, dout, dq: head g at column g·d of rows ldq apart; k, v, dk, dv: rows ldkv
// apart). Row i sees keys max(0, i − positions[i], i − window + 1) ... i (positions may be NULL, window 0:
// none). The forward writes out and the log-sum-exp of each row's scaled scores, lse (group, t); the
// backward recomputes the probabilities from it and overwrites dq, dk, dv. scratch:
// hayai_causal_attention_scratch(t, d) floats, for either.
size_t hayai_causal_attention_scratch(int t, int d);
void hayai_causal_attention_forward(const float *q, size_t ldq, const float *k, const float *v, size_t ldkv, int t, int d,
                                    int group, const int32_t *positions, int window, float scale, float *scratch,
                                    float *out, size_t ldo, float *lse);
void hayai_causal_attention_backward(const float *dout, const float *q, const float *out, size_t ldq, const float *k,
                                     const float *v, size_t ldkv, const float *lse, int t, int d, int group,
                                     const int32_t *positions, int window, float scale, float *scratch, float *dq,
                                     float *dk, float *dv);
// Reads [p, p + bytes) (32-byte aligned, a multiple of 128 bytes) once; returns a checksum.
uint64_t hayai_stream_read(const void *p, size_t bytes);
void hayai_dequantize_q8_0(const void *src, float *dst, size_t n);
void hayai_dequantize_q4_0(const void *src, float *dst, size_t n);

// ---- hayai's GEMM for training (gemm.c explains the packed layouts; Kernels/GEMM.swift runs the blocking
// loops over the thread pool and holds the scalar reference). Row-major, op(X) = X or Xᵀ.
#define HAYAI_GEMM_MR 12        // rows of C per micro-kernel tile
#define HAYAI_GEMM_NR 32        // columns of C per micro-kernel tile (one packed B panel)
#define HAYAI_GEMM_KC_F32 256   // the most k per packed block, f32
#define HAYAI_GEMM_KC_BF16 512  // the most k per packed block, bf16 (the same bytes)
// Non-zero when the CPU runs the f32 kernel (AVX512 F/BW/VL), or with bf16 != 0 the bf16 one (+ AVX512-BF16).
int hayai_gemm_available(int bf16);
// Packs NR-column panels [panel0, panel1) of op(B)[p0 .. p0+kc) × [j0 .. j0+nc) (kc ≤ the KC above) into
// `packed`, which holds ceil(nc / NR) panels of kc·NR floats (f32) or ceil(kc/2)·NR 32-bit words (bf16).
void hayai_gemm_pack_b(int bf16, int transB, const float *b, size_t ldb, int p0, int kc, int j0, int nc,
                       int panel0, int panel1, void *packed);
// C[i0 .. i0+rows) × [0 .. nc) = alpha·op(A)[i0.., p0 .. p0+kc) · packedB + beta·C (beta 0: C is not read);
// `c` points at column j0 of C's row 0, the packed block's first column.
void hayai_gemm_rows(int bf16, int transA, const float *a, size_t lda, int i0, int rows, int p0, int kc,
                     const void *packedB, int nc, float alpha, float beta, float *c, size_t ldc);
// The precision BLAS.gemm runs in (BLAS.withPrecision): 0 f32, 1 bf16.
int hayai_gemm_precision_get(void);
void hayai_gemm_precision_set(int bf16);
// iterations × 24 zmm FMAs (bf16 0: 32 flops each) or vdpbf16ps (bf16 1: 64 flops each), no memory traffic:
// the f32 and bf16 arithmetic peaks for `hayai bench --gemm`. Returns a checksum.
float hayai_gemm_peak(int bf16, long iterations);

// ---- The optimizer's passes over the flat parameter buffer (optimizer.c), in torch.optim.AdamW's
// arithmetic element by element (no contraction into FMAs, so the results are Swift's scalar ones, bit for bit).
// Σ x_i² accumulated in double.
double hayai_sum_squares(const float *x, size_t n);
// x[i] *= scale
void hayai_scale(float *x, size_t n, float scale);
// One AdamW update of n parameters: with decay, p *= decayFactor; m = lerp(m, g, lerpWeight);
// v = v·beta2 + (1 − beta2)·g²; p += −stepSize · m / (√v / denomScale + eps).
void hayai_adamw(float *p, const float *g, float *m, float *v, size_t n, int decay, float decayFactor, float lerpWeight,
                 float beta2, float oneMinusBeta2, float denomScale, float eps, float stepSize);

// A LoRA update row by row (lora.c): y (t, out) += s · (x Aᵀ) Bᵀ for x (t, in), A (r, in) and bt = Bᵀ (r, out),
// each row in an order of its own (independent of t); xa is r floats of scratch.
void hayai_lora_rows(const float *x, int t, int in, const float *a, int r, const float *bt, int out, float s, float *y,
                     float *xa);
