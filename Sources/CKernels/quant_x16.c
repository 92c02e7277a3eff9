// Quantized weights interleaved by 16 rows ("x16"), multiplied with AVX512-VNNI: Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0 and IQ4_NL (blocks of 32) and Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS (super-blocks of 256).
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
//   pair p = blocks 2p, 2p + 1:  header(2p) header(2p + 1) part(2p) part(2p + 1)
//   header(b)  16 half floats (32 bytes): block b's scale d of rows 0..15; for the types with a
//              minimum (Q4_1, Q5_1: m; Q2_K, Q4_K, Q5_K: dmin) 16 more half floats follow (64 bytes);
//              IQ4_XS's 6-bit scales follow too (128 bytes, see iq4_xs_pack_row).
//   part(b)    everything else of the block's 16 rows; every part is a multiple of 64 bytes.
//   An odd last block is header then part.
// The 32-element types share one unit layout: unit u (u < 8) of a row is elements [4u, 4u + 4) of
// the block, and a 64-byte register holds unit u of the 16 rows (row r at bytes 4r..4r+3).
//   Q8_0         part = 8 registers, unit u at 64u, as q + 128 (the sign bit flipped: vpdpbusd
//                multiplies unsigned weight bytes).
//   Q4_0, Q4_1   part = 4 registers of the block's qs as GGUF orders them: register k holds
//                qs[4k..4k+3] of each row, low nibbles = unit k, high nibbles = unit k + 4.
//   IQ4_NL       as Q4_0; the nibbles are codes, looked up (vpshufb) as table value + 128 (1..241).
//   Q5_0, Q5_1   part = a qh register (64 bytes), then the 4 nibble registers. Row r's 4 qh bytes
//                are rearranged so that bit k of byte e is the 5th bit of element 4k + e: unit k's
//                5th bits are then bit k of each byte, one shift away from bit 4.
// K-quants: see k4_pack_row (Q4_K, Q5_K), q6_K_pack_row (Q6_K), q2_K_pack_row (Q2_K) and q3_K_pack_row (Q3_K);
// IQ4_XS: see iq4_xs_pack_row.
// Integer sums are exact: Σ (q − o)·x = Σ q·x − o·Σ x for the offset o of the signed types (8, 16,
// 32, or 128 for Q8_0's flipped bytes), the activation sums being computed once per call (Q8_K
// carries them, Q8_1 carries d·Σ q for the minimum's term); so results equal the scalar references
// up to the order of float additions.
#include "CKernels.h"
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define X16 16
#define T_Q4_0 2
#define T_Q4_1 3
#define T_Q5_0 6
#define T_Q5_1 7
#define T_Q8_0 8
#define T_Q4_K 12
#define T_Q5_K 13
#define T_Q6_K 14
#define T_Q2_K 10
#define T_Q3_K 11
#define T_IQ4_NL 20
#define T_IQ4_XS 23

static int is_k_quant(uint32_t type) { return type == T_Q4_K || type == T_Q5_K || type == T_Q6_K || type == T_Q2_K || type == T_Q3_K; }
static int has_min(uint32_t type) { return type == T_Q4_1 || type == T_Q5_1 || type == T_Q4_K || type == T_Q5_K || type == T_Q2_K; }
static int is_q5(uint32_t type) { return type == T_Q5_0 || type == T_Q5_1; }
// Bytes of one block's header for 16 rows (d, and m or dmin where the type has a minimum).
static size_t header_bytes(uint32_t type) { return type == T_IQ4_XS ? 128 : has_min(type) ? 64 : 32; }
// Bytes of one block's part for 16 rows: everything but the header.
static size_t part_bytes(uint32_t type) {
    switch (type) {
    case T_Q4_0: case T_Q4_1: return 256;
    case T_Q5_0: case T_Q5_1: return 320;
    case T_Q8_0: return 512;
    case T_IQ4_NL: return 256;
    case T_IQ4_XS: return 2048;
    case T_Q4_K: return 2240;   // 192 bytes of scales and mins, 2048 of nibbles
    case T_Q5_K: return 2752;   // the same and 512 bytes of 5th bits
    case T_Q2_K: return 1280;   // 256 bytes of scales and mins, 1024 of 2-bit quants
    case T_Q3_K: return 1728;   // 192 bytes of scales, 512 of 3rd bits, 1024 of 2-bit pairs
    default: return 3328;       // Q6_K
    }
}
// Elements per block.
static int block_elements(uint32_t type) { return is_k_quant(type) || type == T_IQ4_XS ? 256 : 32; }

// Offsets of block b's header and part inside a group (pairs of blocks, see the layout above).
static inline size_t header_offset(int b, size_t hb, size_t pb) { return (size_t)(b >> 1) * (2 * hb + 2 * pb) + (size_t)(b & 1) * hb; }
static inline size_t part_offset(int b, int nb, size_t hb, size_t pb) {
    return (size_t)(b >> 1) * (2 * hb + 2 * pb) + ((b & 1) ? 2 * hb + pb : (b == nb - 1 ? hb : 2 * hb));
}

size_t hayai_x16_group_bytes(uint32_t type, int nb) { return (size_t)nb * (header_bytes(type) + part_bytes(type)); }

int hayai_x16_supports(uint32_t type) {
    switch (type) {
    case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1: case T_Q8_0: case T_Q4_K: case T_Q5_K: case T_Q6_K: case T_Q2_K: case T_Q3_K: return 1;
    case T_IQ4_NL: case T_IQ4_XS: return 1;
    default: return 0;
    }
}

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

// Q4_K / Q5_K part of 16 rows. Sub-block s (elements 32s..32s+31) has a 6-bit scale sc[s] and a 6-bit
// minimum m[s] per row (GGUF packs them in 12 bytes, get_scale_min_k4); they are stored in the same
// 192 bytes for 16 rows, arranged for the kernel:
//   K4_LOW (64 bytes)   byte 16·(s & 3) + r = low 4 bits of sc[s] | low 4 bits of sc[s + 4] << 4 (s < 4)
//   K4_MINS (128 bytes) byte 32·p + 2r + i = m[2p + i] | top 2 bits of sc[2p + i] << 6 (p < 4, i < 2):
//                       widened to 16 bits, lane r holds the pair (m[2p], m[2p + 1]) for vpdpwssd.
// Then (Q5_K only) 8 qh registers: register i holds qh[4i..4i+3] of each row (bit 2p of byte l is
// the 5th bit of element 64p + l, bit 2p + 1 that of element 64p + 32 + l), and 32 nibble registers:
// register 8p + i holds qs[32p + 4i .. 32p + 4i + 3] of each row, low nibbles = elements 64p + 4i..
// (sub-block 2p), high nibbles = elements 64p + 32 + 4i.. (sub-block 2p + 1), as GGUF pairs them.
#define K4_LOW 0
#define K4_MINS 64
#define K4_QH 192
static inline size_t k4_qs_offset(uint32_t type) { return type == T_Q5_K ? 704 : 192; }

// The 12 scale bytes of Q4_K/Q5_K -> 8 six-bit scales and 8 six-bit mins (ggml's get_scale_min_k4).
static void k4_scales(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 0xF) | ((q[j] >> 6) << 4);
        m[j + 4] = (q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4);
    }
}

// Row r of a Q4_K (qh = NULL) or Q5_K block into the part.
static void k4_pack_row(uint32_t type, const uint8_t *scales, const uint8_t *qh, const uint8_t *qs, int r, uint8_t *part) {
    uint8_t sc[8], m[8];
    k4_scales(scales, sc, m);
    for (int s = 0; s < 4; s++) part[K4_LOW + 16 * s + r] = (sc[s] & 0xF) | ((sc[s + 4] & 0xF) << 4);
    for (int s = 0; s < 8; s++) part[K4_MINS + 32 * (s >> 1) + 2 * r + (s & 1)] = m[s] | ((sc[s] >> 4) << 6);
    if (qh)
        for (int l = 0; l < 32; l++) part[K4_QH + 64 * (l >> 2) + 4 * r + (l & 3)] = qh[l];
    uint8_t *nibbles = part + k4_qs_offset(type);
    for (int l = 0; l < 128; l++) nibbles[64 * (l >> 2) + 4 * r + (l & 3)] = qs[l];
}

// Scale and minimum of sub-block s of row r.
static void k4_scale_min(const uint8_t *part, int r, int s, int *sc, int *m) {
    const uint8_t low = part[K4_LOW + 16 * (s & 3) + r], mins = part[K4_MINS + 32 * (s >> 1) + 2 * r + (s & 1)];
    *sc = (s < 4 ? low & 0xF : low >> 4) | ((mins >> 6) << 4);
    *m = mins & 63;
}

// Element j (0..255) of row r, unsigned (0..15, Q5_K 0..31).
static int k4_value(uint32_t type, const uint8_t *part, int r, int j) {
    const int p = j >> 6, l = j & 31, high = (j >> 5) & 1;   // pair, position in the sub-block, its parity
    const uint8_t byte = part[k4_qs_offset(type) + 64 * (8 * p + (l >> 2)) + 4 * r + (l & 3)];
    int q = high ? byte >> 4 : byte & 0xF;
    if (type == T_Q5_K) q |= ((part[K4_QH + 64 * (l >> 2) + 4 * r + (l & 3)] >> (2 * p + high)) & 1) << 4;
    return q;
}

// Q2_K part of 16 rows. Sub-block s (elements 16s..16s+15) has one byte per row, a 4-bit scale (low
// nibble) and a 4-bit minimum (high nibble), as GGUF stores it; the 2-bit quants stay in GGUF's order.
//   Q2_SCALES (256 bytes)  byte 32·p + 2r + i = the byte of sub-block 2p + i (p < 8, i < 2): widened
//                          to 16 bits, lane r holds the pair of sub-blocks 2p, 2p + 1, whose minimums
//                          meet Q8_K's bsums pair (2p, 2p + 1) in one vpdpwssd.
//   Q2_QS (1024 bytes)     16 registers: register 8h + i holds qs[32h + 4i .. 32h + 4i + 3] of each
//                          row. Bits 2j..2j+1 of those bytes are elements 128h + 32j + 4i.. + 3, so
//                          pass p = 4h + j takes bits 2j of registers 8h..8h+7: units i < 4 are
//                          sub-block 2p, units i ≥ 4 sub-block 2p + 1, against activations 32p + 4i.
#define Q2_SCALES 0
#define Q2_QS 256

static void q2_K_pack_row(const hayai_block_q2_K *blk, int r, uint8_t *part) {
    for (int s = 0; s < 16; s++) part[Q2_SCALES + 32 * (s >> 1) + 2 * r + (s & 1)] = blk->scales[s];
    for (int l = 0; l < 64; l++) part[Q2_QS + 64 * (l >> 2) + 4 * r + (l & 3)] = blk->qs[l];
}

// Scale byte (scale | min << 4) of sub-block s of row r.
static int q2_K_scale_byte(const uint8_t *part, int r, int s) { return part[Q2_SCALES + 32 * (s >> 1) + 2 * r + (s & 1)]; }

// Element e (0..255) of row r, 0..3.
static int q2_K_value(const uint8_t *part, int r, int e) {
    const int h = e >> 7, j = (e >> 5) & 3, l = e & 31;
    return (part[Q2_QS + 64 * (8 * h + (l >> 2)) + 4 * r + (l & 3)] >> (2 * j)) & 3;
}

