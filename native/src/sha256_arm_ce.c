/*
 * SHA-256 compression with the ARMv8 cryptography extensions (FEAT_SHA256).
 *
 * Compiled for every AArch64 build without -march=...+crypto: the functions opt in
 * with a target attribute and the dispatcher calls them only when getauxval
 * reports HWCAP_SHA2 (Arm ARM, "SHA256H, SHA256H2, SHA256SU0, SHA256SU1").
 *
 * sha256h/sha256h2 run four rounds on the state held as ABCD and EFGH (natural
 * order, A in lane 0): h yields the new ABCD, h2 the new EFGH and needs the ABCD
 * from before the four rounds. sha256su0/sha256su1 compute four words of the
 * message schedule: su0 adds sigma0(W[t-15]) to W[t-16], su1 adds W[t-7] and
 * sigma1(W[t-2]). Up to four messages are interleaved to hide the rounds' latency.
 */
#include "sha256_impl.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#if defined(__clang__)
#define ES_TARGET_ARM_CE __attribute__((target("crypto")))
#else
#define ES_TARGET_ARM_CE __attribute__((target("+crypto")))
#endif

static inline ES_TARGET_ARM_CE uint32x4_t load_words(const uint8_t *p)
{
    return vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p)));
}

/* W[4g .. 4g+3] for g >= 4 from W[4g-16..] (w_16) through W[4g-4..] (w_4). */
static inline ES_TARGET_ARM_CE uint32x4_t next_words(uint32x4_t w_16, uint32x4_t w_12,
                                                     uint32x4_t w_8, uint32x4_t w_4)
{
    return vsha256su1q_u32(vsha256su0q_u32(w_16, w_12), w_8, w_4);
}

/*
 * One block into each of `lanes` states (abcd/efgh, updated) from the block's
 * first sixteen words w[s][0..3] (clobbered). Always inlined with a constant lane
 * count so the lanes' instructions interleave and the crypto unit is not left
 * waiting on one chain's latency.
 */
static inline __attribute__((always_inline)) ES_TARGET_ARM_CE void
compress_words(unsigned lanes, uint32x4_t abcd[], uint32x4_t efgh[], uint32x4_t w[][4])
{
    uint32x4_t abcd0[4], efgh0[4];
    for (unsigned s = 0; s < lanes; s++) {
        abcd0[s] = abcd[s];
        efgh0[s] = efgh[s];
    }
#pragma GCC unroll 16
    for (unsigned g = 0; g < 16; g++) {
        const uint32x4_t k = vld1q_u32(es_sha256_k + 4 * g);
#pragma GCC unroll 4
        for (unsigned s = 0; s < lanes; s++) {
            if (g >= 4)
                w[s][g % 4] = next_words(w[s][g % 4], w[s][(g + 1) % 4], w[s][(g + 2) % 4],
                                         w[s][(g + 3) % 4]);
            uint32x4_t wk = vaddq_u32(w[s][g % 4], k);
            uint32x4_t abcd_before = abcd[s];
            abcd[s] = vsha256hq_u32(abcd[s], efgh[s], wk);
            efgh[s] = vsha256h2q_u32(efgh[s], abcd_before, wk);
        }
    }
    for (unsigned s = 0; s < lanes; s++) {
        abcd[s] = vaddq_u32(abcd[s], abcd0[s]);
        efgh[s] = vaddq_u32(efgh[s], efgh0[s]);
    }
}

/* nblocks consecutive blocks into each of `lanes` independent states (1 to 4). */
static inline __attribute__((always_inline)) ES_TARGET_ARM_CE void
arm_ce_lanes(unsigned lanes, uint32_t *const state[], const uint8_t *const data[], size_t nblocks)
{
    uint32x4_t abcd[4], efgh[4];
    for (unsigned s = 0; s < lanes; s++) {
        abcd[s] = vld1q_u32(state[s]);
        efgh[s] = vld1q_u32(state[s] + 4);
    }
    for (size_t b = 0; b < nblocks; b++) {
        uint32x4_t w[4][4];
        for (unsigned s = 0; s < lanes; s++)
            for (unsigned i = 0; i < 4; i++)
                w[s][i] = load_words(data[s] + b * ES_SHA256_BLOCK_LEN + 16 * i);
        compress_words(lanes, abcd, efgh, w);
    }
    for (unsigned s = 0; s < lanes; s++) {
        vst1q_u32(state[s], abcd[s]);
        vst1q_u32(state[s] + 4, efgh[s]);
    }
}

