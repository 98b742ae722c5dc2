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
 * Several independent messages are interleaved (up to ES_SHA256_MAX_LANES):
 * sha256rnds2 has a latency of several cycles but can issue about every cycle, so
 * one stream alone leaves the unit idle most of the time.
 */
#include "sha256_impl.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define ES_TARGET_SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* Byte order: each big-endian 32-bit word of the block into a little-endian lane. */
#define BSWAP_MASK _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL)

/* state[8] = {a..h} -> ABEF = [f, e, b, a], CDGH = [h, g, d, c] (lane 0 first). */
static inline ES_TARGET_SHANI void load_state(const uint32_t state[8], __m128i *abef, __m128i *cdgh)
{
    __m128i abcd = _mm_loadu_si128((const __m128i *)(const void *)state);
    __m128i efgh = _mm_loadu_si128((const __m128i *)(const void *)(state + 4));
    abcd = _mm_shuffle_epi32(abcd, 0xB1); /* [b, a, d, c] */
    efgh = _mm_shuffle_epi32(efgh, 0x1B); /* [h, g, f, e] */
    *abef = _mm_alignr_epi8(abcd, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
}

static inline ES_TARGET_SHANI void store_state(uint32_t state[8], __m128i abef, __m128i cdgh)
{
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B); /* [a, b, e, f] */
    __m128i hgdc = _mm_shuffle_epi32(cdgh, 0xB1); /* [g, h, c, d] */
    _mm_storeu_si128((__m128i *)(void *)state, _mm_blend_epi16(feba, hgdc, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)(state + 4), _mm_alignr_epi8(hgdc, feba, 8));
}

static inline ES_TARGET_SHANI __m128i load_words(const uint8_t *p)
{
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), BSWAP_MASK);
}

static inline ES_TARGET_SHANI __m128i round_key(unsigned group)
{
    return _mm_loadu_si128((const __m128i *)(const void *)(es_sha256_k + 4 * group));
}

/*
 * W[4g .. 4g+3] for g >= 4 from the previous sixteen words, held in w_16 (W[4g-16..]),
 * w_12, w_8 and w_4 (W[4g-4..]).
 */
static inline ES_TARGET_SHANI __m128i next_words(__m128i w_16, __m128i w_12, __m128i w_8,
                                                 __m128i w_4)
{
    __m128i t = _mm_sha256msg1_epu32(w_16, w_12);       /* W[t-16] + sigma0(W[t-15]) */
    t = _mm_add_epi32(t, _mm_alignr_epi8(w_4, w_8, 4)); /* + W[t-7] */
    return _mm_sha256msg2_epu32(t, w_4);                /* + sigma1(W[t-2]) */
}

/*
 * One block into each of `lanes` states (abef/cdgh, updated) from the block's first
 * sixteen words w[s][0..3] (clobbered: they become the message schedule).
 * Always inlined with a constant lane count, so each instantiation keeps its
 * states in registers and the compiler interleaves the lanes' instructions: one
 * lane's sha256rnds2 chain is latency bound, and two to four chains in flight
 * keep the SHA unit busy (measured on the development machine, an AMD EPYC:
 * 1 lane ~30, 2 lanes ~48, 4 lanes ~55 million blocks/s on one core).
 */
static inline __attribute__((always_inline)) ES_TARGET_SHANI void
compress_words(unsigned lanes, __m128i abef[], __m128i cdgh[], __m128i w[][4])
{
    __m128i abef0[4], cdgh0[4];
    for (unsigned s = 0; s < lanes; s++) {
        abef0[s] = abef[s];
        cdgh0[s] = cdgh[s];
    }
#pragma GCC unroll 16
    for (unsigned g = 0; g < 16; g++) {
        const __m128i k = round_key(g);
        __m128i wk[4];
#pragma GCC unroll 4
        for (unsigned s = 0; s < lanes; s++) {
            if (g >= 4)
                w[s][g % 4] = next_words(w[s][g % 4], w[s][(g + 1) % 4], w[s][(g + 2) % 4],
                                         w[s][(g + 3) % 4]);
            wk[s] = _mm_add_epi32(w[s][g % 4], k);
        }
        /* Two rounds on W[4g], W[4g+1] (low dwords), then two on W[4g+2], W[4g+3];
         * the new CDGH after two rounds is the old ABEF, so the registers swap. */
#pragma GCC unroll 4
        for (unsigned s = 0; s < lanes; s++)
            cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], wk[s]);
#pragma GCC unroll 4
        for (unsigned s = 0; s < lanes; s++)
            abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32(wk[s], 0x0E));
    }
    for (unsigned s = 0; s < lanes; s++) {
        abef[s] = _mm_add_epi32(abef[s], abef0[s]);
        cdgh[s] = _mm_add_epi32(cdgh[s], cdgh0[s]);
    }
}