// Q3_K part of 16 rows. Element 32k + l (k < 8, l < 32) of a row has 2 low bits at bit 2(k % 4) of
// GGUF's qs[32(k / 4) + l] and its 3rd bit at bit k of hmask[l]; sub-block s (elements 16s..16s+15)
// has a 6-bit scale sc[s] (stored minus 32). The kernel reads in eight passes k, pass k covering
// elements 32k..32k+31 = sub-blocks 2k and 2k + 1, as 8 units i (elements 32k + 4i..32k + 4i + 3).
// A unit's codes are stored whole (v = 2 low bits | 3rd bit << 2, 0..7), eight codes to three bytes, so that
// a unit takes one to four instructions to unpack and the part keeps GGUF's size:
//   Q3_SC_LOW (128 bytes)  byte 32p + 2r + e = low 4 bits of sc[2p + e] | low 4 bits of sc[2p + 8 + e] << 4
//                          (p < 4, e < 2): widened to 16 bits, lane r holds pass p's (low nibbles) or pass
//                          p + 4's (high nibbles) pair of scales, for vpdpwssd.
//   Q3_SC_HIGH (64 bytes)  the 32 bits of lane r: bits 2k, 2k + 1 = top bits of sc[2k], bits 16 + 2k,
//                          17 + 2k = those of sc[2k + 1]: one shift by 2k puts pass k's pair in place.
//   Q3_UNITS (1536 bytes)  pass k at 192k: registers X, Y, Z (64 bytes each); byte 4r + e of each holds
//                          element e of row r's units: X = v0 | v1 << 3 | (v6 & 3) << 6,
//                          Y = v2 | v3 << 3 | (v7 & 3) << 6, Z = v4 | v5 << 3 | (v6 >> 2) << 6 | (v7 >> 2) << 7.
#define Q3_SC_LOW 0
#define Q3_SC_HIGH 128
#define Q3_UNITS 192