/*
 * out[s] = SHA-256(prefix || data[s][0 .. 64)), both padded blocks built in
 * registers (see sha256_x86_shani.c, shani_hash65): block 1 is the prefix and
 * data[0..62], block 2 is data[63], 0x80, zeros and the length 520 bits.
 */
static inline __attribute__((always_inline)) ES_TARGET_ARM_CE void
arm_ce_hash65(unsigned lanes, uint8_t prefix, const uint8_t *const data[], uint8_t *const out[])
{
    uint32x4_t abcd[4], efgh[4], w[4][4];
    const uint32x4_t zero = vdupq_n_u32(0);
    for (unsigned s = 0; s < lanes; s++) {
        abcd[s] = vld1q_u32(es_sha256_iv);
        efgh[s] = vld1q_u32(es_sha256_iv + 4);
        uint8x16_t head = vextq_u8(vdupq_n_u8(prefix), vld1q_u8(data[s]), 15);
        w[s][0] = vreinterpretq_u32_u8(vrev32q_u8(head));
        w[s][1] = load_words(data[s] + 15);
        w[s][2] = load_words(data[s] + 31);
        w[s][3] = load_words(data[s] + 47);
    }
    compress_words(lanes, abcd, efgh, w);
    for (unsigned s = 0; s < lanes; s++) {
        w[s][0] = vsetq_lane_u32(((uint32_t)data[s][63] << 24) | 0x00800000u, zero, 0);
        w[s][1] = zero;
        w[s][2] = zero;
        w[s][3] = vsetq_lane_u32(520u, zero, 3); /* W[15]: the length in bits */
    }
    compress_words(lanes, abcd, efgh, w);
    for (unsigned s = 0; s < lanes; s++) {
        vst1q_u8(out[s], vrev32q_u8(vreinterpretq_u8_u32(abcd[s])));
        vst1q_u8(out[s] + 16, vrev32q_u8(vreinterpretq_u8_u32(efgh[s])));
    }
}

static ES_TARGET_ARM_CE void arm_ce_hash65_lanes(uint8_t prefix, const uint8_t *const data[],
                                                 uint8_t *const out[], unsigned lanes)
{
    switch (lanes) {
    case 1:
        arm_ce_hash65(1, prefix, data, out);
        break;
    case 2:
        arm_ce_hash65(2, prefix, data, out);
        break;
    case 3:
        arm_ce_hash65(3, prefix, data, out);
        break;
    default:
        arm_ce_hash65(4, prefix, data, out);
        break;
    }
}

static ES_TARGET_ARM_CE void arm_ce_blocks(uint32_t state[8], const uint8_t *data, size_t nblocks)
{
    uint32_t *const states[1] = {state};
    const uint8_t *const blocks[1] = {data};
    arm_ce_lanes(1, states, blocks, nblocks);
}

static ES_TARGET_ARM_CE void arm_ce_blocks_lanes(uint32_t *const state[],
                                                 const uint8_t *const data[], unsigned lanes,
                                                 size_t nblocks)
{
    switch (lanes) {
    case 1:
        arm_ce_lanes(1, state, data, nblocks);
        break;
    case 2:
        arm_ce_lanes(2, state, data, nblocks);
        break;
    case 3:
        arm_ce_lanes(3, state, data, nblocks);
        break;
    default:
        arm_ce_lanes(4, state, data, nblocks);
        break;
    }
}

const es_sha256_impl es_sha256_impl_arm_ce = {arm_ce_blocks, arm_ce_blocks_lanes,
                                              arm_ce_hash65_lanes};

#else

/* Not an AArch64 build: nothing to compile (ISO C wants at least one declaration). */
typedef int es_sha256_arm_ce_unused;

#endif
