/*
 * SHA-256 compression with the x86 SHA extensions (SHA-NI).
 *
 * Compiled for every x86-64 build without -msha: the functions below opt in with
 * a target attribute, and the dispatcher calls them only when cpuid reports SHA,
 * SSSE3 and SSE4.1, so the build machine's CPU does not matter.
 *
 * Layout (Intel, "New Instructions Supporting the Secure Hash Algorithm on Intel
 * Architecture Processors", 2013): sha256rnds2 runs two rounds on a state split
 * into ABEF and CDGH registers (A, C in the top dword), taking W[t]+K[t] for the
 * two rounds from the low two dwords of its third operand; after two rounds the
 * new CDGH is the old ABEF, so the two registers swap roles every call.
 * sha256msg1/sha256msg2 compute the message schedule (FIPS 180-4 6.2.2 step 1)
 * four words at a time: msg1 adds sigma0, the caller adds W[t-7], msg2 adds sigma1.
 *
 * blocks2 interleaves two independent streams: sha256rnds2 has a latency of
 * several cycles but can issue every cycle or two, so one stream alone leaves the
 * unit idle most of the time.
 */
#include "sha256_impl.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define ES_TARGET_SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* Byte order: each big-endian 32-bit word of the block into a little-endian lane. */
#define BSWAP_MASK _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL)

/* state[8] = {a..h} -> ABEF = [f, e, b, a], CDGH = [h, g, d, c] (lane 0 first). */
static inline ES_TARGET_SHANI void load_state(const uint32_t state[8], __m128i *abef,
                                              __m128i *cdgh) {
    __m128i abcd = _mm_loadu_si128((const __m128i *)(const void *)state);
    __m128i efgh = _mm_loadu_si128((const __m128i *)(const void *)(state + 4));
    abcd = _mm_shuffle_epi32(abcd, 0xB1); /* [b, a, d, c] */
    efgh = _mm_shuffle_epi32(efgh, 0x1B); /* [h, g, f, e] */
    *abef = _mm_alignr_epi8(abcd, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
}

static inline ES_TARGET_SHANI void store_state(uint32_t state[8], __m128i abef, __m128i cdgh) {
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B); /* [a, b, e, f] */
    __m128i hgdc = _mm_shuffle_epi32(cdgh, 0xB1); /* [g, h, c, d] */
    _mm_storeu_si128((__m128i *)(void *)state, _mm_blend_epi16(feba, hgdc, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)(state + 4), _mm_alignr_epi8(hgdc, feba, 8));
}

static inline ES_TARGET_SHANI __m128i load_words(const uint8_t *p) {
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), BSWAP_MASK);
}

static inline ES_TARGET_SHANI __m128i round_key(unsigned group) {
    return _mm_loadu_si128((const __m128i *)(const void *)(es_sha256_k + 4 * group));
}

/*
 * W[4g .. 4g+3] for g >= 4 from the previous sixteen words, held in w_16 (W[4g-16..]),
 * w_12, w_8 and w_4 (W[4g-4..]).
 */
static inline ES_TARGET_SHANI __m128i next_words(__m128i w_16, __m128i w_12, __m128i w_8,
                                                 __m128i w_4) {
    __m128i t = _mm_sha256msg1_epu32(w_16, w_12);   /* W[t-16] + sigma0(W[t-15]) */
    t = _mm_add_epi32(t, _mm_alignr_epi8(w_4, w_8, 4)); /* + W[t-7] */
    return _mm_sha256msg2_epu32(t, w_4);            /* + sigma1(W[t-2]) */
}

/* Four rounds with W[4g..4g+3] = w. */
static inline ES_TARGET_SHANI void four_rounds(__m128i *abef, __m128i *cdgh, __m128i w,
                                               unsigned group) {
    __m128i wk = _mm_add_epi32(w, round_key(group));
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(wk, 0x0E));
}

static ES_TARGET_SHANI void shani_blocks(uint32_t state[8], const uint8_t *data,
                                         size_t nblocks) {
    __m128i abef, cdgh;
    load_state(state, &abef, &cdgh);
    for (; nblocks > 0; nblocks--, data += ES_SHA256_BLOCK_LEN) {
        const __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i w[4];
        for (unsigned i = 0; i < 4; i++) w[i] = load_words(data + 16 * i);
#pragma GCC unroll 16
        for (unsigned g = 0; g < 16; g++) {
            if (g >= 4)
                w[g % 4] = next_words(w[g % 4], w[(g + 1) % 4], w[(g + 2) % 4], w[(g + 3) % 4]);
            four_rounds(&abef, &cdgh, w[g % 4], g);
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    store_state(state, abef, cdgh);
}

static ES_TARGET_SHANI void shani_blocks2(uint32_t state_a[8], const uint8_t *data_a,
                                          uint32_t state_b[8], const uint8_t *data_b,
                                          size_t nblocks) {
    __m128i abef_a, cdgh_a, abef_b, cdgh_b;
    load_state(state_a, &abef_a, &cdgh_a);
    load_state(state_b, &abef_b, &cdgh_b);
    for (; nblocks > 0; nblocks--, data_a += ES_SHA256_BLOCK_LEN, data_b += ES_SHA256_BLOCK_LEN) {
        const __m128i abef_a0 = abef_a, cdgh_a0 = cdgh_a, abef_b0 = abef_b, cdgh_b0 = cdgh_b;
        __m128i wa[4], wb[4];
        for (unsigned i = 0; i < 4; i++) {
            wa[i] = load_words(data_a + 16 * i);
            wb[i] = load_words(data_b + 16 * i);
        }
        /* The two streams share no data, so the CPU overlaps a's rounds with b's. */
#pragma GCC unroll 16
        for (unsigned g = 0; g < 16; g++) {
            if (g >= 4) {
                wa[g % 4] =
                    next_words(wa[g % 4], wa[(g + 1) % 4], wa[(g + 2) % 4], wa[(g + 3) % 4]);
                wb[g % 4] =
                    next_words(wb[g % 4], wb[(g + 1) % 4], wb[(g + 2) % 4], wb[(g + 3) % 4]);
            }
            __m128i wk_a = _mm_add_epi32(wa[g % 4], round_key(g));
            __m128i wk_b = _mm_add_epi32(wb[g % 4], round_key(g));
            cdgh_a = _mm_sha256rnds2_epu32(cdgh_a, abef_a, wk_a);
            cdgh_b = _mm_sha256rnds2_epu32(cdgh_b, abef_b, wk_b);
            abef_a = _mm_sha256rnds2_epu32(abef_a, cdgh_a, _mm_shuffle_epi32(wk_a, 0x0E));
            abef_b = _mm_sha256rnds2_epu32(abef_b, cdgh_b, _mm_shuffle_epi32(wk_b, 0x0E));
        }
        abef_a = _mm_add_epi32(abef_a, abef_a0);
        cdgh_a = _mm_add_epi32(cdgh_a, cdgh_a0);
        abef_b = _mm_add_epi32(abef_b, abef_b0);
        cdgh_b = _mm_add_epi32(cdgh_b, cdgh_b0);
    }
    store_state(state_a, abef_a, cdgh_a);
    store_state(state_b, abef_b, cdgh_b);
}

const es_sha256_impl es_sha256_impl_x86_shani = {shani_blocks, shani_blocks2};

#else

/* Not an x86-64 build: nothing to compile (ISO C wants at least one declaration). */
typedef int es_sha256_x86_shani_unused;

#endif