static void q3_K_pack_row(const hayai_block_q3_K *blk, int r, uint8_t *part) {
    uint8_t sc[16];
    for (int s = 0; s < 16; s++) {
        const uint8_t low = s < 8 ? blk->scales[s] & 0xF : blk->scales[s - 8] >> 4;
        sc[s] = low | (((blk->scales[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
    }
    uint32_t high = 0;
    for (int p = 0; p < 4; p++)
        for (int e = 0; e < 2; e++) part[Q3_SC_LOW + 32 * p + 2 * r + e] = (sc[2 * p + e] & 0xF) | ((sc[2 * p + 8 + e] & 0xF) << 4);
    for (int s = 0; s < 16; s++) high |= (uint32_t)(sc[s] >> 4) << (16 * (s & 1) + 2 * (s >> 1));
    memcpy(part + Q3_SC_HIGH + 4 * r, &high, 4);
    for (int k = 0; k < 8; k++) {
        uint8_t *xyz = part + Q3_UNITS + 192 * k + 4 * r;
        for (int e = 0; e < 4; e++) {
            uint8_t v[8];
            for (int i = 0; i < 8; i++) {
                const int l = 4 * i + e;   // element 32k + l
                v[i] = ((blk->qs[32 * (k >> 2) + l] >> (2 * (k & 3))) & 3) | (((blk->hmask[l] >> k) & 1) << 2);
            }
            xyz[e] = v[0] | v[1] << 3 | (v[6] & 3) << 6;
            xyz[64 + e] = v[2] | v[3] << 3 | (v[7] & 3) << 6;
            xyz[128 + e] = v[4] | v[5] << 3 | (v[6] >> 2) << 6 | (v[7] >> 2) << 7;
        }
    }
}

// The 6-bit scale of sub-block s of row r (before its offset of 32).
static int q3_K_scale(const uint8_t *part, int r, int s) {
    const int k = s >> 1, e = s & 1;
    const uint8_t low = part[Q3_SC_LOW + 32 * (k & 3) + 2 * r + e];
    uint32_t high;
    memcpy(&high, part + Q3_SC_HIGH + 4 * r, 4);
    return (k < 4 ? low & 0xF : low >> 4) | (((high >> (16 * e + 2 * k)) & 3) << 4);
}

// Element j (0..255) of row r, signed (−4..3).
static int q3_K_value(const uint8_t *part, int r, int j) {
    const int k = j >> 5, i = (j >> 2) & 7;
    const uint8_t *xyz = part + Q3_UNITS + 192 * k + 4 * r + (j & 3);
    const uint8_t X = xyz[0], Y = xyz[64], Z = xyz[128];
    int v;
    switch (i) {
    case 0: v = X & 7; break;
    case 1: v = (X >> 3) & 7; break;
    case 2: v = Y & 7; break;
    case 3: v = (Y >> 3) & 7; break;
    case 4: v = Z & 7; break;
    case 5: v = (Z >> 3) & 7; break;
    case 6: v = (X >> 6) | ((Z >> 6) & 1) << 2; break;
    default: v = (Y >> 6) | (Z >> 7) << 2; break;
    }
    return v - 4;
}

// The IQ4 codes' values (ggml's kvalues_iq4nl) and, for vpdpbusd's unsigned operand, the same + 128.
static const int8_t iq4_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };
static const uint8_t iq4_values128[16] = { 1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241 };

// IQ4_XS block of 16 rows. The header (128 bytes) holds d of rows 0..15 (16 half floats), then each
// row's scales_l (4 bytes at 32 + 4r: lane r's bits 4s..4s+3 are the low bits of sub-block s's scale),
// then each row's scales_h (2 bytes at 96 + 2r: bits 2s, 2s + 1 are its top bits): the block's bytes
// but its codes, so the part stays 64-byte aligned. The part is 32 registers: register 4s + i holds
// qs[16s + 4i .. 16s + 4i + 3] of each row, low nibbles = elements 32s + 4i.. (unit i of sub-block s),
// high nibbles = elements 32s + 16 + 4i.. (unit i + 4), as GGUF pairs them.
#define XS_SCALES_L 32
#define XS_SCALES_H 96
static void iq4_xs_pack_row(const hayai_block_iq4_xs *blk, int r, uint8_t *header, uint8_t *part) {
    memcpy(header + 2 * r, &blk->d, 2);
    memcpy(header + XS_SCALES_L + 4 * r, blk->scales_l, 4);
    memcpy(header + XS_SCALES_H + 2 * r, &blk->scales_h, 2);
    for (int l = 0; l < 128; l++) part[64 * (l >> 2) + 4 * r + (l & 3)] = blk->qs[l];
}

// The 6-bit scale ls of sub-block s of row r (the stored value, ls − 32 being the multiplier).
static int iq4_xs_scale(const uint8_t *header, int r, int s) {
    uint32_t low; uint16_t high;
    memcpy(&low, header + XS_SCALES_L + 4 * r, 4);
    memcpy(&high, header + XS_SCALES_H + 2 * r, 2);
    return (int)(((low >> (4 * s)) & 0xF) | (((uint32_t)high >> (2 * s)) & 3) << 4);
}

// The code of element j (0..255) of row r.
static int iq4_xs_code(const uint8_t *part, int r, int j) {
    const int s = j >> 5, l = j & 15;
    const uint8_t byte = part[64 * (4 * s + (l >> 2)) + 4 * r + (l & 3)];
    return (j & 16) ? byte >> 4 : byte & 0xF;
}

// Row r of a 32-element block (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL) into the part.
static void block32_pack_row(uint32_t type, const uint8_t *blk, int r, uint8_t *part) {
    if (type == T_Q8_0) {
        for (int j = 0; j < 32; j++) part[((j >> 2) * X16 + r) * 4 + (j & 3)] = blk[2 + j] ^ 0x80;
        return;
    }
    const uint8_t *qs = blk + (type == T_Q4_0 || type == T_IQ4_NL ? 2 : type == T_Q4_1 ? 4 : type == T_Q5_0 ? 6 : 8);
    uint8_t *nibbles = part;
    if (is_q5(type)) {
        uint32_t qh;
        memcpy(&qh, blk + (type == T_Q5_0 ? 2 : 4), 4);
        for (int e = 0; e < 4; e++) {
            uint8_t byte = 0;
            for (int k = 0; k < 8; k++) byte |= ((qh >> (4 * k + e)) & 1) << k;
            part[4 * r + e] = byte;
        }
        nibbles = part + 64;
    }
    for (int j = 0; j < 16; j++) nibbles[((j >> 2) * X16 + r) * 4 + (j & 3)] = qs[j];
}

// Element j (0..31) of row r, unsigned (Q8_0: the signed value; IQ4_NL: the code).
static int block32_value(uint32_t type, const uint8_t *part, int r, int j) {
    if (type == T_Q8_0) return (int8_t)(part[((j >> 2) * X16 + r) * 4 + (j & 3)] ^ 0x80);
    const int k = j & 15;
    const uint8_t byte = part[(is_q5(type) ? 64 : 0) + ((k >> 2) * X16 + r) * 4 + (k & 3)];
    int q = j < 16 ? byte & 0x0F : byte >> 4;
    if (is_q5(type)) q |= ((part[4 * r + (j & 3)] >> (j >> 2)) & 1) << 4;
    return q;
}

void hayai_x16_pack(uint32_t type, int nb, const void *src, size_t rowBytes, int groups, void *dst) {
    const size_t hb = header_bytes(type), pb = part_bytes(type), bytes = (hb + pb) / X16;
    for (int g = 0; g < groups; g++) {
        uint8_t *out = (uint8_t *)dst + (size_t)g * hayai_x16_group_bytes(type, nb);
        for (int r = 0; r < X16; r++) {
            const uint8_t *row = (const uint8_t *)src + ((size_t)g * X16 + r) * rowBytes;
            for (int b = 0; b < nb; b++) {
                uint8_t *part = out + part_offset(b, nb, hb, pb), *header = out + header_offset(b, hb, pb);
                const uint8_t *blk = row + (size_t)b * bytes;
                if (type == T_IQ4_XS) {
                    iq4_xs_pack_row((const hayai_block_iq4_xs *)blk, r, header, part);
                    continue;
                }
                if (type == T_Q3_K) {
                    memcpy(header + 2 * r, &((const hayai_block_q3_K *)blk)->d, 2);
                    q3_K_pack_row((const hayai_block_q3_K *)blk, r, part);
                    continue;
                }
                if (type == T_Q6_K) {
                    memcpy(header + 2 * r, &((const hayai_block_q6_K *)blk)->d, 2);
                    q6_K_pack_row((const hayai_block_q6_K *)blk, r, part);
                    continue;
                }
                if (type == T_Q2_K) {
                    const hayai_block_q2_K *q2 = (const hayai_block_q2_K *)blk;
                    memcpy(header + 2 * r, &q2->d, 2);
                    memcpy(header + 32 + 2 * r, &q2->dmin, 2);
                    q2_K_pack_row(q2, r, part);
                    continue;
                }
                memcpy(header + 2 * r, blk, 2);                        // d
                if (has_min(type)) memcpy(header + 32 + 2 * r, blk + 2, 2);  // m or dmin
                if (type == T_Q4_K) k4_pack_row(type, blk + 4, NULL, blk + 16, r, part);
                else if (type == T_Q5_K) k4_pack_row(type, blk + 4, blk + 16, blk + 48, r, part);
                else block32_pack_row(type, blk, r, part);
            }
        }
    }
}

static inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// Row `lane` of one group as floats (nb blocks), computed as the scalar dequantizers do (the same
// operations in the same order, none fused).
#pragma clang fp contract(off)
void hayai_x16_dequantize_row(uint32_t type, int nb, const void *group, int lane, float *out) {
    const size_t hb = header_bytes(type), pb = part_bytes(type);
    const int n = block_elements(type);
    for (int b = 0; b < nb; b++) {
        const uint8_t *header = (const uint8_t *)group + header_offset(b, hb, pb);
        uint16_t h, hm = 0;
        memcpy(&h, header + 2 * lane, 2);
        if (has_min(type)) memcpy(&hm, header + 32 + 2 * lane, 2);
        const float d = half_to_float(h), m = half_to_float(hm);
        const uint8_t *part = (const uint8_t *)group + part_offset(b, nb, hb, pb);
        float *o = out + (size_t)b * n;
        if (type == T_IQ4_XS) {
            for (int s = 0; s < 8; s++) {
                const float dl = d * (float)(iq4_xs_scale(header, lane, s) - 32);
                for (int l = 0; l < 32; l++) o[32 * s + l] = dl * (float)iq4_values[iq4_xs_code(part, lane, 32 * s + l)];
            }
            continue;
        }
        if (type == T_Q4_K || type == T_Q5_K) {
            for (int s = 0; s < 8; s++) {
                int sc, mn;
                k4_scale_min(part, lane, s, &sc, &mn);
                const float d1 = d * (float)sc, m1 = m * (float)mn;
                for (int l = 0; l < 32; l++) o[32 * s + l] = d1 * (float)k4_value(type, part, lane, 32 * s + l) - m1;
            }
            continue;
        }
        if (type == T_Q2_K) {
            for (int s = 0; s < 16; s++) {
                const int byte = q2_K_scale_byte(part, lane, s);
                const float dl = d * (float)(byte & 0xF), ml = m * (float)(byte >> 4);
                for (int l = 0; l < 16; l++) o[16 * s + l] = dl * (float)q2_K_value(part, lane, 16 * s + l) - ml;
            }
            continue;
        }
        if (type == T_Q3_K) {
            for (int s = 0; s < 16; s++) {
                const float dl = d * (float)(q3_K_scale(part, lane, s) - 32);
                for (int l = 0; l < 16; l++) o[16 * s + l] = dl * (float)q3_K_value(part, lane, 16 * s + l);
            }
            continue;
        }
        for (int j = 0; j < n; j++) {
            switch (type) {
            case T_Q6_K: o[j] = d * (float)(int8_t)part[q6_scale_offset(j >> 4) + lane] * (float)q6_K_value(part, lane, j); break;
            case T_Q8_0: o[j] = d * (float)block32_value(type, part, lane, j); break;
            case T_Q4_0: o[j] = d * (float)(block32_value(type, part, lane, j) - 8); break;
            case T_Q5_0: o[j] = d * (float)(block32_value(type, part, lane, j) - 16); break;
            case T_IQ4_NL: o[j] = d * (float)iq4_values[block32_value(type, part, lane, j)]; break;
            default: o[j] = d * (float)block32_value(type, part, lane, j) + m; break;   // Q4_1, Q5_1
            }
        }
    }
}
#pragma clang fp contract(on)

// Rows of whole groups as floats, (groups · 16, nb · elements) row-major.
void hayai_x16_dequantize(uint32_t type, int nb, const void *w, int groups, float *out) {
    const size_t gbytes = hayai_x16_group_bytes(type, nb), n = (size_t)nb * block_elements(type);
    for (int g = 0; g < groups; g++)
        for (int r = 0; r < X16; r++)
            hayai_x16_dequantize_row(type, nb, (const uint8_t *)w + g * gbytes, r, out + ((size_t)g * X16 + r) * n);
}

// ---- Products. T tokens share each block's unpacked weights and converted scales.

#define ZMM_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c"), always_inline))

static inline int32_t load_i32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

// One token's Q5_K kernel asks for the weights ahead of use itself: without it a core streamed Q5_K
// groups from memory at 8–20 GB/s against ~43 for Q4_K's (the hardware prefetchers fell behind on
// its pattern; neither the 5th bits' work, skipped for a try, nor storing them before the scales
// changed that). Each of a block's four passes requests a quarter of the block's bytes
// X16_PREFETCH_AHEAD bytes further on (the group's blocks and the next group follow each other in
// memory; past the end of the matrix a prefetch reads nothing and does not fault). Zen 5, one core,
// 5632 × 2048 one token, 12 matrices in turn: ~20 GB/s -> ~45 at 8 KiB ahead (2, 4, 12, 16, 24 KiB:
// 38, 40, 42, 41, 39; all of a block's lines at its start, 4 KiB ahead: 31). Q4_K and Q6_K stream
// at ~43 and ~40 without it, and Q4_K gained nothing with it.
#define X16_PREFETCH_AHEAD 8192
ZMM_TARGET static inline void prefetch_quarter(const uint8_t *group, int b, size_t blockBytes, int quarter) {
    const size_t from = blockBytes * quarter / 4 / 64 * 64, to = quarter == 3 ? blockBytes : blockBytes * (quarter + 1) / 4 / 64 * 64;
    const char *ahead = (const char *)((uintptr_t)group + (size_t)b * blockBytes + X16_PREFETCH_AHEAD);   // may lie past the matrix
    for (size_t o = from; o < to; o += 64) _mm_prefetch(ahead + o, _MM_HINT_NTA);
}

// Bit `bit` of every byte moved to bit 4 (the 5th bit of a quant), other bits left unmasked. The
// 16-bit shifts carry bits across bytes only into positions other than bit 4.
ZMM_TARGET static inline __m512i bit_to_4(__m512i v, int bit) {
    return bit <= 4 ? _mm512_slli_epi16(v, 4 - bit) : _mm512_srli_epi16(v, bit - 4);
}

// 1.5·2²³ and its bits: an integer n with |n| < 2²² added to the bits is the float 1.5·2²³ + n.
#define MAGIC 12582912.0f
#define MAGIC_BITS 0x4B400000

// Tokens the 32-element kernels take at once: each unpacked weight block (and its converted scales)
// is used by this many tokens; 8 accumulators plus the 8 unpacked units fit the 32 registers.
#define X16_TOKENS32 8

// What the 32-element kernels need of each token's activation block b, prepared once per call:
// the quants (qs of the Q8_0 or Q8_1 block), the scale as float, Q8_1's s = d·Σ q as float, and for
// the signed types (offset o = 8, 16, 128) the integer sum's start, MAGIC_BITS − o·Σ qs: the block's
// sum Σ (q − o)·x = Σ q·x − o·Σ x then ends as the bits of the float 1.5·2²³ + Σ exactly (|Σ| < 2²²:
// at most 32·255·128 before the offset, 32·128·127 after), and one subtraction converts it instead
// of a vpsubd and a vcvtdq2ps (the same value: Σ is an integer below 2²⁴). Zen 5, one core,
// 1536 × 576 against 512 tokens: Q4_0 ~300 -> ~350 G multiply-adds/s, Q5_0 ~300 -> ~330, Q8_0 ~335
// -> ~350. Q4_1 and Q5_1 (a second FMA adds the minimum's term) ran ~4% slower this way and keep
// the conversion.
typedef struct {
    const uint8_t *blocks;   // the token's activation row
    const float *xd;
    const int32_t *xstart;
    const float *xs;
} x16_tokens32;

// Rows of one group of a 32-element type against T tokens. A block's 32 quants of a row become
// eight 4-byte units u[k] (elements 4k..4k+3), see the layout at the top.
ZMM_TARGET static inline void x16_blocks32(uint32_t type, int nb, const uint8_t *group, int T, const x16_tokens32 *x,
                                           float *const *y) {
    const __m512i low = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10), zero = _mm512_setzero_si512();
    const size_t hb = header_bytes(type), pb = part_bytes(type);
    const size_t xbytes = has_min(type) ? sizeof(hayai_block_q8_1) : sizeof(hayai_block_q8_0), xqs = has_min(type) ? 4 : 2;
    __m512 acc[X16_TOKENS32];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *q = group + part_offset(b, nb, hb, pb);
        const uint8_t *header = group + header_offset(b, hb, pb);
        if (T == 1 && type != T_Q8_0 && (b & 1) == 0) {
            // A block pair's cache lines, X16_PREFETCH_AHEAD on (as the IQ4_XS and Q5_K kernels ask):
            // Zen 5, one core, 5632 × 2048 one token, 12 matrices in turn, IQ4_NL ~38 -> ~42-43 GB/s;
            // bench --synthetic stablelm-2-1.6b tg128, one thread, alternating: Q4_0 40.4, 40.7 -> 44.1,
            // 42.3 t/s, Q4_1 37.2, 38.1 -> 38.9, 38.9, Q5_0 34.9, 34.8 -> 35.9, 35.8. Q8_0, already at
            // ~93% of the read bound, lost 3-4% (26.3 -> 25.6, 25.1) and does without.
            const char *ahead = (const char *)((uintptr_t)group + (size_t)b * (hb + pb) + X16_PREFETCH_AHEAD);   // may lie past the matrix
            for (size_t l = 0; l < (2 * (hb + pb) + 63) / 64; l++) _mm_prefetch(ahead + 64 * l, _MM_HINT_NTA);
        }
        __m512i u[8];
        if (type == T_Q8_0) {
            for (int k = 0; k < 8; k++) u[k] = _mm512_loadu_si512((const void *)(q + 64 * k));
        } else {
            const uint8_t *nibbles = is_q5(type) ? q + 64 : q;
            for (int k = 0; k < 4; k++) {
                const __m512i w = _mm512_loadu_si512((const void *)(nibbles + 64 * k));
                u[k] = _mm512_and_si512(w, low);
                u[k + 4] = _mm512_and_si512(_mm512_srli_epi16(w, 4), low);
            }
            if (is_q5(type)) {
                const __m512i qh = _mm512_loadu_si512((const void *)q);
                // u | (bits & 0x10): ternary logic 0xF8 = a | (b & c)
                for (int k = 0; k < 8; k++) u[k] = _mm512_ternarylogic_epi32(u[k], bit_to_4(qh, k), bit4, 0xF8);
            }
            if (type == T_IQ4_NL) {
                const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)iq4_values128));
                for (int k = 0; k < 8; k++) u[k] = _mm512_shuffle_epi8(table, u[k]);
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)header));
        __m512 m = _mm512_setzero_ps();
        if (has_min(type)) m = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(header + 32)));
        for (int t = 0; t < T; t++) {
            const uint8_t *xq = x[t].blocks + (size_t)b * xbytes + xqs;
            // The signed types' sums start at x16_tokens32.xstart (see there), the others' at 0.
            const __m512i start = has_min(type) ? zero : _mm512_set1_epi32(x[t].xstart[b]);
            __m512i s;
            if (T >= 8) {
                // Two chains of four: eight tokens already give 16 independent chains, and every add
                // that joins chains is an instruction beside the vpdpbusd on the vector ports.
                __m512i s0 = _mm512_dpbusd_epi32(start, u[0], _mm512_set1_epi32(load_i32(xq + 0)));
                __m512i s1 = _mm512_dpbusd_epi32(zero, u[4], _mm512_set1_epi32(load_i32(xq + 16)));
                for (int k = 1; k < 4; k++) {
                    s0 = _mm512_dpbusd_epi32(s0, u[k], _mm512_set1_epi32(load_i32(xq + 4 * k)));
                    s1 = _mm512_dpbusd_epi32(s1, u[k + 4], _mm512_set1_epi32(load_i32(xq + 16 + 4 * k)));
                }
                s = _mm512_add_epi32(s0, s1);
            } else {
                // Four chains of two, so consecutive vpdpbusd do not wait on each other.
                __m512i s0 = _mm512_dpbusd_epi32(start, u[0], _mm512_set1_epi32(load_i32(xq + 0)));
                __m512i s1 = _mm512_dpbusd_epi32(zero, u[2], _mm512_set1_epi32(load_i32(xq + 8)));
                __m512i s2 = _mm512_dpbusd_epi32(zero, u[4], _mm512_set1_epi32(load_i32(xq + 16)));
                __m512i s3 = _mm512_dpbusd_epi32(zero, u[6], _mm512_set1_epi32(load_i32(xq + 24)));
                s0 = _mm512_dpbusd_epi32(s0, u[1], _mm512_set1_epi32(load_i32(xq + 4)));
                s1 = _mm512_dpbusd_epi32(s1, u[3], _mm512_set1_epi32(load_i32(xq + 12)));
                s2 = _mm512_dpbusd_epi32(s2, u[5], _mm512_set1_epi32(load_i32(xq + 20)));
                s3 = _mm512_dpbusd_epi32(s3, u[7], _mm512_set1_epi32(load_i32(xq + 28)));
                s = _mm512_add_epi32(_mm512_add_epi32(s0, s1), _mm512_add_epi32(s2, s3));
            }
            const __m512 sf = has_min(type) ? _mm512_cvtepi32_ps(s) : _mm512_sub_ps(_mm512_castsi512_ps(s), _mm512_set1_ps(MAGIC));
            acc[t] = _mm512_fmadd_ps(sf, _mm512_mul_ps(d, _mm512_set1_ps(x[t].xd[b])), acc[t]);
            if (has_min(type)) acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(x[t].xs[b]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y[t], acc[t]);
}