/* nblocks consecutive blocks into each of `lanes` independent states (1 to 4). */
static inline __attribute__((always_inline)) ES_TARGET_SHANI void
shani_lanes(unsigned lanes, uint32_t *const state[], const uint8_t *const data[], size_t nblocks)
{
    __m128i abef[4], cdgh[4];
    for (unsigned s = 0; s < lanes; s++)
        load_state(state[s], &abef[s], &cdgh[s]);
    for (size_t b = 0; b < nblocks; b++) {
        __m128i w[4][4];
        for (unsigned s = 0; s < lanes; s++)
            for (unsigned i = 0; i < 4; i++)
                w[s][i] = load_words(data[s] + b * ES_SHA256_BLOCK_LEN + 16 * i);
        compress_words(lanes, abef, cdgh, w);
    }
    for (unsigned s = 0; s < lanes; s++)
        store_state(state[s], abef[s], cdgh[s]);
}

/*
 * out[s] = SHA-256(prefix || data[s][0 .. 64)) for each lane: the shape of every
 * RFC 9162 node (0x01 || two hashes) and of leaves of 64-byte data. Both padded
 * blocks are built in registers: block 1 is the prefix byte and data[0..62]
 * (the first 16 bytes by a one-byte shift, the rest by loads at data + 15, + 31,
 * + 47, all inside the 64 bytes); block 2 is data[63], 0x80, zeros and the
 * length, 65 * 8 = 520 bits (FIPS 180-4 5.1.1). No copies, no padding buffers.
 */
static inline __attribute__((always_inline)) ES_TARGET_SHANI void
shani_hash65(unsigned lanes, uint8_t prefix, const uint8_t *const data[], uint8_t *const out[])
{
    __m128i abef[4], cdgh[4], w[4][4], iv_abef, iv_cdgh;
    load_state(es_sha256_iv, &iv_abef, &iv_cdgh);
    for (unsigned s = 0; s < lanes; s++) {
        abef[s] = iv_abef;
        cdgh[s] = iv_cdgh;
        __m128i head = _mm_loadu_si128((const __m128i *)(const void *)data[s]);
/* Without optimisation GCC's _mm_insert_epi8 is a macro handing the byte,
 * as an int, to a builtin taking a char: a sign conversion in the system
 * header's text, not in this code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
        head = _mm_insert_epi8(_mm_slli_si128(head, 1), prefix, 0);
#pragma GCC diagnostic pop
        w[s][0] = _mm_shuffle_epi8(head, BSWAP_MASK);
        w[s][1] = load_words(data[s] + 15);
        w[s][2] = load_words(data[s] + 31);
        w[s][3] = load_words(data[s] + 47);
    }
    compress_words(lanes, abef, cdgh, w);
    for (unsigned s = 0; s < lanes; s++) {
        w[s][0] = _mm_cvtsi32_si128((int)(((uint32_t)data[s][63] << 24) | 0x00800000u));
        w[s][1] = _mm_setzero_si128();
        w[s][2] = _mm_setzero_si128();
        w[s][3] = _mm_set_epi32(520, 0, 0, 0); /* W[15]: the length in bits */
    }
    compress_words(lanes, abef, cdgh, w);
    for (unsigned s = 0; s < lanes; s++) {
        /* As store_state, then each word big-endian: the digest bytes. */
        __m128i feba = _mm_shuffle_epi32(abef[s], 0x1B);
        __m128i hgdc = _mm_shuffle_epi32(cdgh[s], 0xB1);
        __m128i abcd = _mm_blend_epi16(feba, hgdc, 0xF0);
        __m128i efgh = _mm_alignr_epi8(hgdc, feba, 8);
        _mm_storeu_si128((__m128i *)(void *)out[s], _mm_shuffle_epi8(abcd, BSWAP_MASK));
        _mm_storeu_si128((__m128i *)(void *)(out[s] + 16), _mm_shuffle_epi8(efgh, BSWAP_MASK));
    }
}

static ES_TARGET_SHANI void shani_hash65_lanes(uint8_t prefix, const uint8_t *const data[],
                                               uint8_t *const out[], unsigned lanes)
{
    switch (lanes) {
    case 1:
        shani_hash65(1, prefix, data, out);
        break;
    case 2:
        shani_hash65(2, prefix, data, out);
        break;
    case 3:
        shani_hash65(3, prefix, data, out);
        break;
    default:
        shani_hash65(4, prefix, data, out);
        break;
    }
}

static ES_TARGET_SHANI void shani_blocks(uint32_t state[8], const uint8_t *data, size_t nblocks)
{
    uint32_t *const states[1] = {state};
    const uint8_t *const blocks[1] = {data};
    shani_lanes(1, states, blocks, nblocks);
}

static ES_TARGET_SHANI void shani_blocks_lanes(uint32_t *const state[], const uint8_t *const data[],
                                               unsigned lanes, size_t nblocks)
{
    switch (lanes) {
    case 1:
        shani_lanes(1, state, data, nblocks);
        break;
    case 2:
        shani_lanes(2, state, data, nblocks);
        break;
    case 3:
        shani_lanes(3, state, data, nblocks);
        break;
    default:
        shani_lanes(4, state, data, nblocks);
        break;
    }
}

const es_sha256_impl es_sha256_impl_x86_shani = {shani_blocks, shani_blocks_lanes,
                                                 shani_hash65_lanes};

#else

/* Not an x86-64 build: nothing to compile (ISO C wants at least one declaration). */
typedef int es_sha256_x86_shani_unused;

#endif
