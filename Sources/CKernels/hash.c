// A 64-bit content hash for model files (xxHash64's round and avalanche, four lanes over 32-byte
// stripes): a run records it so a resumed or compared eval knows it has the same weights. C because
// it reads gigabytes and must be fast in debug builds too; not for security.
#include <string.h>
#include "CKernels.h"

static const uint64_t P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL, P3 = 1609587929392839161ULL,
                      P4 = 9650029242287828579ULL, P5 = 2870177450012600261ULL;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t round64(uint64_t acc, uint64_t input) { return rotl(acc + input * P2, 31) * P1; }
static inline uint64_t merge(uint64_t acc, uint64_t v) { return (acc ^ round64(0, v)) * P1 + P4; }
static inline uint64_t read64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

// The stripes of a hash: every whole 32-byte stripe of the input, in order, in four lanes.
void hayai_hash64_begin(hayai_hash64_state *s, uint64_t seed) {
    s->v[0] = seed + P1 + P2; s->v[1] = seed + P2; s->v[2] = seed; s->v[3] = seed - P1;
    s->seed = seed; s->length = 0;
}

void hayai_hash64_stripes(hayai_hash64_state *s, const void *data, size_t length) {
    const uint8_t *p = (const uint8_t *)data, *end = p + length / 32 * 32;
    uint64_t v1 = s->v[0], v2 = s->v[1], v3 = s->v[2], v4 = s->v[3];
    for (; p < end; p += 32) {
        v1 = round64(v1, read64(p)); v2 = round64(v2, read64(p + 8));
        v3 = round64(v3, read64(p + 16)); v4 = round64(v4, read64(p + 24));
    }
    s->v[0] = v1; s->v[1] = v2; s->v[2] = v3; s->v[3] = v4;
    s->length += length / 32 * 32;
}

// The hash of the stripes fed so far followed by `tail` (< 32 bytes, the input's end).
uint64_t hayai_hash64_end(const hayai_hash64_state *s, const void *tail, size_t tailLength) {
    const uint8_t *p = (const uint8_t *)tail, *end = p + tailLength;
    uint64_t h;
    if (s->length > 0) {
        uint64_t v1 = s->v[0], v2 = s->v[1], v3 = s->v[2], v4 = s->v[3];
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4);
    } else {
        h = s->seed + P5;
    }
    h += s->length + (uint64_t)tailLength;
    for (; p + 8 <= end; p += 8) h = rotl(h ^ round64(0, read64(p)), 27) * P1 + P4;
    for (; p < end; p++) h = rotl(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

uint64_t hayai_hash64(const void *data, size_t length, uint64_t seed) {
    hayai_hash64_state s;
    hayai_hash64_begin(&s, seed);
    hayai_hash64_stripes(&s, data, length);
    return hayai_hash64_end(&s, (const uint8_t *)data + length / 32 * 32, length % 32);
}