// Q4_K (five = 0) or Q5_K rows of one group against T tokens' Q8_K rows. Per super-block and 16
// rows: four passes p over the sub-block pairs (2p, 2p + 1), whose units come from the same nibble
// (and qh) registers; a sub-block's integer sum Σ q·x is multiplied by the rows' 6-bit scales in
// int32, the minimum's term Σ_s m[s]·Σ_{sub-block s} x comes from Q8_K's bsums with one vpdpwssd
// per pair, and the super-block's two totals are scaled by d·d8 and dmin·d8 in float, as ggml does.
// `bsumPairs[t][4b + p]` holds the token's sub-block sums of pair p as two int16.
ZMM_TARGET static inline void x16_k4(int five, int nb, const uint8_t *group, int T, const hayai_block_q8_K *const *x,
                                     const int32_t *const *bsumPairs, float *const *y) {
    const uint32_t type = five ? T_Q5_K : T_Q4_K;
    const size_t hb = 64, pb = part_bytes(type), qsOffset = k4_qs_offset(type);
    const __m512i low = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10), zero = _mm512_setzero_si512();
    const __m512i low4 = _mm512_set1_epi32(0xF), two = _mm512_set1_epi32(3), six = _mm512_set1_epi32(0x003F003F);
    __m512 acc[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, hb, pb), *header = group + header_offset(b, hb, pb);
        const uint8_t *nibbles = part + qsOffset;
        __m512i sums[4], mins[4];
        for (int t = 0; t < T; t++) { sums[t] = zero; mins[t] = zero; }
        // A loop, not unrolled: unrolled (all four passes' loads hoisted and spilled) a core streamed
        // Q4_K from memory at half the rate, though it ran faster from L3.
        for (int p = 0; p < 4; p++) {
            // Pair p's scales and mins: lane r of `pairs` holds bytes (m | top bits of sc) of
            // sub-blocks 2p and 2p + 1 widened to 16 bits.
            const __m512i pairs = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(part + K4_MINS + 32 * p)));
            const __m512i mp = _mm512_and_si512(pairs, six);
            const __m512i l0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(part + K4_LOW + 16 * ((2 * p) & 3))));
            const __m512i l1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(part + K4_LOW + 16 * ((2 * p + 1) & 3))));
            const __m512i lo0 = p < 2 ? _mm512_and_si512(l0, low4) : _mm512_srli_epi32(l0, 4);
            const __m512i lo1 = p < 2 ? _mm512_and_si512(l1, low4) : _mm512_srli_epi32(l1, 4);
            const __m512i sc0 = _mm512_or_si512(lo0, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(pairs, 6), two), 4));
            const __m512i sc1 = _mm512_or_si512(lo1, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(pairs, 22), two), 4));
            __m512i u0[8], u1[8];   // sub-block 2p, 2p + 1
            // Q5_K: bits 2p and 2p + 1 of each qh byte moved to bits 0 and 1 by one shift whose count
            // is in a register (the 16-bit shift carries nothing into them), then to bit 4.
            const __m128i pairShift = _mm_cvtsi32_si128(2 * p);
            if (five && T == 1) prefetch_quarter(group, b, hb + pb, p);
            for (int i = 0; i < 8; i++) {
                const __m512i w = _mm512_loadu_si512((const void *)(nibbles + 64 * (8 * p + i)));
                u0[i] = _mm512_and_si512(w, low);
                u1[i] = _mm512_and_si512(_mm512_srli_epi16(w, 4), low);
                if (five) {
                    const __m512i qh = _mm512_srl_epi16(_mm512_loadu_si512((const void *)(part + K4_QH + 64 * i)), pairShift);
                    u0[i] = _mm512_ternarylogic_epi32(u0[i], _mm512_slli_epi16(qh, 4), bit4, 0xF8);
                    u1[i] = _mm512_ternarylogic_epi32(u1[i], _mm512_slli_epi16(qh, 3), bit4, 0xF8);
                }
            }
            for (int t = 0; t < T; t++) {
                const int8_t *xq = x[t][b].qs + 64 * p;
                __m512i a0 = _mm512_dpbusd_epi32(zero, u0[0], _mm512_set1_epi32(load_i32(xq + 0)));
                __m512i a1 = _mm512_dpbusd_epi32(zero, u0[4], _mm512_set1_epi32(load_i32(xq + 16)));
                __m512i c0 = _mm512_dpbusd_epi32(zero, u1[0], _mm512_set1_epi32(load_i32(xq + 32)));
                __m512i c1 = _mm512_dpbusd_epi32(zero, u1[4], _mm512_set1_epi32(load_i32(xq + 48)));
                for (int i = 1; i < 4; i++) {
                    a0 = _mm512_dpbusd_epi32(a0, u0[i], _mm512_set1_epi32(load_i32(xq + 4 * i)));
                    a1 = _mm512_dpbusd_epi32(a1, u0[i + 4], _mm512_set1_epi32(load_i32(xq + 16 + 4 * i)));
                    c0 = _mm512_dpbusd_epi32(c0, u1[i], _mm512_set1_epi32(load_i32(xq + 32 + 4 * i)));
                    c1 = _mm512_dpbusd_epi32(c1, u1[i + 4], _mm512_set1_epi32(load_i32(xq + 48 + 4 * i)));
                }
                const __m512i s = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(a0, a1), sc0),
                                                   _mm512_mullo_epi32(_mm512_add_epi32(c0, c1), sc1));
                sums[t] = _mm512_add_epi32(sums[t], s);
                mins[t] = _mm512_dpwssd_epi32(mins[t], mp, _mm512_set1_epi32(bsumPairs[t][4 * b + p]));
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)header));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(header + 32)));
        for (int t = 0; t < T; t++) {
            const __m512 d8 = _mm512_set1_ps(x[t][b].d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]), _mm512_mul_ps(d, d8), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins[t]), _mm512_mul_ps(dmin, d8), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y[t], acc[t]);
}

// Q4_K / Q5_K against eight tokens: the same integer sums and float steps as x16_k4 (so the same
// results bit for bit), with each pass p in two halves, sub-block 2p then 2p + 1, and the minimum's
// term once per super-block: eight unpacked registers, eight tokens' sums and accumulators then fit
// the 32 vector registers, where x16_k4's sixteen unpacked registers and per-token mins would spill.
// Eight tokens share each unpacked register: half the unpacking per multiply-add of four. The tokens'
// rows (and prepared pairs) are reached by stepping one pointer by their stride: with an array of
// eight row pointers the pointers spilled, and Zen 5, one core, 80 × 2048 against 512 tokens ran
// ~77% (Q4_K) and ~68% (Q5_K) of the int8 peak against ~79% and ~71% this way.
ZMM_TARGET static inline void x16_k4_t8(int five, int nb, const uint8_t *group, const uint8_t *x, size_t xStride,
                                        const uint8_t *bsumPairs, size_t pairStride, float *y, size_t ldy) {
    enum { T = 8 };
    const uint32_t type = five ? T_Q5_K : T_Q4_K;
    const size_t hb = 64, pb = part_bytes(type), qsOffset = k4_qs_offset(type);
    const __m512i low = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10), zero = _mm512_setzero_si512();
    const __m512i low4 = _mm512_set1_epi32(0xF), two = _mm512_set1_epi32(3), six = _mm512_set1_epi32(0x003F003F);
    __m512 acc[T];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, hb, pb), *header = group + header_offset(b, hb, pb);
        const uint8_t *nibbles = part + qsOffset;
        __m512i sums[T];
        for (int t = 0; t < T; t++) sums[t] = zero;
        for (int p = 0; p < 4; p++) {
            const __m512i pairs = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(part + K4_MINS + 32 * p)));
            for (int half = 0; half < 2; half++) {
                const int s = 2 * p + half;
                // Q5_K: bit s of each qh byte to bit 4 by one rotation of the 32-bit lanes by 4 − s
                // (mod 32: bit 4 of a byte then comes from bit s of the same byte), which the
                // ternary logic masks; a shift would take a count per direction (s < 4, s > 4).
                const __m512i rotation = _mm512_set1_epi32((4 - s) & 31);
                const __m512i l = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(part + K4_LOW + 16 * (s & 3))));
                const __m512i lo = p < 2 ? _mm512_and_si512(l, low4) : _mm512_srli_epi32(l, 4);
                const __m512i sc = _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(pairs, half ? 22 : 6), two), 4));
                __m512i u[8];
                for (int i = 0; i < 8; i++) {
                    const __m512i w = _mm512_loadu_si512((const void *)(nibbles + 64 * (8 * p + i)));
                    u[i] = half ? _mm512_and_si512(_mm512_srli_epi16(w, 4), low) : _mm512_and_si512(w, low);
                    if (five) {
                        const __m512i qh = _mm512_rolv_epi32(_mm512_loadu_si512((const void *)(part + K4_QH + 64 * i)), rotation);
                        u[i] = _mm512_ternarylogic_epi32(u[i], qh, bit4, 0xF8);
                    }
                }
                const uint8_t *xq = x + (size_t)b * sizeof(hayai_block_q8_K) + offsetof(hayai_block_q8_K, qs) + 64 * p + 32 * half;
                for (int t = 0; t < T; t++, xq += xStride) {
                    __m512i a0 = _mm512_dpbusd_epi32(zero, u[0], _mm512_set1_epi32(load_i32(xq + 0)));
                    __m512i a1 = _mm512_dpbusd_epi32(zero, u[4], _mm512_set1_epi32(load_i32(xq + 16)));
                    for (int i = 1; i < 4; i++) {
                        a0 = _mm512_dpbusd_epi32(a0, u[i], _mm512_set1_epi32(load_i32(xq + 4 * i)));
                        a1 = _mm512_dpbusd_epi32(a1, u[i + 4], _mm512_set1_epi32(load_i32(xq + 16 + 4 * i)));
                    }
                    sums[t] = _mm512_add_epi32(sums[t], _mm512_mullo_epi32(_mm512_add_epi32(a0, a1), sc));
                }
            }
        }
        __m512i mp[4];
        for (int p = 0; p < 4; p++)
            mp[p] = _mm512_and_si512(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(part + K4_MINS + 32 * p))), six);
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)header));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(header + 32)));
        const uint8_t *xd = x + (size_t)b * sizeof(hayai_block_q8_K), *bs = bsumPairs + sizeof(int32_t) * 4 * (size_t)b;
        for (int t = 0; t < T; t++, xd += xStride, bs += pairStride) {
            __m512i mins = zero;
            for (int p = 0; p < 4; p++) mins = _mm512_dpwssd_epi32(mins, mp[p], _mm512_set1_epi32(load_i32(bs + 4 * p)));
            const __m512 d8 = _mm512_set1_ps(*(const float *)xd);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]), _mm512_mul_ps(d, d8), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, d8), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// Q6_K rows of one group against T tokens' Q8_K rows. Per super-block and 16 rows: four passes,
// pass j covering sub-blocks j, j + 4, j + 8, j + 12 (their units come from the same ql/qh
// registers); each sub-block's exact integer sum Σ q·x − 32·Σx (Q8_K's bsums) is multiplied by the
// rows' sub-block scales in int32, and the super-block's total by d·d8 in float, as ggml computes it.
ZMM_TARGET static inline void x16_q6_K(int nb, const uint8_t *group, int T, const hayai_block_q8_K *const *x, float *const *y) {
    const __m512i low = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30), zero = _mm512_setzero_si512();
    __m512 acc[4] = { _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps() };
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, 32, 3328);
        const uint16_t *scales = (const uint16_t *)(group + header_offset(b, 32, 3328));
        __m512i total[4];
        for (int t = 0; t < T; t++) total[t] = zero;
        for (int j = 0; j < 4; j++) {
            const uint8_t *pass = part + 832 * j;
            __m512i u[4][4];   // [i][k]: unit h = 4j + i of sub-block j + 4k
            for (int i = 0; i < 4; i++) {
                const __m512i a = _mm512_loadu_si512((const void *)(pass + 192 * i));
                const __m512i c = _mm512_loadu_si512((const void *)(pass + 192 * i + 64));
                const __m512i hb = _mm512_loadu_si512((const void *)(pass + 192 * i + 128));
                // unit | top bits: ternary logic 0xF8 = a | (b & c)
                u[i][0] = _mm512_ternarylogic_epi32(_mm512_and_si512(a, low), _mm512_slli_epi16(hb, 4), top, 0xF8);
                u[i][1] = _mm512_ternarylogic_epi32(_mm512_and_si512(c, low), _mm512_slli_epi16(hb, 2), top, 0xF8);
                u[i][2] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(a, 4), low), hb, top, 0xF8);
                u[i][3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(c, 4), low), _mm512_srli_epi16(hb, 2), top, 0xF8);
            }
            const int8_t *sc = (const int8_t *)pass + 768;
            __m512i scale[4];
            for (int k = 0; k < 4; k++) scale[k] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + 16 * k)));
            for (int t = 0; t < T; t++) {
                const int8_t *xq = x[t][b].qs;
                const int16_t *bsums = x[t][b].bsums;
                __m512i s[4] = { zero, zero, zero, zero };   // sub-blocks j, j + 4, j + 8, j + 12
                for (int i = 0; i < 4; i++) {
                    const int h = 4 * j + i;
                    for (int k = 0; k < 4; k++) s[k] = _mm512_dpbusd_epi32(s[k], u[i][k], _mm512_set1_epi32(load_i32(xq + 4 * (h + 16 * k))));
                }
                for (int k = 0; k < 4; k++)
                    total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(_mm512_sub_epi32(s[k], _mm512_set1_epi32(32 * bsums[j + 4 * k])), scale[k]));
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, _mm512_set1_ps(x[t][b].d)), acc[t]);
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y[t], acc[t]);
}

// Q6_K against 8 tokens: the same integer totals and float steps as x16_q6_K (so the same
// results bit for bit). Each pass j unpacks two sub-blocks at a time (j + 4k and j + 4k + 8, the low
// and high nibbles of the same ql registers) and shares them among the eight tokens, where
// x16_q6_K's four tokens left ~0.8 unpacking instructions per vpdpbusd. The offsets −32·Σx are not
// subtracted per sub-block but added per pass, one vpdpwssd per pair of sub-blocks: the pair's
// scales interleaved per row, times 32, against the token's negated sub-block sums (prepare_q6).
// The tokens' rows are reached by stepping one pointer by their strides, and the float
// accumulators live in y, touched once per super-block. Zen 5, one core, 80 × 2048 against 512
// tokens, % of the int8 peak: x16_q6_K ~52; one sub-block at a time with a vpsubd-free start
// (a broadcast per sub-block and token) ~63; these vpdpwssd ~66; two sub-blocks at a time ~67. An
// array of row pointers (~60), sixteen tokens (33–55: the compiler kept the totals in memory or
// hoisted unpacking and spilled) and the four sub-blocks' loop unrolled (~50) ran slower.
ZMM_TARGET static inline void x16_q6_K_t8(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *sumPairs,
                                          size_t pairStride, float *y, size_t ldy) {
    enum { T = 8 };
    const __m512i low = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30), zero = _mm512_setzero_si512();
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, _mm512_setzero_ps());
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, 32, 3328);
        const uint16_t *scales = (const uint16_t *)(group + header_offset(b, 32, 3328));
        __m512i total[T];
        for (int t = 0; t < T; t++) total[t] = zero;
        for (int j = 0; j < 4; j++) {
            const uint8_t *pass = part + 832 * j;
            for (int k = 0; k < 2; k++) {
                // Sub-blocks j + 4k and j + 4k + 8: the low and high nibbles of ql registers h (k = 0)
                // or h + 16 (k = 1) for units h = 4j + i, the top bits from the same qh registers.
                __m512i u[2][4];
                for (int i = 0; i < 4; i++) {
                    const __m512i q = _mm512_loadu_si512((const void *)(pass + 192 * i + 64 * k));
                    const __m512i hb = _mm512_loadu_si512((const void *)(pass + 192 * i + 128));
                    // unit | top bits: ternary logic 0xF8 = a | (b & c)
                    u[0][i] = _mm512_ternarylogic_epi32(_mm512_and_si512(q, low), _mm512_slli_epi16(hb, k ? 2 : 4), top, 0xF8);
                    u[1][i] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(q, 4), low), k ? _mm512_srli_epi16(hb, 2) : hb, top, 0xF8);
                }
                const __m512i scale0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(pass + 768 + 16 * k)));
                const __m512i scale1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(pass + 768 + 16 * k + 32)));
                const uint8_t *xq = x + (size_t)b * sizeof(hayai_block_q8_K) + offsetof(hayai_block_q8_K, qs) + 16 * j + 64 * k;
                for (int t = 0; t < T; t++, xq += xStride) {
                    __m512i s0 = _mm512_dpbusd_epi32(zero, u[0][0], _mm512_set1_epi32(load_i32(xq)));
                    __m512i s1 = _mm512_dpbusd_epi32(zero, u[1][0], _mm512_set1_epi32(load_i32(xq + 128)));
                    for (int i = 1; i < 4; i++) {
                        s0 = _mm512_dpbusd_epi32(s0, u[0][i], _mm512_set1_epi32(load_i32(xq + 4 * i)));
                        s1 = _mm512_dpbusd_epi32(s1, u[1][i], _mm512_set1_epi32(load_i32(xq + 128 + 4 * i)));
                    }
                    total[t] = _mm512_add_epi32(total[t], _mm512_add_epi32(_mm512_mullo_epi32(s0, scale0), _mm512_mullo_epi32(s1, scale1)));
                }
            }
            // The offsets of sub-blocks (j, j + 4) and (j + 8, j + 12): their scales interleaved per row
            // and widened to 16 bits (times 32) against the token's pair (−Σx, −Σx').
            for (int h = 0; h < 2; h++) {
                const __m128i s0 = _mm_loadu_si128((const __m128i *)(pass + 768 + 32 * h));
                const __m128i s1 = _mm_loadu_si128((const __m128i *)(pass + 768 + 32 * h + 16));
                const __m256i pair8 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(s0, s1)), _mm_unpackhi_epi8(s0, s1), 1);
                const __m512i pair = _mm512_slli_epi16(_mm512_cvtepi8_epi16(pair8), 5);
                const uint8_t *sums = sumPairs + sizeof(int32_t) * (8 * (size_t)b + 2 * j + h);
                for (int t = 0; t < T; t++, sums += pairStride)
                    total[t] = _mm512_dpwssd_epi32(total[t], pair, _mm512_set1_epi32(load_i32(sums)));
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
        const uint8_t *xd = x + (size_t)b * sizeof(hayai_block_q8_K);
        for (int t = 0; t < T; t++) {
            float *yt = y + t * ldy;
            const __m512 d8 = _mm512_set1_ps(*(const float *)(xd + t * xStride));
            _mm512_storeu_ps(yt, _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, d8), _mm512_loadu_ps(yt)));
        }
    }
}

// Q2_K rows of one group against T tokens' Q8_K rows (`xStride` bytes apart). Per super-block and 16
// rows: eight passes p over the sub-block pairs (2p, 2p + 1), whose units are bits 2·(p & 3) of the
// same eight quant registers. The 4-bit scale goes into the weights: q·sc ≤ 45 is still an unsigned
// byte for vpdpbusd, so a vpshufb per unit looks q up in a table of (0, sc, 2sc, 3sc) per row (one
// vpmulld by 0x03020100 per sub-block builds it: no carries below 4·45), and every sub-block's
// products add into one int32 sum per row and token with no multiply per token. After the passes
// the minimum's term Σ_s m[s]·Σ_{sub-block s} x comes from Q8_K's bsums, read in place as int16 pairs
// (2p, 2p + 1), one vpdpwssd per pass. The super-block's two totals are scaled by d·d8 and dmin·d8 in
// float, as ggml does; every token count takes the same integer totals and float steps, so the same
// bits. A token's products run in 4, 2 or 1 chains for 1, 4 or 8 tokens, so that few tokens do not
// wait on one chain of vpdpbusd. One token requests the weights ahead as Q5_K's kernel does
// (prefetch_quarter, a quarter of the block every other pass): Zen 5, one thread, bench --synthetic
// stablelm-2-1.6b --type q2_k, tg128 went from ~75% to ~81% of the live read bound.
ZMM_TARGET static inline void x16_q2_K(int nb, const uint8_t *group, int T, const uint8_t *x, size_t xStride, float *y, size_t ldy) {
    const size_t hb = 64, pb = part_bytes(T_Q2_K);
    const int chains = T >= 8 ? 1 : T >= 4 ? 2 : 4;
    const __m512i three = _mm512_set1_epi8(3), zero = _mm512_setzero_si512();
    const __m512i low4 = _mm512_set1_epi32(0xF), mins4 = _mm512_set1_epi16(0xF), levels = _mm512_set1_epi32(0x03020100);
    // Byte e of row r indexes byte 4·(r & 3) + q of its 128-bit lane: row r's table entry q.
    const __m512i rowBase = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
    __m512 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, hb, pb), *header = group + header_offset(b, hb, pb);
        const uint8_t *xb = x + (size_t)b * sizeof(hayai_block_q8_K);
        __m512i sums[8][4];
        for (int t = 0; t < T; t++) for (int c = 0; c < chains; c++) sums[t][c] = zero;
        for (int p = 0; p < 8; p++) {
            // Lane r of `pairs`: the scale bytes of sub-blocks 2p and 2p + 1 as two int16.
            const __m512i pairs = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(part + Q2_SCALES + 32 * p)));
            const __m512i table0 = _mm512_mullo_epi32(_mm512_and_si512(pairs, low4), levels);
            const __m512i table1 = _mm512_mullo_epi32(_mm512_and_si512(_mm512_srli_epi32(pairs, 16), low4), levels);
            const __m128i shift = _mm_cvtsi32_si128(2 * (p & 3));
            const uint8_t *regs = part + Q2_QS + 64 * 8 * (p >> 2);
            if (T == 1 && (p & 1) == 0) prefetch_quarter(group, b, hb + pb, p >> 1);
            __m512i u[8];
            for (int i = 0; i < 8; i++) {
                const __m512i q = _mm512_srl_epi16(_mm512_loadu_si512((const void *)(regs + 64 * i)), shift);
                // rowBase | (q & 3): ternary logic 0xF8 = a | (b & c)
                u[i] = _mm512_shuffle_epi8(i < 4 ? table0 : table1, _mm512_ternarylogic_epi32(rowBase, q, three, 0xF8));
            }
            const uint8_t *xq = xb + offsetof(hayai_block_q8_K, qs) + 32 * p;
            for (int t = 0; t < T; t++, xq += xStride)
                for (int i = 0; i < 8; i++)
                    sums[t][i % chains] = _mm512_dpbusd_epi32(sums[t][i % chains], u[i], _mm512_set1_epi32(load_i32(xq + 4 * i)));
        }
        __m512i mp[8];
        for (int p = 0; p < 8; p++) {
            const __m512i pairs = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(part + Q2_SCALES + 32 * p)));
            mp[p] = _mm512_and_si512(_mm512_srli_epi16(pairs, 4), mins4);
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)header));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(header + 32)));
        const uint8_t *xt = xb;
        for (int t = 0; t < T; t++, xt += xStride) {
            __m512i mins = zero;
            for (int p = 0; p < 8; p++)
                mins = _mm512_dpwssd_epi32(mins, mp[p], _mm512_set1_epi32(load_i32(xt + offsetof(hayai_block_q8_K, bsums) + 4 * p)));
            __m512i total = sums[t][0];
            for (int c = 1; c < chains; c++) total = _mm512_add_epi32(total, sums[t][c]);
            const __m512 d8 = _mm512_set1_ps(*(const float *)xt);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, d8), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, d8), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// Q3_K rows of one group against T tokens' Q8_K rows (T = 1, 4 or 8, the same code and so the same
// bits for every T). Per super-block and 16 rows: eight passes k over elements 32k..32k+31, whose 8
// units are unpacked from three registers into unsigned q in 0..7 standing for q − 4, against vpdpbusd. The
// two sub-blocks' sums Σ q·x (|Σ| ≤ 16·7·128, so int16) are paired per row and multiplied by their
// scales − 32 with one vpdpwssd, and the offsets −4·Σx with a second: the scales times 4 against the
// token's negated sub-block sums (prepare_q3). The super-block's integer total is scaled by d·d8 in
// float, as ggml computes it; the float accumulators live in y, touched once per super-block.
ZMM_TARGET static inline void x16_q3_K(int T, int nb, const uint8_t *group, const uint8_t *x, size_t xStride,
                                       const uint8_t *sumPairs, size_t pairStride, float *y, size_t ldy) {
    const __m512i three = _mm512_set1_epi8(3), seven = _mm512_set1_epi8(7), bit2 = _mm512_set1_epi8(4), zero = _mm512_setzero_si512();
    const __m512i lowNibbles = _mm512_set1_epi16(0xF), highPair = _mm512_set1_epi32(0x00030003), offset = _mm512_set1_epi16(32);
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, _mm512_setzero_ps());
    for (int b = 0; b < nb; b++) {
        const uint8_t *part = group + part_offset(b, nb, 32, 1728);
        const uint16_t *scales = (const uint16_t *)(group + header_offset(b, 32, 1728));
        const __m512i high = _mm512_loadu_si512((const void *)(part + Q3_SC_HIGH));
        __m512i total[8];
        for (int t = 0; t < T; t++) total[t] = zero;
        for (int k = 0; k < 8; k++) {
            // One token asks for the weights ahead, a quarter block every other pass, as Q5_K's kernel does:
            // bench --synthetic stablelm-2-1.6b --type q3_k_m tg128, one thread, alternating, 41.9, 42.9 ->
            // 47.5, 47.1 t/s (77% -> 86-89% of the live read bound).
            if (T == 1 && (k & 1) == 0) prefetch_quarter(group, b, 32 + 1728, k >> 1);
            // Lane r: (sc[2k] − 32, sc[2k + 1] − 32) as int16, and the same times 4 for the offsets.
            const __m512i low = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(part + Q3_SC_LOW + 32 * (k & 3))));
            const __m512i lo = k < 4 ? _mm512_and_si512(low, lowNibbles) : _mm512_srli_epi16(low, 4);
            const __m512i hi = _mm512_and_si512(_mm512_srl_epi32(high, _mm_cvtsi32_si128(2 * k)), highPair);
            const __m512i sc = _mm512_sub_epi16(_mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)), offset);
            const __m512i sc4 = _mm512_slli_epi16(sc, 2);
            // The 8 units from X, Y, Z (see q3_K_pack_row); the 16-bit shifts carry bits across bytes
            // only into bits that the masks clear.
            const uint8_t *xyz = part + Q3_UNITS + 192 * k;
            const __m512i X = _mm512_loadu_si512((const void *)xyz), Y = _mm512_loadu_si512((const void *)(xyz + 64));
            const __m512i Z = _mm512_loadu_si512((const void *)(xyz + 128));
            __m512i u[8];
            u[0] = _mm512_and_si512(X, seven);
            u[1] = _mm512_and_si512(_mm512_srli_epi16(X, 3), seven);
            u[2] = _mm512_and_si512(Y, seven);
            u[3] = _mm512_and_si512(_mm512_srli_epi16(Y, 3), seven);
            u[4] = _mm512_and_si512(Z, seven);
            u[5] = _mm512_and_si512(_mm512_srli_epi16(Z, 3), seven);
            // bits 6-7 of X (Y) | bit 6 (7) of Z moved to bit 2: ternary logic 0xF8 = a | (b & c)
            u[6] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(X, 6), three), _mm512_srli_epi16(Z, 4), bit2, 0xF8);
            u[7] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(Y, 6), three), _mm512_srli_epi16(Z, 5), bit2, 0xF8);
            const uint8_t *xq = x + (size_t)b * sizeof(hayai_block_q8_K) + offsetof(hayai_block_q8_K, qs) + 32 * k;
            const uint8_t *sums = sumPairs + sizeof(int32_t) * (8 * (size_t)b + k);
            for (int t = 0; t < T; t++, xq += xStride, sums += pairStride) {
                __m512i a0 = _mm512_dpbusd_epi32(zero, u[0], _mm512_set1_epi32(load_i32(xq + 0)));
                __m512i a1 = _mm512_dpbusd_epi32(zero, u[4], _mm512_set1_epi32(load_i32(xq + 16)));
                for (int i = 1; i < 4; i++) {
                    a0 = _mm512_dpbusd_epi32(a0, u[i], _mm512_set1_epi32(load_i32(xq + 4 * i)));
                    a1 = _mm512_dpbusd_epi32(a1, u[i + 4], _mm512_set1_epi32(load_i32(xq + 16 + 4 * i)));
                }
                // (a0, a1) as int16 in each 32-bit lane: a0's low half, a1 shifted up.
                const __m512i pair = _mm512_mask_blend_epi16(0xAAAAAAAA, a0, _mm512_slli_epi32(a1, 16));
                total[t] = _mm512_dpwssd_epi32(total[t], pair, sc);
                total[t] = _mm512_dpwssd_epi32(total[t], sc4, _mm512_set1_epi32(load_i32(sums)));
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)scales));
        const uint8_t *xd = x + (size_t)b * sizeof(hayai_block_q8_K);
        for (int t = 0; t < T; t++) {
            float *yt = y + t * ldy;
            const __m512 d8 = _mm512_set1_ps(*(const float *)(xd + t * xStride));
            _mm512_storeu_ps(yt, _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, d8), _mm512_loadu_ps(yt)));
        }
    }
}

// IQ4_XS rows of one group against T tokens' Q8_K rows (`x` the first token's row, the others xStride
// bytes apart). Per super-block and sub-block s: the 8 units of the 16 rows are looked up as table
// value + 128 (one vpshufb each) and multiplied with vpdpbusd; each token's sum starts at its prepared
// −128·Σx over the sub-block (prepare_iq4_xs, one broadcast), so it ends as the exact Σ table·x, which
// is multiplied by the rows' ls − 32 in int32; the super-block's total is scaled by d·d8 in float, as
// ggml computes it. The float accumulators live in y, touched once per super-block. One token asks for
// the weights ahead of use as Q5_K's kernel does (a quarter block every other sub-block, 8 KiB ahead):
// Zen 5, one core, 5632 × 2048 one token, 12 matrices in turn, ~31 GB/s -> ~44–48 (4, 12, 16 KiB
// ahead: 42, 47–50, 46–47; Q4_K ~40 in the same minutes).
ZMM_TARGET static inline void x16_iq4_xs(int nb, const uint8_t *group, int T, const uint8_t *x, size_t xStride,
                                         const uint8_t *starts, size_t startStride, float *y, size_t ldy) {
    const __m512i low = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    const __m512i low4 = _mm512_set1_epi32(0xF), top2 = _mm512_set1_epi32(0x30), bias = _mm512_set1_epi32(32);
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)iq4_values128));
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ldy, _mm512_setzero_ps());
    for (int b = 0; b < nb; b++) {
        const uint8_t *header = group + header_offset(b, 128, 2048), *part = group + part_offset(b, nb, 128, 2048);
        const __m512i scalesL = _mm512_loadu_si512((const void *)(header + XS_SCALES_L));
        // scales_h widened to 32 bits and shifted by 4: bits 2s, 2s + 1 then sit at 4, 5 after a shift by 2s.
        const __m512i scalesH = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(header + XS_SCALES_H))), 4);
        __m512i total[X16_TOKENS32];
        for (int t = 0; t < T; t++) total[t] = zero;
        for (int s = 0; s < 8; s++) {
            // ls − 32 of sub-block s, rows in lanes: low bits | top bits (ternary logic 0xF8 = a | (b & c)).
            const __m512i ls = _mm512_sub_epi32(_mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(scalesL, 4 * s), low4),
                                                                          _mm512_srli_epi32(scalesH, 2 * s), top2, 0xF8), bias);
            if (T == 1 && (s & 1) == 0) prefetch_quarter(group, b, 128 + 2048, s >> 1);
            __m512i u[8];
            for (int i = 0; i < 4; i++) {
                const __m512i w = _mm512_loadu_si512((const void *)(part + 64 * (4 * s + i)));
                u[i] = _mm512_shuffle_epi8(table, _mm512_and_si512(w, low));
                u[i + 4] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(w, 4), low));
            }
            const uint8_t *xq = x + (size_t)b * sizeof(hayai_block_q8_K) + offsetof(hayai_block_q8_K, qs) + 32 * s;
            const uint8_t *start = starts + sizeof(int32_t) * (8 * (size_t)b + s);
            for (int t = 0; t < T; t++, xq += xStride, start += startStride) {
                __m512i a0 = _mm512_dpbusd_epi32(_mm512_set1_epi32(load_i32(start)), u[0], _mm512_set1_epi32(load_i32(xq)));
                __m512i a1 = _mm512_dpbusd_epi32(zero, u[4], _mm512_set1_epi32(load_i32(xq + 16)));
                for (int i = 1; i < 4; i++) {
                    a0 = _mm512_dpbusd_epi32(a0, u[i], _mm512_set1_epi32(load_i32(xq + 4 * i)));
                    a1 = _mm512_dpbusd_epi32(a1, u[i + 4], _mm512_set1_epi32(load_i32(xq + 16 + 4 * i)));
                }
                total[t] = _mm512_add_epi32(total[t], _mm512_mullo_epi32(_mm512_add_epi32(a0, a1), ls));
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)header));
        const uint8_t *xd = x + (size_t)b * sizeof(hayai_block_q8_K);
        for (int t = 0; t < T; t++, xd += xStride) {
            float *yt = y + t * ldy;
            const __m512 d8 = _mm512_set1_ps(*(const float *)xd);
            _mm512_storeu_ps(yt, _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[t]), _mm512_mul_ps(d, d8), _mm512_loadu_ps(yt)));
        }
    }
}

// One kernel per type and token count, so that the type's branches and T fold away.
#define X16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")))
#define BLOCKS32_KERNEL(NAME, TYPE, T)                                                                \
    X16_TARGET static void NAME(int nb, const uint8_t *group, const x16_tokens32 *x, float *const *y) { \
        x16_blocks32(TYPE, nb, group, T, x, y);                                                       \
    }
BLOCKS32_KERNEL(q4_0_x16_t1, T_Q4_0, 1)
BLOCKS32_KERNEL(q4_0_x16_t4, T_Q4_0, 4)
BLOCKS32_KERNEL(q4_0_x16_t8, T_Q4_0, 8)
BLOCKS32_KERNEL(q4_1_x16_t1, T_Q4_1, 1)
BLOCKS32_KERNEL(q4_1_x16_t4, T_Q4_1, 4)
BLOCKS32_KERNEL(q4_1_x16_t8, T_Q4_1, 8)
BLOCKS32_KERNEL(q5_0_x16_t1, T_Q5_0, 1)
BLOCKS32_KERNEL(q5_0_x16_t4, T_Q5_0, 4)
BLOCKS32_KERNEL(q5_0_x16_t8, T_Q5_0, 8)
BLOCKS32_KERNEL(q5_1_x16_t1, T_Q5_1, 1)
BLOCKS32_KERNEL(q5_1_x16_t4, T_Q5_1, 4)
BLOCKS32_KERNEL(q5_1_x16_t8, T_Q5_1, 8)
BLOCKS32_KERNEL(q8_0_x16_t1, T_Q8_0, 1)
BLOCKS32_KERNEL(q8_0_x16_t4, T_Q8_0, 4)
BLOCKS32_KERNEL(q8_0_x16_t8, T_Q8_0, 8)
BLOCKS32_KERNEL(iq4_nl_x16_t1, T_IQ4_NL, 1)
BLOCKS32_KERNEL(iq4_nl_x16_t4, T_IQ4_NL, 4)
BLOCKS32_KERNEL(iq4_nl_x16_t8, T_IQ4_NL, 8)
#define K4_KERNEL(NAME, FIVE, T)                                                                                     \
    X16_TARGET static void NAME(int nb, const uint8_t *group, const hayai_block_q8_K *const *x, const int32_t *const *bs, \
                                float *const *y) { x16_k4(FIVE, nb, group, T, x, bs, y); }
K4_KERNEL(q4_K_x16_t1, 0, 1)
K4_KERNEL(q4_K_x16_t4, 0, 4)
X16_TARGET static void q4_K_x16_t8(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *bsumPairs,
                                  size_t pairStride, float *y, size_t ldy) { x16_k4_t8(0, nb, group, x, xStride, bsumPairs, pairStride, y, ldy); }
K4_KERNEL(q5_K_x16_t1, 1, 1)
K4_KERNEL(q5_K_x16_t4, 1, 4)
X16_TARGET static void q5_K_x16_t8(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *bsumPairs,
                                  size_t pairStride, float *y, size_t ldy) { x16_k4_t8(1, nb, group, x, xStride, bsumPairs, pairStride, y, ldy); }
#define Q6_KERNEL(NAME, T)                                                                                           \
    X16_TARGET static void NAME(int nb, const uint8_t *group, const hayai_block_q8_K *const *x, float *const *y) {   \
        x16_q6_K(nb, group, T, x, y);                                                                                \
    }
Q6_KERNEL(q6_K_x16_t1, 1)
Q6_KERNEL(q6_K_x16_t4, 4)
X16_TARGET static void q6_K_x16_t8(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *sumPairs,
                                  size_t pairStride, float *y, size_t ldy) { x16_q6_K_t8(nb, group, x, xStride, sumPairs, pairStride, y, ldy); }

#define Q2_KERNEL(NAME, T)                                                                                             \
    X16_TARGET static void NAME(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, float *y, size_t ldy) { \
        x16_q2_K(nb, group, T, x, xStride, y, ldy);                                                                    \
    }
Q2_KERNEL(q2_K_x16_t1, 1)
Q2_KERNEL(q2_K_x16_t4, 4)
Q2_KERNEL(q2_K_x16_t8, 8)

#define Q3_KERNEL(NAME, T)                                                                                           \
    X16_TARGET static void NAME(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *sumPairs, \
                                size_t pairStride, float *y, size_t ldy) { x16_q3_K(T, nb, group, x, xStride, sumPairs, pairStride, y, ldy); }
Q3_KERNEL(q3_K_x16_t1, 1)
Q3_KERNEL(q3_K_x16_t4, 4)
Q3_KERNEL(q3_K_x16_t8, 8)

#define IQ4_XS_KERNEL(NAME, T)                                                                                        \
    X16_TARGET static void NAME(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *starts,   \
                                size_t startStride, float *y, size_t ldy) { x16_iq4_xs(nb, group, T, x, xStride, starts, startStride, y, ldy); }
IQ4_XS_KERNEL(iq4_xs_x16_t1, 1)
IQ4_XS_KERNEL(iq4_xs_x16_t4, 4)
IQ4_XS_KERNEL(iq4_xs_x16_t8, 8)

#define X16_PREP_MAX 65536  // activation elements prepared on the stack per token
#define X16_TOKENS 4

// Σ of the 32 int8 quants at q.
static inline int32_t sum32(const int8_t *q) {
    __m256i v = _mm256_loadu_si256((const __m256i *)q);
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    return _mm_cvtsi128_si32(t);
}

// A token's Q8_0 / Q8_1 activation blocks -> scale as float and either the sums' start
// MAGIC_BITS − o·Σ qs (signed types, see x16_tokens32) or s.
static void prepare32(uint32_t type, int nb, const uint8_t *x, float *xd, int32_t *xstart, float *xs) {
    if (has_min(type)) {
        const hayai_block_q8_1 *blk = (const hayai_block_q8_1 *)x;
        for (int b = 0; b < nb; b++) { xd[b] = half_to_float(blk[b].d); xs[b] = half_to_float(blk[b].s); }
        return;
    }
    // Q8_0's flipped bytes and IQ4_NL's table values + 128 both take 128.
    const int bias = type == T_Q4_0 ? 8 : type == T_Q5_0 ? 16 : 128;
    const hayai_block_q8_0 *blk = (const hayai_block_q8_0 *)x;
    for (int b = 0; b < nb; b++) { xd[b] = half_to_float(blk[b].d); xstart[b] = MAGIC_BITS - bias * sum32(blk[b].qs); }
}

// A token's Q8_K row -> per super-block and sub-block pair p, the sums of sub-blocks 2p and 2p + 1
// (32 quants each, |Σ| ≤ 4096) as two int16 in one int32, for vpdpwssd.
static void prepare_k4(int nb, const hayai_block_q8_K *x, int32_t *pairs) {
    for (int b = 0; b < nb; b++)
        for (int p = 0; p < 4; p++) {
            const int16_t *bs = x[b].bsums + 4 * p;
            const int32_t s0 = bs[0] + bs[1], s1 = bs[2] + bs[3];
            pairs[4 * b + p] = (int32_t)(((uint32_t)(uint16_t)s0) | ((uint32_t)(uint16_t)s1 << 16));
        }
}

// A token's Q8_K row -> per super-block and pass j of the Q6_K kernel taking 8 tokens the negated
// sums (|Σ| ≤ 16·128) of sub-blocks (j, j + 4) and of (j + 8, j + 12), as two int16 in one int32 each.
static void prepare_q6(int nb, const hayai_block_q8_K *x, int32_t *pairs) {
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < 4; j++)
            for (int h = 0; h < 2; h++) {
                const int16_t *bs = x[b].bsums + j + 8 * h;
                pairs[8 * b + 2 * j + h] = (int32_t)((uint32_t)(uint16_t)(-bs[0]) | (uint32_t)(uint16_t)(-bs[4]) << 16);
            }
}

// A token's Q8_K row -> per super-block and pass k of the Q3_K kernels the negated sums (|Σ| ≤ 16·128)
// of sub-blocks 2k and 2k + 1, as two int16 in one int32.
static void prepare_q3(int nb, const hayai_block_q8_K *x, int32_t *pairs) {
    for (int b = 0; b < nb; b++)
        for (int k = 0; k < 8; k++) {
            const int16_t *bs = x[b].bsums + 2 * k;
            pairs[8 * b + k] = (int32_t)((uint32_t)(uint16_t)(-bs[0]) | (uint32_t)(uint16_t)(-bs[1]) << 16);
        }
}

// Q3_K and IQ4_XS: eight int32 a block prepared per token (prepare_q3's sub-block sum pairs, prepare_iq4_xs's
// starts), read from `prepared` when the caller prepared them, else prepared here per 8, 4 or 1 tokens.
typedef void (*x16_prepare8_fn)(int nb, const hayai_block_q8_K *x, int32_t *out);
typedef void (*x16_prepared_kernel_fn)(int nb, const uint8_t *group, const uint8_t *x, size_t xStride, const uint8_t *prepared,
                                       size_t preparedStride, float *y, size_t ldy);
static void dot_prepared8(x16_prepare8_fn prepare, x16_prepared_kernel_fn t8, x16_prepared_kernel_fn t4, x16_prepared_kernel_fn t1,
                          int nb, const uint8_t *w, size_t gbytes, int groups, const uint8_t *x, size_t xStride,
                          const uint8_t *prepared, size_t preparedStride, int tokens, float *y, size_t ldy) {
    int32_t buf[8][8 * nb];
    for (int s = 0; s < tokens;) {
        const int T = tokens - s >= 8 ? 8 : tokens - s >= X16_TOKENS ? X16_TOKENS : 1;
        const uint8_t *xs = x + (size_t)s * xStride, *rows = (const uint8_t *)buf[0];
        size_t rowStride = sizeof(buf[0]);
        if (prepared) {
            rows = prepared + (size_t)s * preparedStride;
            rowStride = preparedStride;
        } else {
            for (int t = 0; t < T; t++) prepare(nb, (const hayai_block_q8_K *)(xs + (size_t)t * xStride), buf[t]);
        }
        const x16_prepared_kernel_fn kernel = T == 8 ? t8 : T == X16_TOKENS ? t4 : t1;
        for (int g = 0; g < groups; g++) kernel(nb, w + (size_t)g * gbytes, xs, xStride, rows, rowStride, y + (size_t)s * ldy + (size_t)g * X16, ldy);
        s += T;
    }
}

// A token's Q8_K row -> per super-block and sub-block s the IQ4_XS kernel's sum start −128·Σx over
// the sub-block's 32 quants (the kernel looks the codes up as table value + 128).
static void prepare_iq4_xs(int nb, const hayai_block_q8_K *x, int32_t *starts) {
    for (int b = 0; b < nb; b++)
        for (int s = 0; s < 8; s++) starts[8 * b + s] = -128 * (x[b].bsums[2 * s] + x[b].bsums[2 * s + 1]);
}

// The K-quants with what each token needs prepared: the sub-block sums' pairs (Q6_K's negated, read
// only by its 8-token kernel).
static void dot_k(uint32_t type, int nb, const uint8_t *w, size_t gbytes, int groups, const uint8_t *x, size_t xStride,
                  const uint8_t *prepared, size_t preparedStride, int tokens, float *y, size_t ldy) {
    const int words = type == T_Q6_K ? 8 * nb : 4 * nb;   // prepared int32 per token
    int32_t preparedBuf[8][words];
    for (int s = 0; s < tokens;) {
        // 8 tokens at once (x16_k4_t8, x16_q6_K_t8), then 4, then 1.
        const int T = tokens - s >= 8 ? 8 : tokens - s >= X16_TOKENS ? X16_TOKENS : 1;
        const hayai_block_q8_K *xs[8];
        const int32_t *pairs[8];
        const size_t pairStride = prepared ? preparedStride : sizeof(int32_t) * (size_t)words;
        for (int t = 0; t < T; t++) {
            xs[t] = (const hayai_block_q8_K *)(x + (size_t)(s + t) * xStride);
            if (prepared) pairs[t] = (const int32_t *)(prepared + (size_t)(s + t) * preparedStride);
            else {
                if (type != T_Q6_K) prepare_k4(nb, xs[t], preparedBuf[t]);
                else if (T == 8) prepare_q6(nb, xs[t], preparedBuf[t]);   // Q6_K's other kernels read none
                pairs[t] = preparedBuf[t];
            }
        }
        for (int g = 0; g < groups; g++) {
            const uint8_t *group = w + (size_t)g * gbytes;
            float *ys[8];
            for (int t = 0; t < T; t++) ys[t] = y + (size_t)(s + t) * ldy + (size_t)g * X16;
            const int four = T == X16_TOKENS;
            switch (type) {
            case T_Q4_K:
                if (T == 8) q4_K_x16_t8(nb, group, (const uint8_t *)xs[0], xStride, (const uint8_t *)pairs[0], pairStride, ys[0], ldy);
                else if (four) q4_K_x16_t4(nb, group, xs, pairs, ys); else q4_K_x16_t1(nb, group, xs, pairs, ys);
                break;
            case T_Q5_K:
                if (T == 8) q5_K_x16_t8(nb, group, (const uint8_t *)xs[0], xStride, (const uint8_t *)pairs[0], pairStride, ys[0], ldy);
                else if (four) q5_K_x16_t4(nb, group, xs, pairs, ys); else q5_K_x16_t1(nb, group, xs, pairs, ys);
                break;
            default:
                if (T == 8) q6_K_x16_t8(nb, group, (const uint8_t *)xs[0], xStride, (const uint8_t *)pairs[0], pairStride, ys[0], ldy);
                else if (four) q6_K_x16_t4(nb, group, xs, ys); else q6_K_x16_t1(nb, group, xs, ys);
                break;
            }
        }
        s += T;
    }
}

// Q2_K needs nothing prepared: Q8_K's bsums are already its sub-blocks' sums, in pairs.
static void dot_q2_K(int nb, const uint8_t *w, size_t gbytes, int groups, const uint8_t *x, size_t xStride, int tokens,
                     float *y, size_t ldy) {
    for (int s = 0; s < tokens;) {
        const int T = tokens - s >= 8 ? 8 : tokens - s >= X16_TOKENS ? X16_TOKENS : 1;
        const uint8_t *xs = x + (size_t)s * xStride;
        for (int g = 0; g < groups; g++) {
            const uint8_t *group = w + (size_t)g * gbytes;
            float *ys = y + (size_t)s * ldy + (size_t)g * X16;
            if (T == 8) q2_K_x16_t8(nb, group, xs, xStride, ys, ldy);
            else if (T == X16_TOKENS) q2_K_x16_t4(nb, group, xs, xStride, ys, ldy);
            else q2_K_x16_t1(nb, group, xs, xStride, ys, ldy);
        }
        s += T;
    }
}

static void dot_blocks32(uint32_t type, int nb, const uint8_t *w, size_t gbytes, int groups, const uint8_t *x, size_t xStride,
                         const uint8_t *prepared, size_t preparedStride, int tokens, float *y, size_t ldy) {
    float xdBuf[X16_TOKENS32][nb], xsBuf[X16_TOKENS32][nb];
    int32_t xstartBuf[X16_TOKENS32][nb];
    for (int s = 0; s < tokens;) {
        const int T = tokens - s >= 8 ? 8 : tokens - s >= 4 ? 4 : 1;
        x16_tokens32 xt[X16_TOKENS32];
        for (int t = 0; t < T; t++) {
            xt[t].blocks = x + (size_t)(s + t) * xStride;
            if (prepared) {
                // hayai_x16_prepare's row: nb scales, then nb starts (signed types) or nb s (the others).
                const float *row = (const float *)(prepared + (size_t)(s + t) * preparedStride);
                xt[t].xd = row; xt[t].xstart = (const int32_t *)(row + nb); xt[t].xs = row + nb;
            } else {
                prepare32(type, nb, xt[t].blocks, xdBuf[t], xstartBuf[t], xsBuf[t]);
                xt[t].xd = xdBuf[t]; xt[t].xstart = xstartBuf[t]; xt[t].xs = xsBuf[t];
            }
        }
        for (int g = 0; g < groups; g++) {
            const uint8_t *group = w + (size_t)g * gbytes;
            float *ys[X16_TOKENS32];
            for (int t = 0; t < T; t++) ys[t] = y + (size_t)(s + t) * ldy + (size_t)g * X16;
#define BLOCKS32_CALL(P) (T == 8 ? P##_t8(nb, group, xt, ys) : T == 4 ? P##_t4(nb, group, xt, ys) : P##_t1(nb, group, xt, ys))
            switch (type) {
            case T_Q4_0: BLOCKS32_CALL(q4_0_x16); break;
            case T_Q4_1: BLOCKS32_CALL(q4_1_x16); break;
            case T_Q5_0: BLOCKS32_CALL(q5_0_x16); break;
            case T_Q5_1: BLOCKS32_CALL(q5_1_x16); break;
            case T_IQ4_NL: BLOCKS32_CALL(iq4_nl_x16); break;
            default: BLOCKS32_CALL(q8_0_x16); break;
            }
#undef BLOCKS32_CALL
        }
        s += T;
    }
}

int hayai_x16_dot_rows_tokens_prepared(uint32_t type, int nb, const void *w, int groups, const void *x, size_t xStride,
                                       const void *prepared, size_t preparedStride, int tokens, float *y, size_t ldy) {
    if (!hayai_x16_available() || !hayai_x16_supports(type) || nb * block_elements(type) > X16_PREP_MAX) return 0;
    const size_t gbytes = hayai_x16_group_bytes(type, nb);
    if (type == T_IQ4_XS) dot_prepared8(prepare_iq4_xs, iq4_xs_x16_t8, iq4_xs_x16_t4, iq4_xs_x16_t1, nb, w, gbytes, groups, x, xStride,
                                        prepared, preparedStride, tokens, y, ldy);
    else if (type == T_Q2_K) dot_q2_K(nb, w, gbytes, groups, x, xStride, tokens, y, ldy);
    else if (type == T_Q3_K) dot_prepared8(prepare_q3, q3_K_x16_t8, q3_K_x16_t4, q3_K_x16_t1, nb, w, gbytes, groups, x, xStride,
                                           prepared, preparedStride, tokens, y, ldy);
    else if (is_k_quant(type)) dot_k(type, nb, w, gbytes, groups, x, xStride, prepared, preparedStride, tokens, y, ldy);
    else dot_blocks32(type, nb, w, gbytes, groups, x, xStride, prepared, preparedStride, tokens, y, ldy);
    return 1;
}

int hayai_x16_dot_rows_tokens(uint32_t type, int nb, const void *w, int groups, const void *x, size_t xStride,
                              int tokens, float *y, size_t ldy) {
    return hayai_x16_dot_rows_tokens_prepared(type, nb, w, groups, x, xStride, NULL, 0, tokens, y, ldy);
}

size_t hayai_x16_prepared_bytes(uint32_t type, int nb) {
    if (type == T_IQ4_XS) return sizeof(int32_t) * 8 * (size_t)nb;
    if (type == T_Q6_K || type == T_Q3_K) return sizeof(int32_t) * 8 * (size_t)nb;
    if (type == T_Q2_K) return 0;
    return is_k_quant(type) ? sizeof(int32_t) * 4 * (size_t)nb : 2 * sizeof(float) * (size_t)nb;
}

void hayai_x16_prepare(uint32_t type, int nb, const void *x, size_t xStride, int tokens, void *prepared, size_t preparedStride) {
    for (int t = 0; t < tokens; t++) {
        const uint8_t *row = (const uint8_t *)x + (size_t)t * xStride;
        uint8_t *out = (uint8_t *)prepared + (size_t)t * preparedStride;
        if (type == T_IQ4_XS) { prepare_iq4_xs(nb, (const hayai_block_q8_K *)row, (int32_t *)out); continue; }
        if (type == T_Q6_K) { prepare_q6(nb, (const hayai_block_q8_K *)row, (int32_t *)out); continue; }
        if (type == T_Q2_K) continue;
        if (type == T_Q3_K) { prepare_q3(nb, (const hayai_block_q8_K *)row, (int32_t *)out); continue; }
        if (is_k_quant(type)) { prepare_k4(nb, (const hayai_block_q8_K *)row, (int32_t *)out); continue; }
        float *xd = (float *)out;
        prepare32(type, nb, row, xd, (int32_t *)(xd + nb), xd + nb);
    }
}


// ---- The machine's int8 multiply-add peak for `hayai bench`: `iterations` rounds of `chains` (8 or 24)
// independent 512-bit vpdpbusd (64 multiply-adds each); returns a checksum so the loop is not removed.
// Zen 5 needs more than 8 chains to issue two a cycle (measured, one core: 4 chains ~285 G
// multiply-adds/s, 8 ~535, 12 to 24 ~570–580): with 8 the bound read ~7% low, so the kernels' shares of
// it read ~7% high. `hayai bench` uses 24, as its FMA ceiling does; 8 is kept to show the difference.
#define VNNI_PEAK_LOOP(N)                                                                                      \
    {                                                                                                          \
        __m512i a[N];                                                                                          \
        for (int i = 0; i < N; i++) a[i] = _mm512_set1_epi32(i);                                               \
        for (long n = 0; n < iterations; n++) {                                                                \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < N; i++) a[i] = _mm512_dpbusd_epi32(a[i], u, s); \
            __asm__ volatile("" : "+v"(s));                                                                    \
        }                                                                                                      \
        __m512i t = a[0];                                                                                      \
        for (int i = 1; i < N; i++) t = _mm512_add_epi32(t, a[i]);                                             \
        return _mm512_reduce_add_epi32(t);                                                                     \
    }
__attribute__((target("avx512f,avx512bw,avx512vnni")))
int32_t hayai_x16_vnni_peak(int chains, long iterations) {
    if (!hayai_x16_available()) return 0;
    const __m512i u = _mm512_set1_epi8(1);
    __m512i s = _mm512_set1_epi8(-1);
    if (chains == 8) VNNI_PEAK_LOOP(8)
    VNNI_PEAK_LOOP(24)
}
